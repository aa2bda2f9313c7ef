/**
 * A policy turns one pending job into a STRL expression: the currency every application pays in.
 * The compiler knows nothing about policies, so a new one (e.g. an SLO service asking for inference
 * replicas) plugs in by registering here, without touching the compiler.
 */
import type { Requirement } from '../model/job.ts';
import type { PendingJob } from '../placement/types.ts';
import type { StrlExpr } from '../strl/expr.ts';

export interface PolicyContext {
  readonly now: number;
  readonly slotSeconds: number;
  readonly slots: number;
  /** Partitions (pool ids) where one task of `r` can run; empty when no instance type qualifies. */
  poolsFor(r: Requirement): readonly string[];
}

export type PolicyResult =
  | { readonly ok: true; readonly expr: StrlExpr }
  | { readonly ok: false; readonly reason: string };

export interface Policy {
  readonly name: string;
  toStrl(job: PendingJob, ctx: PolicyContext): PolicyResult;
}
