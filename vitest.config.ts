import { defineConfig } from 'vitest/config';

// CDK asset bundling spawns esbuild and fails under worker threads, so every project runs in forks.
export default defineConfig({
  test: {
    pool: 'forks',
    // The SDK warns on every process that Node 20 support ends in 2027; the warning is known and noisy.
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts', 'test/infra/**/*.test.ts'],
          testTimeout: 60_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          globalSetup: ['test/setup/emulator.ts'],
          // Suites share one emulator and reset it in beforeAll, so they must not overlap.
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
