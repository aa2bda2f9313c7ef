import { describe, expect, it } from 'vitest';
import { decodeAgentCommand } from '../../../agent/agent.ts';
import { HeartbeatSchema } from '../../../lib/core/protocol/heartbeat.ts';
import { decodeTaskCommand, TaskEventSchema, taskKey } from '../../../lib/core/protocol/tasks.ts';

const runTask = {
  version: 1,
  kind: 'RunTask',
  jobId: 'job-1',
  attempt: 2,
  task: { kind: 'command', command: 'python', args: ['train.py'] },
  resources: { vcpu: 4, memoryMiB: 16_384, gpus: 2 },
  gpuIndices: [0, 1],
};

describe('task protocol', () => {
  it('decodes a RunTask and fills in its defaults', () => {
    const decoded = decodeTaskCommand(JSON.stringify(runTask));
    expect(decoded).toMatchObject({ ok: true, value: { kind: 'RunTask', taskIndex: 0, task: { env: {} } } });
  });

  it('fails when gpuIndices do not match resources.gpus or repeat an index', () => {
    const decoded = decodeTaskCommand({ ...runTask, gpuIndices: [1, 1, 3] });
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.issues).toEqual([
      { path: 'gpuIndices', message: 'gpuIndices must not repeat an index, got [1, 1, 3]' },
      { path: 'gpuIndices', message: 'gpuIndices must list exactly resources.gpus (2) indices, got 3' },
    ]);
  });

  it('fails when a message has a foreign version or an unknown kind', () => {
    expect(decodeTaskCommand({ ...runTask, version: 2 })).toEqual({
      ok: false,
      issues: [{ path: 'version', message: 'version must be 1, got 2' }],
    });
    const unknown = decodeTaskCommand({ version: 1, kind: 'Reboot' });
    expect(unknown.ok).toBe(false);
    if (!unknown.ok)
      expect(unknown.issues[0]?.message).toBe('kind must be one of RunTask, CancelTask, Drain, got Reboot');
  });

  it('routes model commands and task commands from one instance queue', () => {
    const serve = decodeAgentCommand({
      version: 1,
      kind: 'ServeModel',
      modelId: 'resnet',
      model: { uri: '/models/resnet.onnx' },
    });
    expect(serve).toMatchObject({ ok: true, value: { kind: 'ServeModel' } });
    expect(decodeAgentCommand({ version: 1, kind: 'Drain' })).toMatchObject({
      ok: true,
      value: { kind: 'Drain' },
    });
    expect(decodeAgentCommand({ version: 1, kind: 'Drain', serveThroughGrace: true })).toMatchObject({
      ok: true,
      value: { kind: 'Drain', serveThroughGrace: true },
    });
    const bad = decodeAgentCommand({ version: 1, kind: 'Drain', serveThroughGrace: 'yes' });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.issues[0]?.message).toBe('serveThroughGrace must be true or false');
  });

  it('fails when a TaskEvent has an unknown event type', () => {
    const result = TaskEventSchema.safeParse({
      version: 1,
      kind: 'TaskEvent',
      event: 'exploded',
      jobId: 'j',
      taskIndex: 0,
      attempt: 0,
      instanceId: 'i-1',
      at: 0,
    });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.message).toBe(
      'event must be one of started, succeeded, failed, cancelled, handed-back',
    );
  });

  it('fails when a heartbeat has an unknown state', () => {
    const result = HeartbeatSchema.safeParse({ version: 1, kind: 'Heartbeat', state: 'SLEEPING' });
    expect(result.success).toBe(false);
    expect(result.error?.issues.map((i) => i.path.join('.'))).toContain('state');
  });

  it('keys a run by job, task index and attempt', () => {
    expect(taskKey({ jobId: 'j', taskIndex: 1, attempt: 3 })).not.toBe(
      taskKey({ jobId: 'j', taskIndex: 1, attempt: 4 }),
    );
  });
});
