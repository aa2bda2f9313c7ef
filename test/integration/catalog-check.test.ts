import { EC2Client } from '@aws-sdk/client-ec2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCatalogAgainstEc2 } from '../../lib/aws/ec2-catalog-check.ts';
import { findInstanceType, INSTANCE_CATALOG } from '../../lib/core/model/catalog.ts';
import type { InstanceType } from '../../lib/core/model/instance-type.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';

function catalogEntry(name: string): InstanceType {
  const entry = findInstanceType(name);
  if (!entry) throw new Error(`test setup: ${name} is not in the catalog`);
  return entry;
}

describe('instance catalog against the EC2 API', () => {
  const ec2 = new EC2Client(testAwsConfig());
  beforeAll(resetEmulator);
  afterAll(() => ec2.destroy());

  it('finds no mismatch between the real catalog and DescribeInstanceTypes', async () => {
    const mismatches = await checkCatalogAgainstEc2(ec2, INSTANCE_CATALOG);
    expect(mismatches.map((m) => m.message)).toEqual([]);
  });

  it('reports a wrong vCPU count with the field named', async () => {
    const wrong = { ...catalogEntry('c7i.xlarge'), vcpu: 8 };
    const mismatches = await checkCatalogAgainstEc2(ec2, [wrong]);
    expect(mismatches).toEqual([
      expect.objectContaining({ type: 'c7i.xlarge', field: 'vcpu', expected: 8, actual: 4 }),
    ]);
    expect(mismatches[0]?.message).toContain('c7i.xlarge vcpu');
  });

  it('reports wrong memory, GPU count, GPU model and GPU memory on one entry', async () => {
    const wrong = {
      ...catalogEntry('g5.xlarge'),
      memoryMiB: 8192,
      gpus: 2,
      gpuModel: 'A100',
      gpuMemoryMiB: 40960,
    };
    const mismatches = await checkCatalogAgainstEc2(ec2, [wrong]);
    expect(mismatches.map((m) => [m.field, m.expected, m.actual])).toEqual([
      ['memoryMiB', 8192, 16384],
      ['gpus', 2, 1],
      ['gpuModel', 'A100', 'A10G'],
      ['gpuMemoryMiB', 40960, 22888],
    ]);
  });

  it('reports a GPU on a type that has none, with model and manufacturer', async () => {
    const wrong = { ...catalogEntry('m7i.large'), gpus: 1, gpuModel: 'T4', gpuMemoryMiB: 16384 };
    const fields = (await checkCatalogAgainstEc2(ec2, [wrong])).map((m) => m.field);
    expect(fields).toEqual(['gpus', 'gpuModel', 'gpuManufacturer', 'gpuMemoryMiB']);
  });

  it('reports a wrong Inferentia chip count', async () => {
    const wrong = { ...catalogEntry('inf2.24xlarge'), inferentiaChips: 4 };
    const mismatches = await checkCatalogAgainstEc2(ec2, [wrong]);
    expect(mismatches).toEqual([
      expect.objectContaining({ field: 'inferentiaChips', expected: 4, actual: 6 }),
    ]);
  });

  it('reports a type EC2 does not list and still checks the others in the same batch', async () => {
    const unknown = { ...catalogEntry('p3dn.24xlarge'), name: 'p3.2xlarge' };
    const wrong = { ...catalogEntry('g6.xlarge'), vcpu: 2 };
    const mismatches = await checkCatalogAgainstEc2(ec2, [catalogEntry('r7i.large'), unknown, wrong]);
    expect(mismatches.map((m) => [m.type, m.field])).toEqual([
      ['p3.2xlarge', 'type'],
      ['g6.xlarge', 'vcpu'],
    ]);
  });

  it('reports a type that exists but is not offered in the region the prices are for', async () => {
    const elsewhere = { ...catalogEntry('c7i.large'), name: 'hpc7a.12xlarge' };
    const mismatches = await checkCatalogAgainstEc2(ec2, [elsewhere]);
    expect(mismatches[0]).toMatchObject({ type: 'hpc7a.12xlarge', field: 'offered', expected: 'us-east-1' });
    expect(mismatches.map((m) => m.field)).not.toContain('type');
  });
});
