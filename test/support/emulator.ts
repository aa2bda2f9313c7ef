import { inject } from 'vitest';
import { type AwsClientConfig, awsClientConfig } from '../../lib/aws/client-config.ts';
import { resetMoto } from '../../lib/local/emulator.ts';

/** The endpoint of the emulator the global setup started (or AWS_ENDPOINT_URL). */
export function emulatorEndpoint(): string {
  return inject('awsEndpoint');
}

/** SDK client config for the test emulator. */
export function testAwsConfig(): AwsClientConfig {
  return awsClientConfig({ ...process.env, AWS_REGION: 'us-east-1' }, emulatorEndpoint());
}

/** Wipe the emulator between suites; a no-op against an external endpoint we do not own. */
export async function resetEmulator(): Promise<void> {
  if (inject('emulatorOwned')) await resetMoto(emulatorEndpoint());
}

/** Environment for child processes (CDK CLI, agents) that must talk to the emulator. */
export function emulatorEnv(): NodeJS.ProcessEnv {
  const endpoint = emulatorEndpoint();
  return {
    ...process.env,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_REGION: 'us-east-1',
    AWS_DEFAULT_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: process.env.AWS_ACCESS_KEY_ID ?? 'test',
    AWS_SECRET_ACCESS_KEY: process.env.AWS_SECRET_ACCESS_KEY ?? 'test',
    CDK_DISABLE_CLI_TELEMETRY: 'true',
  };
}
