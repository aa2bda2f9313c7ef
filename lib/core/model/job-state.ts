import { InvalidTransitionError } from '../errors.ts';

export const JOB_STATES = [
  'PENDING',
  'PLACED',
  'LAUNCHING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
] as const;
export type JobStatus = (typeof JOB_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<JobStatus> = new Set([
  'SUCCEEDED',
  'FAILED',
  'CANCELLED',
  'EXPIRED',
]);

/**
 * The job state machine as data. PENDING jobs are placed on a running instance (PLACED) or on one being
 * launched (LAUNCHING). A lost instance or failed launch sends work back to PENDING while attempts remain.
 * PLACED may jump straight to a terminal state because a "started" event can arrive after "finished".
 * Terminal states have no exits.
 */
export const JOB_TRANSITIONS: Readonly<Record<JobStatus, readonly JobStatus[]>> = Object.freeze({
  PENDING: ['PLACED', 'LAUNCHING', 'FAILED', 'CANCELLED', 'EXPIRED'],
  LAUNCHING: ['PLACED', 'PENDING', 'FAILED', 'CANCELLED', 'EXPIRED'],
  PLACED: ['RUNNING', 'PENDING', 'SUCCEEDED', 'FAILED', 'CANCELLED', 'EXPIRED'],
  RUNNING: ['SUCCEEDED', 'FAILED', 'CANCELLED', 'PENDING'],
  SUCCEEDED: [],
  FAILED: [],
  CANCELLED: [],
  EXPIRED: [],
});

export function isTerminal(status: JobStatus): boolean {
  return TERMINAL_STATES.has(status);
}

export function canTransition(from: JobStatus, to: JobStatus): boolean {
  return JOB_TRANSITIONS[from].includes(to);
}

/** Throws InvalidTransitionError when the machine forbids `from -> to`. */
export function assertTransition(from: JobStatus, to: JobStatus): void {
  if (!canTransition(from, to)) throw new InvalidTransitionError(from, to);
}
