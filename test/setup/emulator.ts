import type { TestProject } from 'vitest/node';
import { startEmulator } from '../../lib/local/emulator.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    awsEndpoint: string;
    emulatorOwned: boolean;
  }
}

/** Starts one emulator for the integration project (or uses AWS_ENDPOINT_URL) and stops it at the end. */
export default async function setup(project: TestProject) {
  const emulator = await startEmulator();
  project.provide('awsEndpoint', emulator.endpoint);
  project.provide('emulatorOwned', emulator.owned);
  return async () => {
    await emulator.stop();
  };
}
