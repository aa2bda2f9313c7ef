/**
 * Latency-SLO serving work: inference replicas and pipeline routers. A replica job (task kind `model` or
 * `router`) has no end: it serves until the control plane cancels it. Its STRL must therefore
 *
 *   (a) want to start now:          one leaf per start slot s, worth less the later it starts;
 *   (b) hold its capacity to the end of the window:  duration = slots - s, whatever `durationSeconds`
 *       says (the alternative's duration is ignored: serving does not finish);
 *   (c) beat batch work when capacity is short;
 *   (d) pay for a new instance when none has room, or wait (a later start) when nothing fits now.
 *
 * Value. A leaf starting at s is worth `v * gang * (slots - s)`: `v` per task per slot held. So
 * starting one slot later costs `v` per task, and `v` is set above whatever a slot of the capacity could
 * earn otherwise:
 *
 *   v = max(1, priority) * (MARGIN * (batch + cost) + FLOOR)
 *   batch = max over pending batch jobs j and their alternatives a of  V_j * (copies(D_a in D_r) + 1)
 *   cost  = p_max * slotHours * (1 + bootSlots)
 *
 * - V_j is the most job j can earn this cycle (deadline: priority x utility value; fifo: its aged
 *   value now). A replica of demand D_r freed for one slot makes room for at most `copies + 1` tasks of
 *   demand D_a (the `+ 1` covers a fraction of a task already free there), and blocking even one task of
 *   a gang or one slot of a run can cost that job its whole value, hence V_j per task. In every slot the
 *   replica holds, it outbids whatever batch tasks that capacity could hold instead: a replica now beats
 *   "batch now, replica later", and a replica at all beats "batch instead".
 * - p_max is the dearest instance that could host the replica (launchable types and markets that fit
 *   its requirement, capped by the budget, as nothing dearer can be bought). A new instance is paid from
 *   its launch: `bootSlots` before the replica starts, then every slot the replica holds. With at least
 *   one slot held, v * (slots - s) >= p_max * slotHours * (slots - s + bootSlots), so a replica always
 *   pays for the instance it needs; the solver, minimising cost, still buys the cheapest that fits.
 * - MARGIN keeps both margins strict (the deadline policy's earliness term, rounding of LP values);
 *   FLOOR keeps a replica worth placing on spare capacity when nothing competes and nothing is bought.
 *
 * Both terms are derived from this cycle's PlacementInput (its pending jobs, launchable types and
 * budget), so the numbers stay on the scale of the batch values in play rather than a fixed huge
 * constant, which would widen the MILP's coefficient range. The cost: the objective is dominated by
 * serving value, and a solve stopped at a relative gap may leave a few batch jobs for a later cycle.
 * FIFO values grow without bound as jobs wait; they are read at `now`, so the dominance holds per cycle.
 */
import { pricePerHour } from '../model/instance-type.ts';
import type { Requirement } from '../model/job.ts';
import { copiesThatFit, type Resources } from '../model/resources.ts';
import { compatible, demandOf, slotsFor, typeCapacity } from '../placement/fleet.ts';
import type { PendingJob, PlacementInput } from '../placement/types.ts';
import { type ChooseExpr, MAX, nCk } from '../strl/expr.ts';
import { NO_FITTING_TYPE } from './alternatives.ts';
import { FIFO_AGING_SECONDS, FIFO_BASE_VALUE } from './fifo.ts';
import type { Policy, PolicyContext, PolicyResult } from './types.ts';

export const SLO_SERVICE = 'slo-service';

/** How far above the opportunity cost a replica's value per slot is set. */
export const SERVING_MARGIN = 2;
/** Value per task per slot on top of the margin: what a replica is worth when nothing competes for it. */
export const SERVING_FLOOR = 1;

/** Task kinds that run until cancelled. */
export const SERVING_TASK_KINDS: ReadonlySet<string> = new Set(['model', 'router']);

/** What a batch job could earn, and the demands of its alternatives: what serving must outbid. */
export interface BatchClaim {
  readonly value: number;
  readonly demands: readonly Resources[];
}

/** The hardware a replica could be launched on: price (capped by the budget) and boot time. */
export interface LaunchOption {
  readonly requirementFits: (r: Requirement) => boolean;
  readonly pricePerHour: number;
  readonly bootSlots: number;
}

export interface SloServiceBasis {
  readonly slotSeconds: number;
  readonly batch: readonly BatchClaim[];
  readonly launch: readonly LaunchOption[];
}

