import { describe, expect, it } from 'vitest';
import { InvalidTransitionError } from '../../../lib/core/errors.ts';
import {
  assertInstanceTransition,
  INSTANCE_STATES,
  INSTANCE_TRANSITIONS,
  InstanceSchema,
  type InstanceState,
  InstanceUpdateSchema,
  MAX_BOOT_ID_LENGTH,
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

/** Bad heartbeat marks: [what is wrong, input, field path, message]. */
const markRejections: [string, unknown, string, string | RegExp][] = [
  [
    'the heartbeat boot id is empty',
    instance({ heartbeatBootId: '' }),
    'heartbeatBootId',
    'heartbeatBootId must not be empty',
  ],
  [
    'the heartbeat boot id is over 128 characters',
    instance({ heartbeatBootId: 'x'.repeat(MAX_BOOT_ID_LENGTH + 1) }),
    'heartbeatBootId',
    'heartbeatBootId must be at most 128 characters',
  ],
  [
    'the heartbeat boot id is not a string',
    instance({ heartbeatBootId: 7 as never }),
    'heartbeatBootId',
    /expected string/,
  ],
  [
    'the heartbeat seq is negative',
    instance({ heartbeatSeq: -1 }),
    'heartbeatSeq',
    'heartbeatSeq must be at least 0',
  ],
  [
    'the heartbeat seq is fractional',
    instance({ heartbeatSeq: 1.5 }),
    'heartbeatSeq',
    'heartbeatSeq must be a whole number',
  ],
  [
    'the heartbeat seq is past 2^53',
    instance({ heartbeatSeq: 2 ** 53 }),
    'heartbeatSeq',
    'heartbeatSeq must be at most 9,007,199,254,740,991',
  ],
  [
    'the heartbeat seq is a string',
    instance({ heartbeatSeq: '3' as never }),
    'heartbeatSeq',
    /expected number/,
  ],
];

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
    ...markRejections,
  ];

  it.each(rejections)('fails when %s', (_what, input, path, expected) => {
    expect(issuesOf(InstanceSchema, input)).toEqual([{ path, message: message(expected) }]);
  });

  it.each([
    ['a first heartbeat', { heartbeatBootId: 'b7e1c0de-1c2a-4c55-9a1e-5d7f3b2a9c10', heartbeatSeq: 0 }],
    [
      'a long run',
      { heartbeatBootId: 'x'.repeat(MAX_BOOT_ID_LENGTH), heartbeatSeq: Number.MAX_SAFE_INTEGER },
    ],
    ['no heartbeat yet', {}],
  ])('round-trips the heartbeat run and seq of %s unchanged', (_what, marks) => {
    const stored = InstanceSchema.parse(instance({ ...marks, version: 3 }));
    expect(stored).toEqual(instance({ ...marks, version: 3 }));
    expect(InstanceSchema.parse(JSON.parse(JSON.stringify(stored)))).toEqual(stored);
  });
});

describe('InstanceUpdateSchema', () => {
  it('accepts a heartbeat patch as given, adding no version or other field', () => {
    const patch = { state: 'RUNNING', lastHeartbeatAt: 5, heartbeatBootId: 'boot-a', heartbeatSeq: 8 };
    expect(InstanceUpdateSchema.parse(patch)).toEqual(patch);
  });

  it('drops an id or a version a patch names: the store keeps the id and bumps the version', () => {
    expect(InstanceUpdateSchema.parse({ id: 'i-2', version: 9, heartbeatSeq: 1 })).toEqual({
      heartbeatSeq: 1,
    });
  });

  it.each(markRejections)('fails when %s', (_what, input, path, expected) => {
    const { [path]: value } = input as Record<string, unknown>;
    expect(issuesOf(InstanceUpdateSchema, { [path]: value })).toEqual([{ path, message: message(expected) }]);
  });
});
