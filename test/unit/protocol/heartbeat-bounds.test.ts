import { describe, expect, it } from 'vitest';
import { MAX_BOOT_ID_LENGTH } from '../../../lib/core/model/instance.ts';
import { toFieldIssues } from '../../../lib/core/model/validate.ts';
import { HeartbeatSchema } from '../../../lib/core/protocol/heartbeat.ts';

const heartbeat = {
  version: 1,
  kind: 'Heartbeat',
  instanceId: 'i-0abc123def4567890',
  instanceType: 'c7i.large',
  state: 'RUNNING',
  capacity: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
  free: { vcpu: 2, memoryMiB: 4096, gpus: 0 },
  freeGpuIndices: [],
  gpus: [],
  running: [],
  agentVersion: '0.1.0',
  protocolVersion: 1,
  bootId: '5d1c7e0a-0000-4000-8000-000000000000',
  seq: 12,
  at: 1_764_081_000_000,
};

function issuesOf(body: Record<string, unknown>): { path: string; message: string }[] {
  const r = HeartbeatSchema.safeParse(body);
  return r.success ? [] : toFieldIssues(r.error);
}

describe('Heartbeat bounds', () => {
  it('accepts the longest boot id an instance record stores and the largest safe seq', () => {
    expect(
      issuesOf({ ...heartbeat, bootId: 'b'.repeat(MAX_BOOT_ID_LENGTH), seq: Number.MAX_SAFE_INTEGER }),
    ).toEqual([]);
  });

  it.each([
    [
      'the boot id is longer than an instance record stores',
      { bootId: 'b'.repeat(MAX_BOOT_ID_LENGTH + 1) },
      'bootId',
    ],
    ['the boot id is empty', { bootId: '' }, 'bootId'],
    ['the seq is past what a number holds exactly', { seq: 2 ** 53 }, 'seq'],
    ['the seq is negative', { seq: -1 }, 'seq'],
  ])('fails when %s, naming the field', (_name, patch, path) => {
    expect(issuesOf({ ...heartbeat, ...patch }).map((i) => i.path)).toEqual([path]);
  });
});
