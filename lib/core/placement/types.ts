/**
 * The public contract of the placement engine: what a schedule cycle hands to `planPlacement`, and the
 * plan it gets back. Times are epoch milliseconds; the slot grid starts at `now` (slot 0 = [now, now+Δ)).
 */
import { z } from 'zod';
import type { InstanceType, Market } from '../model/instance-type.ts';
import { InstanceTypeSchema, MarketSchema } from '../model/instance-type.ts';
import type { JobSpec } from '../model/job.ts';
import { JobSpecSchema } from '../model/job.ts';
import type { Placement, PlacementTarget } from '../model/placement.ts';
import type { Resources } from '../model/resources.ts';
import { ResourcesSchema } from '../model/resources.ts';

/** An instance of the fleet as the planner sees it. */
export interface ExistingInstance {
  readonly id: string;
  /** Instance type name, e.g. `g5.xlarge`. */
  readonly type: string;
  readonly market: Market;
  /** $/h this instance costs. */
  readonly pricePerHour: number;
  readonly capacity: Resources;
  /** GPU model, e.g. `A10G`, for types the planner has no catalog entry for. */
  readonly gpuModel?: string;
  /**
   * Free resources in each slot of the window given the tasks already running there (length = `slots`).
   * Running tasks stay put: they show up only as this reduced capacity.
   */
  readonly free: readonly Resources[];
  /** First slot in which it can take work: 0 when ready, later while it is still booting. */
  readonly availableFromSlot: number;
  /** Since when nothing has run here; absent while busy. Drives idle termination. */
  readonly idleSince?: number;
}

/** An instance type the planner may launch. */
export interface LaunchableType {
  readonly type: InstanceType;
  /** Markets it may be bought in; a job may use spot only when its requirement says `spot: true`. */
  readonly markets: readonly Market[];
  /** Overrides `type.bootSeconds` (e.g. a measured boot latency). */
  readonly bootSeconds?: number;
}

export interface PendingJob {
  readonly id: string;
  readonly spec: JobSpec;
  readonly submittedAt: number;
  readonly attempts: number;
}

export interface PlacementLimits {
  /** Cap on instances alive (running, booting or new) in any slot. */
  readonly maxInstances: number;
  /** Cap on the fleet's $/h in any slot, existing instances included. */
  readonly budgetPerHour: number;
  /** An instance idle at least this long, with nothing planned for it in the window, is terminated. */
  readonly idleTimeoutSeconds: number;
}

export interface PlacementInput {
  readonly now: number;
  readonly slotSeconds: number;
  readonly slots: number;
  readonly instances: readonly ExistingInstance[];
  readonly launchable: readonly LaunchableType[];
  readonly jobs: readonly PendingJob[];
  readonly limits: PlacementLimits;
}

/** State carried from one cycle to the next to warm-start the solver (variable names are stable). */
export interface PlanWarmState {
  readonly values: ReadonlyMap<string, number>;
}

export interface PlanOptions {
  /** Wall-clock budget for the whole plan; each solver stage gets a share of what is left. */
  readonly timeLimitMs: number;
  /** Relative gap at which the MIP stage may stop. @default 0.01 */
  readonly relGap?: number;
  /**
   * `pipeline` (default): LP relaxation (by pricing when it pays), rounding, then a sub-MIP over the
   * columns the LP used, warm-started, when time allows; the greedy plan when the LP gives nothing.
   * `direct`: greedy incumbent, then one MIP over the whole model, warm-started.
   */
  readonly strategy?: 'pipeline' | 'direct';
  /** Previous cycle's solution by variable name. */
  readonly warm?: PlanWarmState;
  /** Monotonic milliseconds, used to enforce `timeLimitMs`; without it only the solver limits apply. */
  readonly elapsedMs?: () => number;
}

/** New instances of one type bought in one market, in one slot (slot 0 = now). */
export interface Launch {
  readonly type: string;
  readonly market: Market;
  readonly count: number;
  readonly slot: number;
  /** Indices that the `new` placement targets use for these instances, `[first, first + count)`. */
  readonly firstIndex: number;
}

export interface Termination {
  readonly instanceId: string;
  readonly reason: string;
}

/** One task planned to start in a later slot: informational, re-planned next cycle. */
export interface FuturePlacement {
  readonly jobId: string;
  readonly taskIndex: number;
  readonly alternative: number;
  readonly slot: number;
  readonly target: PlacementTarget;
  readonly resources: Resources;
}

