import type { ClosedLoopResult } from '../../lib/core/inference/closed-loop.ts';
import { round4 } from './policy-rows.ts';
import type { Context, InterruptionSweep, PolicySettings } from './policy-types.ts';

/**
 * When the replacements are asked for and how long the interrupted replicas serve after that, for a warning
 * at `warningAtMs`: at the warning, serving through its grace; or at a rebalance recommendation
 * `spotRebalanceLeadMs` earlier, serving until the first of the two ends (spotRebalanceServeMs after the
 * recommendation, spotServeForMs after the warning).
 */
export function interruptionTiming(
  s: Pick<PolicySettings, 'spotServeForMs' | 'spotRebalanceLeadMs' | 'spotRebalanceServeMs'>,
  warningAtMs: number,
): { noticeAtMs: number; serveForMs: number } {
  const afterWarning = s.spotServeForMs ?? 0;
  if (s.spotRebalanceLeadMs === undefined) return { noticeAtMs: warningAtMs, serveForMs: afterWarning };
  const at = warningAtMs - s.spotRebalanceLeadMs;
  const grace = s.spotRebalanceServeMs ?? Number.POSITIVE_INFINITY;
  return { noticeAtMs: at, serveForMs: Math.min(grace, warningAtMs + afterWarning - at) };
}

/**
 * The worst of one spot interruption of all warm headroom at each notice time `spotInterruptionEveryMs`
 * apart, when the row runs spot headroom and the sweep is asked for; undefined otherwise (or with no
 * headroom to lose). Ties go to the earlier notice.
 */
export function interruptionSweep(
  ctx: Context,
  plain: ClosedLoopResult,
  headroom: Readonly<Record<string, number>>,
  run: (noticeAtMs: number) => ClosedLoopResult,
): { worst: ClosedLoopResult; sweep: InterruptionSweep } | undefined {
  const every = ctx.settings.spotInterruptionEveryMs;
  if (!ctx.settings.spotHeadroom || every === undefined) return undefined;
  if (!Object.values(headroom).some((n) => n > 0)) return undefined;
  const notices: number[] = [];
  for (let t = every / 2; t < ctx.trace.durationMs; t += every) notices.push(t);
  const runs = notices.map(run);
  let k = 0;
  runs.forEach((r, i) => {
    if (r.missRate > (runs[k] as ClosedLoopResult).missRate) k = i;
  });
  const missRates = runs.map((r) => r.missRate);
  return {
    worst: runs[k] as ClosedLoopResult,
    sweep: {
      noticesAtS: notices.map((t) => t / 1000),
      missRates: missRates.map((m) => Math.round(m * 1e6) / 1e6),
      meanMissRate: Math.round((missRates.reduce((a, b) => a + b, 0) / runs.length) * 1e6) / 1e6,
      worstNoticeAtS: (notices[k] as number) / 1000,
      worstCostPerHour: round4((runs[k] as ClosedLoopResult).costPerHour),
      uninterruptedMissRate: plain.missRate,
    },
  };
}
