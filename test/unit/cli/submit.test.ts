import { afterEach, describe, expect, it, vi } from 'vitest';
import { submitCommand } from '../../../lib/cli/commands/submit.ts';
import { EXIT } from '../../../lib/cli/errors.ts';
import { parseJobFile } from '../../../lib/cli/job-file.ts';
import { exitCodeOf, reportError } from '../../../lib/cli/run.ts';
import type { CliSource } from '../../../lib/cli/source.ts';
import { TransientError, ValidationError } from '../../../lib/core/errors.ts';
import { offlineClient } from '../sdk/offline-client.ts';
import { recordingIo } from './recording-io.ts';

const spec = (name: string, extra = ''): string =>
  [
    `- name: ${name}`,
    '  policy: fifo',
    `  task: { kind: command, command: echo${extra} }`,
    '  alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 60 }]',
  ].join('\n');

/**
 * A CliSource over the real client (its checks included) whose queue is a list: `failAt` makes the
 * send of that submission (0-based) fail as a dropped connection would.
 */
function source(failAt?: number) {
  const client = offlineClient();
  const sent: { jobId: string; name: string }[] = [];
  let sends = 0;
  vi.spyOn(
    (client as unknown as { submissions: { send: (b: string) => Promise<void> } }).submissions,
    'send',
  ).mockImplementation(async (body: string) => {
    if (sends++ === failAt)
      throw new TransientError('send message failed transiently (ECONNRESET), retry later');
    const m = JSON.parse(body) as { jobId: string; spec: { name: string } };
    sent.push({ jobId: m.jobId, name: m.spec.name });
  });
  return { sent, source: { client, close: () => client.close() } as unknown as CliSource };
}

const io = () => recordingIo();

afterEach(() => {
  vi.restoreAllMocks();
});

describe('tetrafleet submit', () => {
  it('sends nothing when one spec of the file is too large to submit, naming that spec', async () => {
    const huge = `, args: [${Array.from({ length: 256 }, () => `"${'x'.repeat(5000)}"`).join(', ')}]`;
    const file = parseJobFile([spec('a'), spec('b', huge), spec('c')].join('\n'), 'jobs.yaml');
    const { sent, source: s } = source();
    const error = await submitCommand(s, file).catch((e: unknown) => e);
    expect(sent).toEqual([]);
    expect(error).toBeInstanceOf(ValidationError);
    expect(exitCodeOf(error)).toBe(EXIT.usage);
    const run = io();
    reportError(run.io, {}, error);
    expect(run.err.join('')).toMatch(
      /^tetrafleet: invalid job file:\ntetrafleet: {3}job #2 \(b\): the submission is [\d,]+ KiB of JSON; at most 384 KiB/,
    );
  });

  it('says which jobs were sent and which were not when a send fails part way', async () => {
    const file = parseJobFile([spec('a'), spec('b'), spec('c')].join('\n'), 'jobs.yaml');
    const { sent, source: s } = source(1);
    const error = await submitCommand(s, file).catch((e: unknown) => e);
    expect(sent.map((j) => j.name)).toEqual(['a']);
    // The exit code is the cause's: a transient failure is 1.
    expect(exitCodeOf(error)).toBe(EXIT.failure);
    const run = io();
    expect(reportError(run.io, { json: true }, error)).toBe(EXIT.failure);
    expect(run.err.join('').split('\n')).toEqual([
      'tetrafleet: submitted 1 of 3 jobs, then job #2 (b) failed: send message failed transiently (ECONNRESET), retry later',
      `tetrafleet:   sent      ${sent[0]?.jobId}  a`,
      'tetrafleet:   not sent  job #2 (b), job #3 (c)',
      '',
    ]);
    const doc = JSON.parse(run.out.join('')) as { error: { submitted: unknown; exitCode: number } };
    expect(doc.error.exitCode).toBe(EXIT.failure);
    expect(doc.error.submitted).toEqual([{ jobId: sent[0]?.jobId, name: 'a' }]);
  });

  it('reports the error alone when the first send fails: nothing was sent', async () => {
    const file = parseJobFile([spec('a'), spec('b')].join('\n'), 'jobs.yaml');
    const { sent, source: s } = source(0);
    const error = await submitCommand(s, file).catch((e: unknown) => e);
    expect(sent).toEqual([]);
    expect(error).toBeInstanceOf(TransientError);
  });
});
