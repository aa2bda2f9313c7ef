import { createAwsAdapters } from '../../lib/aws/adapters.ts';
import { LocalCloud } from '../../lib/local/local-cloud.ts';
import { modelTempDir } from '../../lib/onnx/index.ts';
import type { TetrafleetClient } from '../../lib/sdk/index.ts';

/** A local cloud for pipeline tests, with an SDK client, the AWS adapters and a folder for models. */
export interface PipelineCloud {
  readonly cloud: LocalCloud;
  readonly client: TetrafleetClient;
  readonly adapters: ReturnType<typeof createAwsAdapters>;
  /** Where the test writes its ONNX models. */
  readonly modelDir: string;
  stop(): Promise<void>;
}

/**
 * Starts the stack on the emulator with local agents on c7i.large and c7i.xlarge, a 30 s slot, a scale
 * tick every 3 s and a 45 s heartbeat timeout: fast enough to profile, plan and serve within a test.
 */
export async function startPipelineCloud(stackName: string): Promise<PipelineCloud> {
  const cloud = await LocalCloud.start({
    stackName,
    instanceTypes: ['c7i.large', 'c7i.xlarge'],
    maxFleetSize: 8,
    budgetPerHour: 20,
    slotSeconds: 30,
    scaleEveryMs: 3000,
    cycle: { heartbeatTimeoutSeconds: 45 },
  });
  const client = cloud.client();
  const adapters = createAwsAdapters(cloud.config.adapters);
  const models = await modelTempDir(`${stackName}-models-`);
  return {
    cloud,
    client,
    adapters,
    modelDir: models.dir,
    async stop() {
      client.close();
      adapters.destroy();
      await cloud.stop();
      await models.cleanup();
    },
  };
}