/** The most a pending batch job can earn now under its policy; undefined for work that is not batch. */
export function batchValueCeiling(job: PendingJob, now: number): number | undefined {
  const { spec } = job;
  if (spec.policy === 'deadline') return spec.utility ? spec.priority * spec.utility.value : undefined;
  if (spec.policy === 'fifo') {
    const waited = Math.max(0, (now - job.submittedAt) / 1000);
    return (spec.utility?.value ?? FIFO_BASE_VALUE) * spec.priority * (1 + waited / FIFO_AGING_SECONDS);
  }
  return undefined;
}

/** What the serving value is derived from, read off one cycle's placement input. */
export function sloServiceBasis(input: PlacementInput): SloServiceBasis {
  const batch = input.jobs.flatMap((job) => {
    const value = batchValueCeiling(job, input.now);
    if (value === undefined) return [];
    return [{ value, demands: job.spec.alternatives.map((a) => demandOf(a.requirement)) }];
  });
  const launch = input.launchable.flatMap((l) =>
    [...new Set(l.markets)].map((market) => ({
      requirementFits: (r: Requirement) => compatible(r, l.type.name, l.type, market, typeCapacity(l.type)),
      pricePerHour: Math.min(pricePerHour(l.type, market), input.limits.budgetPerHour),
      bootSlots: slotsFor(l.bootSeconds ?? l.type.bootSeconds, input.slotSeconds),
    })),
  );
  return { slotSeconds: input.slotSeconds, batch, launch };
}

/** v of the file header: value of one task of `r` per slot held, before priority. */
export function servingValuePerSlot(r: Requirement, basis: SloServiceBasis): number {
  const replica = demandOf(r);
  let batch = 0;
  for (const claim of basis.batch)
    for (const d of claim.demands) batch = Math.max(batch, claim.value * (copiesThatFit(d, replica) + 1));
  let cost = 0;
  const slotHours = basis.slotSeconds / 3600;
  for (const l of basis.launch)
    if (l.requirementFits(r)) cost = Math.max(cost, l.pricePerHour * slotHours * (1 + l.bootSlots));
  return SERVING_MARGIN * (batch + cost) + SERVING_FLOOR;
}

function leavesFor(
  job: PendingJob,
  ctx: PolicyContext,
  perSlotValue: (r: Requirement) => number,
): ChooseExpr[] {
  const out: ChooseExpr[] = [];
  job.spec.alternatives.forEach((alt, a) => {
    const pools = ctx.poolsFor(alt.requirement);
    if (pools.length === 0) return;
    const perSlot = perSlotValue(alt.requirement) * Math.max(1, job.spec.priority);
    const demand = demandOf(alt.requirement);
    for (let s = 0; s < ctx.slots; s++) {
      const held = ctx.slots - s;
      const value = perSlot * job.spec.gang * held;
      out.push(nCk(pools, job.spec.gang, s, held, value, demand, { jobId: job.id, alternative: a }));
    }
  });
  return out;
}

/**
 * The SLO-service policy for one cycle. Without a basis (no batch work known, nothing to buy) a replica
 * is worth the floor value, enough for spare existing capacity only.
 */
export function sloServicePolicy(basis?: SloServiceBasis): Policy {
  // Replicas of one stage share a requirement; their value is worked out once.
  const values = new Map<string, number>();
  const perSlotValue = (r: Requirement, ctx: PolicyContext) => {
    const key = JSON.stringify(r);
    let v = values.get(key);
    if (v === undefined) {
      v = servingValuePerSlot(r, basis ?? { slotSeconds: ctx.slotSeconds, batch: [], launch: [] });
      values.set(key, v);
    }
    return v;
  };
  return {
    name: SLO_SERVICE,
    toStrl(job, ctx): PolicyResult {
      const kind = job.spec.task.kind;
      if (!SERVING_TASK_KINDS.has(kind))
        return {
          ok: false,
          reason: `the slo-service policy serves model and router tasks until cancelled, got task kind ${kind}`,
        };
      const leaves = leavesFor(job, ctx, (r) => perSlotValue(r, ctx));
      if (leaves.length === 0) return { ok: false, reason: NO_FITTING_TYPE };
      return { ok: true, expr: leaves.length === 1 ? leaves[0]! : MAX(...leaves) };
    },
  };
}

/** The policy as the schedule cycle uses it, with its value derived from the cycle's input. */
export function sloServicePolicyFor(input: PlacementInput): Policy {
  return sloServicePolicy(sloServiceBasis(input));
}
