/**
 * Checks the instance catalog's hardware against EC2's DescribeInstanceTypes and prints every mismatch.
 * Exits 0 when they agree, 1 on any mismatch, 2 when the check itself could not run.
 *
 *   npm run catalog:check            # the emulator: AWS_ENDPOINT_URL, or a moto_server started here
 *   npm run catalog:check -- --aws   # the real EC2 API with the default credential chain
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { awsClientConfig } from '../lib/aws/client-config.ts';
import { checkCatalogAgainstEc2 } from '../lib/aws/ec2-catalog-check.ts';
import { CATALOG_VERSION, INSTANCE_CATALOG } from '../lib/core/model/catalog.ts';
import { type Emulator, startEmulator } from '../lib/local/emulator.ts';

async function main(): Promise<number> {
  const real = process.argv.includes('--aws');
  const emulator: Emulator | undefined = real ? undefined : await startEmulator();
  const ec2 = new EC2Client(awsClientConfig({ AWS_REGION: 'us-east-1', ...process.env }, emulator?.endpoint));
  try {
    const mismatches = await checkCatalogAgainstEc2(ec2, INSTANCE_CATALOG);
    const where = emulator ? `emulator at ${emulator.endpoint}` : 'ec2';
    for (const m of mismatches) console.log(m.message);
    console.log(
      `catalog ${CATALOG_VERSION}: ${INSTANCE_CATALOG.length} types checked against ${where}, ${mismatches.length} mismatches`,
    );
    return mismatches.length === 0 ? 0 : 1;
  } finally {
    ec2.destroy();
    await emulator?.stop();
  }
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(`catalog check could not run: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 2;
  },
);
