import type { Instance, InstanceState } from '../../core/model/instance.ts';
import { INSTANCE_STATES } from '../../core/model/instance.ts';
import { ago, bar, formatDollars, formatPercent, formatTable } from '../format.ts';
import { pricePerHour, type Utilisation, utilisationOf } from '../snapshot.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';

export interface InstanceRow {
  readonly id: string;
  readonly type: string;
  readonly market: string;
  readonly state: InstanceState;
  /** Why EC2 had it drain: a spot interruption warning, or a rebalance recommendation (cordoned). */
  readonly drainedFor?: 'spot warning' | 'rebalance';
  readonly launchedAt: number;
  readonly lastHeartbeatAt?: number;
  /** When the control plane applied that heartbeat: after lastHeartbeatAt by how late reports arrive. */
  readonly heartbeatAppliedAt?: number;
  readonly activeTasks: number;
  readonly utilisation: Utilisation;
  readonly costPerHour: number;
}

export interface FleetSummary {
  readonly instances: InstanceRow[];
  readonly byType: { type: string; market: string; count: number; costPerHour: number }[];
  readonly totals: { readonly count: number; readonly costPerHour: number };
}

export interface FleetOptions {
  /** Include TERMINATED instances too. @default false */
  readonly all?: boolean;
  readonly now?: number;
}

/** The fleet as the scheduler records it: instances by type, market and state, with use and price. */
export async function fleetCommand(
  source: CliSource,
  opts: FleetOptions = {},
): Promise<CommandOutput<FleetSummary>> {
  const states = opts.all ? INSTANCE_STATES : INSTANCE_STATES.filter((s) => s !== 'TERMINATED');
  const [instances, tasks] = await Promise.all([
    source.adapters.fleetStore.listInstances(states),
    source.adapters.fleetStore.activeTasks(),
  ]);
  const rows = instances
    .map(
      (i): InstanceRow => ({
        id: i.id,
        type: i.type,
        market: i.market,
        state: i.state,
        ...drainedFor(i),
        launchedAt: i.launchedAt,
        lastHeartbeatAt: i.lastHeartbeatAt,
        heartbeatAppliedAt: i.heartbeatAppliedAt,
        activeTasks: tasks.filter((t) => t.instanceId === i.id).length,
        utilisation: utilisationOf(i, tasks),
        costPerHour: i.state === 'TERMINATED' ? 0 : pricePerHour(i),
      }),
    )
    .sort((a, b) => a.type.localeCompare(b.type) || a.launchedAt - b.launchedAt);
  const summary = summarise(rows);
  return { data: summary, text: fleetText(summary, opts.now ?? Date.now()) };
}

function drainedFor(i: Instance): Pick<InstanceRow, 'drainedFor'> {
  if (i.interruptionWarnedAt !== undefined) return { drainedFor: 'spot warning' };
  if (i.rebalanceRecommendedAt !== undefined) return { drainedFor: 'rebalance' };
  return {};
}

export function summarise(rows: readonly InstanceRow[]): FleetSummary {
  const groups = new Map<string, { type: string; market: string; count: number; costPerHour: number }>();
  for (const r of rows) {
    if (r.state === 'TERMINATED') continue;
    const key = `${r.type}|${r.market}`;
    const g = groups.get(key) ?? { type: r.type, market: r.market, count: 0, costPerHour: 0 };
    g.count += 1;
    g.costPerHour += r.costPerHour;
    groups.set(key, g);
  }
  const byType = [...groups.values()].sort(
    (a, b) => a.type.localeCompare(b.type) || a.market.localeCompare(b.market),
  );
  const live = rows.filter((r) => r.state !== 'TERMINATED');
  return {
    instances: [...rows],
    byType,
    totals: { count: live.length, costPerHour: round(live.reduce((s, r) => s + r.costPerHour, 0)) },
  };
}

function round(x: number): number {
  return Math.round(x * 1e5) / 1e5;
}

/** When its last heartbeat was sent, and how late it reached the control plane when that was a second or more. */
function heard(r: InstanceRow, now: number): string {
  if (r.lastHeartbeatAt === undefined) return '-';
  const late = r.heartbeatAppliedAt === undefined ? 0 : r.heartbeatAppliedAt - r.lastHeartbeatAt;
  return late >= 1000
    ? `${ago(r.lastHeartbeatAt, now)} (${Math.round(late / 1000)}s late)`
    : ago(r.lastHeartbeatAt, now);
}

export function fleetText(s: FleetSummary, now: number): string {
  if (s.instances.length === 0) return 'no instances';
  const table = formatTable<InstanceRow>(
    [
      { header: 'ID', value: (r) => r.id },
      { header: 'TYPE', value: (r) => r.type },
      { header: 'MARKET', value: (r) => r.market },
      { header: 'STATE', value: (r) => (r.drainedFor ? `${r.state} (${r.drainedFor})` : r.state) },
      { header: 'AGE', value: (r) => ago(r.launchedAt, now) },
      { header: 'HEARD', value: (r) => heard(r, now) },
      { header: 'TASKS', value: (r) => String(r.activeTasks), right: true },
      {
        header: 'UTIL',
        value: (r) => `${bar(r.utilisation.max, 10)} ${formatPercent(r.utilisation.max).padStart(4)}`,
      },
      { header: '$/H', value: (r) => formatDollars(r.costPerHour), right: true },
    ],
    s.instances,
  );
  const types = s.byType.map((g) => `${g.count} x ${g.type} (${g.market}) ${formatDollars(g.costPerHour)}/h`);
  return [
    table,
    '',
    `total: ${s.totals.count} live ${s.totals.count === 1 ? 'instance' : 'instances'}, ${formatDollars(s.totals.costPerHour)}/h`,
    ...types.map((t) => `  ${t}`),
  ].join('\n');
}
