import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXIT } from '../../../lib/cli/errors.ts';
import { JobFileError, parseJobFile, readJobFile } from '../../../lib/cli/job-file.ts';
import { exitCodeOf } from '../../../lib/cli/run.ts';

const good = {
  name: 'ok',
  task: { kind: 'command', command: '/bin/true' },
  alternatives: [{ requirement: { vcpu: 1, memoryMiB: 512 }, durationSeconds: 10 }],
  utility: { deadlineSeconds: 60, value: 1 },
};

function issuesOf(text: string, file = 'jobs.yaml') {
  try {
    parseJobFile(text, file);
  } catch (error) {
    if (error instanceof JobFileError) return error;
    throw error;
  }
  throw new Error('expected the file to be refused');
}

describe('parseJobFile', () => {
  it('reads one spec, a list, a jobs key, or several YAML documents', () => {
    expect(parseJobFile(JSON.stringify(good)).specs.map((s) => s.name)).toEqual(['ok']);
    expect(parseJobFile(JSON.stringify([good, { ...good, name: 'two' }])).specs).toHaveLength(2);
    expect(parseJobFile(JSON.stringify({ jobs: [good] })).specs).toHaveLength(1);
    expect(parseJobFile(`${JSON.stringify(good)}\n---\n${JSON.stringify(good)}\n`).inputs).toHaveLength(2);
  });

  it('fills in defaults in specs but submits inputs as written', () => {
    const parsed = parseJobFile(JSON.stringify(good));
    expect(parsed.specs[0]?.policy).toBe('deadline');
    expect(parsed.inputs[0]).toEqual(good);
  });

  it('fails when a field is invalid, naming the field and the line of its value', () => {
    const text = [
      'name: bad',
      'task:',
      '  kind: command',
      '  command: /bin/true',
      'alternatives:',
      '  - requirement:',
      '      vcpu: 0',
      '      memoryMiB: 512',
      '    durationSeconds: 10',
      'utility: { deadlineSeconds: 60, value: 1 }',
    ].join('\n');
    const error = issuesOf(text);
    expect(error.issues).toEqual([
      {
        path: 'alternatives.0.requirement.vcpu',
        message: 'vcpu must be greater than 0',
        line: 7,
        column: 13,
      },
    ]);
    expect(error.message).toBe(
      'jobs.yaml:7:13: alternatives.0.requirement.vcpu: vcpu must be greater than 0',
    );
  });

  it('fails when a field is missing, pointing at the object that lacks it', () => {
    const text = `- ${JSON.stringify(good)}\n- name: second\n  task: { kind: command, command: /bin/true }\n  policy: fifo\n`;
    const error = issuesOf(text);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ spec: 1, path: 'alternatives', line: 2, column: 3 });
    expect(error.message).toBe(
      'jobs.yaml:2:3: job #2 alternatives: alternatives is required (expected array)',
    );
  });

  it('fails when a field is unknown, naming the field meant and the line of the key, in file order', () => {
    const text = [
      '- name: first',
      '  task: { kind: command, command: /bin/true }',
      '  alternatives:',
      '    - requirement: { vcpu: 0, memoryMiB: 512, gpu: 1 }',
      '      durationSeconds: 10',
      '      spot: true',
      '  utility: { deadlineSeconds: 60, value: 1 }',
      `- ${JSON.stringify({ ...good, name: 'second', prority: 2 })}`,
    ].join('\n');
    const error = issuesOf(text);
    expect(error.issues.map((i) => [i.spec, i.path, i.line])).toEqual([
      [0, 'alternatives.0.requirement.vcpu', 4],
      [0, 'alternatives.0.requirement.gpu', 4],
      [0, 'alternatives.0.spot', 6],
      [1, 'prority', 8],
    ]);
    expect(error.message.split('\n')).toEqual([
      'jobs.yaml:4:28: job #1 alternatives.0.requirement.vcpu: vcpu must be greater than 0',
      'jobs.yaml:4:47: job #1 alternatives.0.requirement.gpu: unknown field; did you mean gpus?',
      'jobs.yaml:6:7: job #1 alternatives.0.spot: unknown field; did you mean requirement.spot?',
      expect.stringMatching(/^jobs\.yaml:8:\d+: job #2 prority: unknown field; did you mean priority\?$/),
    ]);
  });

  it('refuses a spec that is valid but for an unknown field, so nothing is submitted without it', () => {
    const error = issuesOf(JSON.stringify({ ...good, utility: { ...good.utility, hardDeadline: 120 } }));
    expect(error.issues).toEqual([
      expect.objectContaining({
        path: 'utility.hardDeadline',
        message: 'unknown field; did you mean hardDeadlineSeconds?',
        line: 1,
      }),
    ]);
  });

  it('fails when JSON is malformed, with the line of the syntax error', () => {
    const error = issuesOf('{\n  "name": "x",\n  "task": [1, 2\n}\n', 'job.json');
    expect(error.issues[0]?.line).toBeGreaterThanOrEqual(3);
    expect(error.message.startsWith('job.json:')).toBe(true);
  });

  it('fails when the file holds no specs', () => {
    expect(issuesOf('# nothing here\n').message).toBe('jobs.yaml: the file holds no job specs');
  });

  it('fails when aliases expand past the limit (an alias bomb), naming the file, with exit 2', () => {
    const levels = 'abcdefghij'.split('');
    const bomb = levels
      .map(
        (k, i) =>
          `${k}: &${k} [${Array(9)
            .fill(i === 0 ? 'x' : `*${levels[i - 1]}`)
            .join(', ')}]`,
      )
      .join('\n');
    const error = issuesOf(bomb);
    expect(error).toBeInstanceOf(JobFileError);
    expect(error.message).toMatch(/^jobs\.yaml: cannot expand the YAML: excessive alias count/);
    expect(exitCodeOf(error)).toBe(EXIT.usage);
  });

  it('fails when the file is binary or holds one plain value, saying it is not JSON or YAML specs', () => {
    expect(issuesOf('\u0000\u0001ONNX\uFFFD').message).toBe(
      'jobs.yaml: not JSON or YAML: the file is binary',
    );
    expect(issuesOf('just some words').message).toBe(
      'jobs.yaml: not JSON or YAML job specs: the file holds one string value',
    );
  });
});

describe('readJobFile', () => {
  it('fails when the file does not exist, saying what to pass instead', async () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'tf-jobfile-')), 'nope.yaml');
    await expect(readJobFile(missing)).rejects.toThrow(
      /cannot read .*nope\.yaml: no such file; pass a JSON or YAML file/,
    );
  });

  it('reads a JSON file from disk', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'tf-jobfile-')), 'one.json');
    writeFileSync(file, JSON.stringify(good));
    expect((await readJobFile(file)).specs[0]?.name).toBe('ok');
  });
});
