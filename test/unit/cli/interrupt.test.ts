import { describe, expect, it } from 'vitest';
import { decodeIngestMessage } from '../../../lambdas/shared/ingest-message.ts';
import { interruptCommand } from '../../../lib/cli/commands/interrupt.ts';
import { CliEnvironmentError, CliUsageError } from '../../../lib/cli/errors.ts';
import type { CliSource } from '../../../lib/cli/source.ts';
import { NotFoundError } from '../../../lib/core/errors.ts';
import type { Instance } from '../../../lib/core/model/instance.ts';
import { storedInstance } from '../../fakes/fake-stores.ts';

const NOW = 1_764_000_000_000;
const EVENTS = 'https://sqs.local/000000000000/events';

/** Just what the command touches: the fleet store and the events queue. */
function source(instances: Instance[], eventsQueueUrl: string | null = EVENTS) {
  const sent: { url: string; body: string }[] = [];
  const fake = {
    stackName: 'tetrafleet-local',
    eventsQueueUrl: eventsQueueUrl ?? undefined,
    adapters: {
      fleetStore: { getInstance: async (id: string) => instances.find((i) => i.id === id) },
      queue: (url: string) => ({ send: async (body: string) => void sent.push({ url, body }) }),
    },
  };
  return { source: fake as unknown as CliSource, sent };
}

const spot = (id: string, over: Partial<Instance> = {}) =>
  storedInstance('g6.xlarge', { id, now: NOW, market: 'spot', ...over });

describe('tetrafleet interrupt', () => {
  it('puts the warning EC2 would send on the events queue, in the shape ingest accepts', async () => {
    const { source: s, sent } = source([spot('i-0aaa00000000000a1')]);
    const out = await interruptCommand(s, 'i-0aaa00000000000a1', { now: new Date(NOW) });
    expect(out.data.event).toBe('EC2 Spot Instance Interruption Warning');
    expect(out.text).toContain('tetrafleet fleet');
    expect(sent.map((m) => m.url)).toEqual([EVENTS]);
    const decoded = decodeIngestMessage(sent[0]?.body ?? '');
    expect(decoded.ok && decoded.value.source === 'ec2' && decoded.value.event).toMatchObject({
      'detail-type': 'EC2 Spot Instance Interruption Warning',
      id: out.data.eventId,
      detail: { 'instance-id': 'i-0aaa00000000000a1', 'instance-action': 'terminate' },
    });
  });

  it('sends a rebalance recommendation with --rebalance', async () => {
    const { source: s, sent } = source([spot('i-0aaa00000000000a1')]);
    await interruptCommand(s, 'i-0aaa00000000000a1', { rebalance: true });
    const decoded = decodeIngestMessage(sent[0]?.body ?? '');
    expect(decoded.ok && decoded.value.source === 'ec2' && decoded.value.event['detail-type']).toBe(
      'EC2 Instance Rebalance Recommendation',
    );
  });

  it('refuses, sending nothing, what EC2 would never send or what would change nothing', async () => {
    const { source: s, sent } = source([
      spot('i-0bbb00000000000b1', { market: 'on-demand' }),
      spot('i-0bbb00000000000b2', { state: 'TERMINATING' }),
      spot('i-0bbb00000000000b3', { state: 'DRAINING', interruptionWarnedAt: NOW }),
      spot('i-0bbb00000000000b4', { state: 'DRAINING', rebalanceRecommendedAt: NOW }),
    ]);
    const refused = async (id: string, rebalance = false) =>
      interruptCommand(s, id, { rebalance }).then(
        () => 'sent',
        (e: Error) => `${e.constructor.name}: ${e.message}`,
      );
    expect(await refused('web-1')).toMatch(/^CliUsageError: instance id must look like i-/);
    expect(await refused('i-0ccc00000000000c1')).toBe(
      `${NotFoundError.name}: instance i-0ccc00000000000c1 not found`,
    );
    expect(await refused('i-0bbb00000000000b1')).toMatch(/on-demand instance/);
    expect(await refused('i-0bbb00000000000b2')).toMatch(/is terminating/);
    expect(await refused('i-0bbb00000000000b3')).toMatch(/already warned/);
    expect(await refused('i-0bbb00000000000b4', true)).toMatch(/already draining/);
    expect(sent).toEqual([]);
    // A cordoned instance can still be warned: that is what a warning after a recommendation looks like.
    expect(await refused('i-0bbb00000000000b4')).toBe('sent');
  });

  it('says what to do when the stack publishes no events queue', async () => {
    const { source: s } = source([spot('i-0aaa00000000000a1')], null);
    await expect(interruptCommand(s, 'i-0aaa00000000000a1')).rejects.toBeInstanceOf(CliEnvironmentError);
    await expect(interruptCommand(s, 'nope')).rejects.toBeInstanceOf(CliUsageError);
  });
});
