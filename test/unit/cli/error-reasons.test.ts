import { describe, expect, it } from 'vitest';
import { EXIT } from '../../../lib/cli/errors.ts';
import { reportError } from '../../../lib/cli/run.ts';
import { recordingIo } from './recording-io.ts';

const io = () => recordingIo();

/** What a failed `cdk synth` leaves in its error: a heading, then the child's output. */
const SYNTH_FAILURE = [
  'cdk synth exited with 1:',
  '/work/lib/infra/props.ts:150',
  '  if (problems.length > 0) throw new TetrafleetPropsError(problems);',
  '                                 ^',
  '',
  '',
  'TetrafleetPropsError: invalid TetrafleetStack props:',
  '  - budgetPerHour must be between 0.01 and 100,000, got 0.001',
  '    at resolveTetrafleetProps (/work/lib/infra/props.ts:150:34)',
  '    at new TetrafleetStack (/work/lib/infra/tetrafleet-stack.ts:48:19)',
  '  problems: [ ... ]',
  'npx tsx bin/app.ts: Subprocess exited with error 1',
].join('\n');

describe('an error whose first line ends in a colon', () => {
  it('shows the reason its heading announces, not the heading alone', () => {
    const run = io();
    expect(reportError(run.io, {}, new Error(SYNTH_FAILURE))).toBe(EXIT.failure);
    expect(run.err.join('').split('\n')).toEqual([
      'tetrafleet: cdk synth exited with 1:',
      'tetrafleet:   TetrafleetPropsError: invalid TetrafleetStack props:',
      'tetrafleet:     - budgetPerHour must be between 0.01 and 100,000, got 0.001',
      '',
    ]);
  });

  it('falls back to the last lines below the heading when none names an error', () => {
    const run = io();
    reportError(run.io, {}, new Error('tool exited with 2:\n\nusage: tool FILE\ntool: FILE is required\n'));
    expect(run.err.join('').split('\n')).toEqual([
      'tetrafleet: tool exited with 2:',
      'tetrafleet:   usage: tool FILE',
      'tetrafleet:   tool: FILE is required',
      '',
    ]);
  });

  it('keeps a one-line message as it is', () => {
    const run = io();
    reportError(run.io, {}, new Error('boom:'));
    expect(run.err).toEqual(['tetrafleet: boom:\n']);
  });
});