/** A fix the decoder had to make because the count-based model packed tasks that do not fit concretely. */
export interface Repair {
  readonly jobId: string;
  readonly action: 'launched-extra' | 'deferred' | 'moved';
  readonly detail: string;
}

export type PlanEngine = 'milp' | 'greedy';

export interface PlacementPlan {
  /** Tasks that start now (or on an instance launched now, at its first usable slot): commit these. */
  readonly placements: readonly Placement[];
  /** Launches to request now (slot 0). */
  readonly launches: readonly Launch[];
  /** Later launches in the plan: informational. */
  readonly futureLaunches: readonly Launch[];
  readonly terminations: readonly Termination[];
  /** Job id -> why nothing starts now. Jobs planned for a later slot are here too, with that reason. */
  readonly unplaced: Readonly<Record<string, string>>;
  readonly future: readonly FuturePlacement[];
  /** utility - cost (+ a tiny earliness tie-break), as the decoded plan earns it. */
  readonly objective: number;
  /** Sum of the policy values of every planned job (now and later). */
  readonly utility: number;
  /** $ of new instances over the window, boot included. Existing instances are a constant and left out. */
  readonly cost: number;
  /** Relative gap the solver reported (0 for a proven optimum); undefined for greedy. */
  readonly gap?: number;
  /** Objective the solver reported for its own solution; undefined for greedy. */
  readonly solverObjective?: number;
  readonly solveMs: number;
  readonly engine: PlanEngine;
  readonly model: { readonly variables: number; readonly rows: number };
  readonly repairs: readonly Repair[];
  /** Job id -> one line saying what happens to it and why. */
  readonly explanations: Readonly<Record<string, string>>;
  /** Per slot: instances counted against the caps (existing + new alive + booting) and their $/h. */
  readonly fleetBySlot: readonly { readonly instances: number; readonly perHour: number }[];
  /** What the solve strategy met on the way (solver failures, stages skipped for lack of time). */
  readonly notes: readonly string[];
  /** Pass to the next cycle's `PlanOptions.warm`. */
  readonly warm?: PlanWarmState;
}

// --- boundary validation -------------------------------------------------------------------------

const ExistingInstanceSchema = z.object({
  id: z.string().min(1),
  type: z.string().min(1),
  market: MarketSchema,
  pricePerHour: z.number().min(0, { error: 'pricePerHour must be at least 0' }),
  capacity: ResourcesSchema,
  free: z.array(ResourcesSchema),
  availableFromSlot: z.number().int().min(0),
  idleSince: z.number().int().optional(),
  gpuModel: z.string().min(1).optional(),
});

const LaunchableTypeSchema = z.object({
  type: InstanceTypeSchema,
  markets: z.array(MarketSchema).min(1, { error: 'markets must list at least one market' }),
  bootSeconds: z.number().positive().optional(),
});

export const PlacementInputSchema = z
  .object({
    now: z.number().int(),
    slotSeconds: z.number().positive({ error: 'slotSeconds must be greater than 0' }),
    slots: z
      .number()
      .int()
      .min(1, { error: 'slots must be at least 1' })
      .max(512, { error: 'slots must be at most 512' }),
    instances: z.array(ExistingInstanceSchema),
    launchable: z.array(LaunchableTypeSchema),
    jobs: z.array(
      z.object({
        id: z.string().min(1),
        spec: JobSpecSchema,
        submittedAt: z.number().int(),
        attempts: z.number().int().min(0),
      }),
    ),
    limits: z.object({
      maxInstances: z.number().int().min(0, { error: 'maxInstances must be at least 0' }),
      budgetPerHour: z.number().min(0, { error: 'budgetPerHour must be at least 0' }),
      idleTimeoutSeconds: z.number().min(0),
    }),
  })
  .superRefine((input, ctx) => {
    input.instances.forEach((inst, i) => {
      if (inst.free.length !== input.slots) {
        ctx.addIssue({
          code: 'custom',
          path: ['instances', i, 'free'],
          message: `free must list one entry per slot (${input.slots}), got ${inst.free.length}`,
        });
      }
    });
    const ids = new Set<string>();
    input.jobs.forEach((j, i) => {
      if (ids.has(j.id))
        ctx.addIssue({ code: 'custom', path: ['jobs', i, 'id'], message: `duplicate job id ${j.id}` });
      ids.add(j.id);
    });
  });
