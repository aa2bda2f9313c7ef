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

  it('says when each instance was last heard from, and how late that report arrived', () => {
    const text = fleetText(
      summarise([
        row({ id: 'i-prompt', state: 'RUNNING', lastHeartbeatAt: 50_000, heartbeatAppliedAt: 50_200 }),
        row({ id: 'i-late', state: 'RUNNING', lastHeartbeatAt: 20_000, heartbeatAppliedAt: 44_600 }),
        row({ id: 'i-booting', state: 'PENDING' }),
      ]),
      60_000,
    );
    const lines = text.split('\n');
    expect(lines[0]).toMatch(/AGE\s+HEARD\s+TASKS/);
    const line = (id: string) => lines.find((l) => l.startsWith(id)) ?? '';
    expect(line('i-prompt')).toMatch(/10s ago\s/);
    expect(line('i-prompt')).not.toContain('late');
    expect(line('i-late')).toContain('40s ago (25s late)');
    expect(line('i-booting')).toMatch(/PENDING\s+1m ago\s+-\s/);
  });
});
