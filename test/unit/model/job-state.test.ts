import { describe, expect, it } from 'vitest';
import { InvalidTransitionError } from '../../../lib/core/errors.ts';
import { JobStatusSchema } from '../../../lib/core/model/job.ts';
import {
  assertTransition,
  canTransition,
  isTerminal,
  JOB_STATES,
  JOB_TRANSITIONS,
  type JobStatus,
  TERMINAL_STATES,
} from '../../../lib/core/model/job-state.ts';

/**
 * The job lifecycle written out by hand, independently of JOB_TRANSITIONS, so that an accidental edit of
 * the table shows up as a failing pair rather than silently changing what the scheduler allows.
 */
const ALLOWED = new Set<string>([
  'PENDING->PLACED',
  'PENDING->LAUNCHING',
  'PENDING->FAILED',
  'PENDING->CANCELLED',
  'PENDING->EXPIRED',
  'LAUNCHING->PLACED',
  'LAUNCHING->PENDING',
  'LAUNCHING->FAILED',
  'LAUNCHING->CANCELLED',
  'LAUNCHING->EXPIRED',
  'PLACED->RUNNING',
  'PLACED->PENDING',
  'PLACED->SUCCEEDED',
  'PLACED->FAILED',
  'PLACED->CANCELLED',
  'PLACED->EXPIRED',
  'RUNNING->SUCCEEDED',
  'RUNNING->FAILED',
  'RUNNING->CANCELLED',
  'RUNNING->PENDING',
]);

const pairs: [JobStatus, JobStatus, boolean][] = JOB_STATES.flatMap((from) =>
  JOB_STATES.map((to): [JobStatus, JobStatus, boolean] => [from, to, ALLOWED.has(`${from}->${to}`)]),
);

describe('job state machine', () => {
  it('covers every pair of the 8 states', () => {
    expect(pairs).toHaveLength(64);
  });

  it.each(pairs)('moving %s -> %s is allowed: %s', (from, to, allowed) => {
    expect(canTransition(from, to)).toBe(allowed);
    expect(JOB_TRANSITIONS[from].includes(to)).toBe(allowed);
    if (allowed) expect(() => assertTransition(from, to)).not.toThrow();
    else expect(() => assertTransition(from, to)).toThrow(InvalidTransitionError);
  });

  it('fails when a job moves out of a terminal state, naming both states', () => {
    let error: unknown;
    try {
      assertTransition('SUCCEEDED', 'RUNNING');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect(error).toMatchObject({
      name: 'InvalidTransitionError',
      from: 'SUCCEEDED',
      to: 'RUNNING',
      entity: 'job',
      retryable: false,
      message: 'job cannot move from SUCCEEDED to RUNNING',
    });
  });

  it('fails when a job moves to the state it is already in', () => {
    for (const s of JOB_STATES) expect(canTransition(s, s)).toBe(false);
  });

  it('treats exactly SUCCEEDED, FAILED, CANCELLED and EXPIRED as terminal, with no exits', () => {
    expect([...TERMINAL_STATES].sort()).toEqual(['CANCELLED', 'EXPIRED', 'FAILED', 'SUCCEEDED']);
    for (const s of JOB_STATES) {
      expect(isTerminal(s)).toBe(TERMINAL_STATES.has(s));
      if (isTerminal(s)) expect(JOB_TRANSITIONS[s]).toEqual([]);
      else expect(JOB_TRANSITIONS[s].length).toBeGreaterThan(0);
    }
  });

  it('lets every non-terminal state reach a terminal one', () => {
    for (const s of JOB_STATES.filter((x) => !isTerminal(x))) {
      expect(JOB_TRANSITIONS[s].some(isTerminal)).toBe(true);
    }
  });

  it('keeps the table frozen', () => {
    expect(Object.isFrozen(JOB_TRANSITIONS)).toBe(true);
  });

  it('fails when a stored status is not one of the states', () => {
    expect(JobStatusSchema.safeParse('DONE').success).toBe(false);
    expect(JOB_STATES.every((s) => JobStatusSchema.safeParse(s).success)).toBe(true);
  });
});
