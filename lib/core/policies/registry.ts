import type { PolicyName } from '../model/job.ts';
import type { PendingJob, PlacementInput } from '../placement/types.ts';
import { deadlinePolicy } from './deadline.ts';
import { fifoPolicy } from './fifo.ts';
import { sloServicePolicyFor } from './slo-service.ts';
import type { Policy, PolicyContext, PolicyResult } from './types.ts';

/** Policies keyed by `JobSpec.policy`. */
export type PolicyRegistry = ReadonlyMap<string, Policy>;

/** The built-in batch policies; pass `extra` to add or replace one (e.g. `slo-service`). */
export function createPolicyRegistry(extra: readonly Policy[] = []): PolicyRegistry {
  const m = new Map<string, Policy>([
    [deadlinePolicy.name, deadlinePolicy],
    [fifoPolicy.name, fifoPolicy],
  ]);
  for (const p of extra) m.set(p.name, p);
  return m;
}

/**
 * The batch policies, which need nothing but the job. `slo-service` is not among them: its value is
 * derived from the rest of the cycle's input (see slo-service.ts), so it comes from `policiesFor`.
 */
export const DEFAULT_POLICIES: PolicyRegistry = createPolicyRegistry();

/** Every policy a schedule cycle plans with: the batch ones plus `slo-service` valued for this input. */
export function policiesFor(input: PlacementInput): PolicyRegistry {
  return createPolicyRegistry([sloServicePolicyFor(input)]);
}

export function jobToStrl(registry: PolicyRegistry, job: PendingJob, ctx: PolicyContext): PolicyResult {
  const name: PolicyName = job.spec.policy;
  const policy = registry.get(name);
  if (!policy)
    return {
      ok: false,
      reason: `no policy registered for ${name} (have ${[...registry.keys()].join(', ')})`,
    };
  return policy.toStrl(job, ctx);
}
