import { describe, expect, it } from 'vitest';
import { fleetText, type InstanceRow, summarise } from '../../../lib/cli/commands/fleet.ts';

const row = (over: Partial<InstanceRow> & Pick<InstanceRow, 'id' | 'state'>): InstanceRow => ({
  type: 'g6.xlarge',
  market: 'spot',
  launchedAt: 0,
  activeTasks: 0,
  utilisation: { vcpu: 0, memory: 0, gpus: 0, max: 0 },
  costPerHour: 0.32,
  ...over,
});

describe('tetrafleet fleet', () => {
  it('says why an instance drains when EC2 asked for it', () => {
    const text = fleetText(
      summarise([
        row({ id: 'i-cordoned', state: 'DRAINING', drainedFor: 'rebalance', activeTasks: 1 }),
        row({ id: 'i-warned', state: 'DRAINING', drainedFor: 'spot warning' }),
        row({ id: 'i-plain', state: 'RUNNING' }),
      ]),
      60_000,
    );
    const line = (id: string) => text.split('\n').find((l) => l.startsWith(id)) ?? '';
    expect(line('i-cordoned')).toContain('DRAINING (rebalance)');
    expect(line('i-warned')).toContain('DRAINING (spot warning)');
    expect(line('i-plain')).toMatch(/RUNNING\s/);
    expect(line('i-plain')).not.toContain('(');
  });
});
