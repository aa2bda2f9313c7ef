import { describe, expect, it } from 'vitest';
import { createScaleHandler } from '../../../lambdas/scale.ts';
import { createScheduleHandler } from '../../../lambdas/schedule.ts';
import type { ScheduledEvent } from '../../../lambdas/shared/aws-events.ts';
import { recordingLogger, scheduledEvent } from './support.ts';

describe('schedule and scale handlers', () => {
  it('runs one schedule cycle for a valid scheduled tick and returns its result', async () => {
    const seen: ScheduledEvent[] = [];
    const handler = createScheduleHandler({
      cycle: async (event) => {
        seen.push(event);
        return { status: 'done', detail: { placed: 2 } };
      },
      log: recordingLogger(),
    });
    const res = await handler(scheduledEvent());
    expect(res).toEqual({ status: 'done', detail: { placed: 2 } });
    expect(seen[0]?.time).toBe('2026-11-25T15:00:00Z');
  });

  it('refuses an event that is not a scheduled tick, with field issues, without running a cycle', async () => {
    let ran = false;
    const log = recordingLogger();
    const handler = createScheduleHandler({
      cycle: async () => {
        ran = true;
        return { status: 'done', detail: {} };
      },
      log,
    });
    const res = await handler(scheduledEvent({ source: 'aws.ec2', time: 'yesterday' }));
    expect(ran).toBe(false);
    expect(res.status).toBe('invalid');
    expect(res.status === 'invalid' && res.issues.map((i) => i.path)).toEqual(['source', 'time']);
    expect(log.lines[0]?.level).toBe('error');
  });

  it('reports a failed cycle as data instead of throwing, since the next tick is the retry', async () => {
    const handler = createScaleHandler({
      replan: async () => {
        throw new Error('profiles table unreachable');
      },
      log: recordingLogger(),
    });
    const res = await handler(scheduledEvent());
    expect(res).toEqual({ status: 'failed', reason: 'Error: profiles table unreachable' });
  });

  it('re-plans pipelines on a valid scale tick', async () => {
    let calls = 0;
    const handler = createScaleHandler({
      replan: async () => {
        calls += 1;
        return { status: 'skipped', reason: 'no pipelines' };
      },
      log: recordingLogger(),
    });
    expect(await handler(scheduledEvent())).toEqual({ status: 'skipped', reason: 'no pipelines' });
    expect(calls).toBe(1);
  });

  it('fails validation when a tick is not an object at all', async () => {
    const handler = createScaleHandler({
      replan: async () => ({ status: 'skipped', reason: '' }),
      log: recordingLogger(),
    });
    const res = await handler('tick');
    expect(res.status).toBe('invalid');
  });
});
