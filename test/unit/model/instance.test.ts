import { describe, expect, it } from 'vitest';
import { InvalidTransitionError } from '../../../lib/core/errors.ts';
import {
  assertInstanceTransition,
  INSTANCE_STATES,
  INSTANCE_TRANSITIONS,
  InstanceSchema,
  type InstanceState,
} from '../../../lib/core/model/instance.ts';
import { instance, issuesOf, message } from './builders.ts';

/** The instance lifecycle written out by hand: forward only, DRAINING takes no new work. */
const ALLOWED = new Set<string>([
  'PENDING->RUNNING',
  'PENDING->DRAINING',
  'PENDING->TERMINATING',
  'PENDING->TERMINATED',
  'RUNNING->DRAINING',
  'RUNNING->TERMINATING',
  'RUNNING->TERMINATED',
  'DRAINING->TERMINATING',
  'DRAINING->TERMINATED',
  'TERMINATING->TERMINATED',
]);

const pairs: [InstanceState, InstanceState, boolean][] = INSTANCE_STATES.flatMap((from) =>
  INSTANCE_STATES.map((to): [InstanceState, InstanceState, boolean] => [
    from,
    to,
    ALLOWED.has(`${from}->${to}`),
  ]),
);

describe('instance state machine', () => {
  it('covers every pair of the 5 states', () => {
    expect(pairs).toHaveLength(25);
  });

  it.each(pairs)('moving %s -> %s is allowed: %s', (from, to, allowed) => {
    expect(INSTANCE_TRANSITIONS[from].includes(to)).toBe(allowed);
    if (allowed) expect(() => assertInstanceTransition(from, to)).not.toThrow();
    else expect(() => assertInstanceTransition(from, to)).toThrow(InvalidTransitionError);
  });

  it('fails when a terminated instance comes back, naming the instance entity', () => {
    expect(() => assertInstanceTransition('TERMINATED', 'RUNNING')).toThrow(
      'instance cannot move from TERMINATED to RUNNING',
    );
  });

  it('fails when a draining instance goes back to running', () => {
    expect(() => assertInstanceTransition('DRAINING', 'RUNNING')).toThrow(InvalidTransitionError);
  });
});

describe('InstanceSchema', () => {
  it('accepts an instance and defaults its version to 0', () => {
    expect(InstanceSchema.parse(instance()).version).toBe(0);
  });

  const rejections: [string, unknown, string, string | RegExp][] = [
    ['the id is empty', instance({ id: '' }), 'id', />=1 characters/],
    ['the type is empty', instance({ type: '' }), 'type', />=1 characters/],
    ['the market is unknown', instance({ market: 'reserved' as never }), 'market', /"on-demand"\|"spot"/],
    ['the state is unknown', instance({ state: 'STOPPED' as never }), 'state', /"PENDING"\|"RUNNING"/],
    [
      'the capacity has negative vCPU',
      instance({ capacity: { vcpu: -1, memoryMiB: 1, gpus: 0 } }),
      'capacity.vcpu',
      'vcpu must be at least 0',
    ],
    [
      'the capacity has fractional GPUs',
      instance({ capacity: { vcpu: 1, memoryMiB: 1, gpus: 0.5 } }),
      'capacity.gpus',
      'gpus must be a whole number',
    ],
    [
      'the capacity memory is not a number',
      instance({ capacity: { vcpu: 1, memoryMiB: '1' as never, gpus: 0 } }),
      'capacity.memoryMiB',
      'memoryMiB must be a number',
    ],
    ['launchedAt is fractional', instance({ launchedAt: 1.5 }), 'launchedAt', /expected int/],
    ['readyAt is not a number', instance({ readyAt: 'soon' as never }), 'readyAt', /expected number/],
    ['the version is negative', instance({ version: -1 }), 'version', />=0/],
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(InstanceSchema, input)).toEqual([{ path, message: message(expected) }]);
  });
});
