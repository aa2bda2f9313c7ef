import { ValidationError } from '../../core/errors.ts';
import { jobSubmission } from '../../sdk/submission.ts';
import { SubmitInterruptedError, type SubmittedJob } from '../errors.ts';
import { formatTable } from '../format.ts';
import { type ParsedJobFile, readJobFile } from '../job-file.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';

export type { SubmittedJob } from '../errors.ts';

/**
 * Submits every spec of a JSON or YAML file. The whole file is validated first, each submission as the
 * SDK would send it included (its size), so a bad spec sends nothing and the error names each bad field.
 * A send that fails part way is a SubmitInterruptedError naming the jobs sent and those not.
 */
export async function submitCommand(
  source: CliSource,
  file: string | ParsedJobFile,
): Promise<CommandOutput<{ submitted: SubmittedJob[] }>> {
  const { inputs, specs } = typeof file === 'string' ? await readJobFile(file) : file;
  const names = inputs.map((input, i) => specs[i]?.name ?? String(input.name));
  const jobIds = prepare(inputs, names);
  const submitted: SubmittedJob[] = [];
  for (const [i, input] of inputs.entries()) {
    try {
      const { jobId } = await source.client.submitJob(input, { jobId: jobIds[i] });
      submitted.push({ jobId, name: names[i] ?? '' });
    } catch (error) {
      if (submitted.length === 0) throw error;
      throw new SubmitInterruptedError(submitted, names, i, error);
    }
  }
  const table = formatTable<SubmittedJob>(
    [
      { header: 'ID', value: (j) => j.jobId },
      { header: 'NAME', value: (j) => j.name },
    ],
    submitted,
  );
  const noun = submitted.length === 1 ? 'job' : 'jobs';
  return { data: { submitted }, text: `submitted ${submitted.length} ${noun}\n${table}` };
}

/** Each spec's submission checked as it will be sent, and its job id; every problem, before any send. */
function prepare(inputs: ParsedJobFile['inputs'], names: readonly string[]): string[] {
  const ids: string[] = [];
  const issues: { path: string; message: string }[] = [];
  inputs.forEach((input, i) => {
    try {
      ids.push(jobSubmission(input).jobId);
    } catch (error) {
      if (!(error instanceof ValidationError)) throw error;
      const job = inputs.length > 1 ? `job #${i + 1} (${names[i]})` : `job (${names[i]})`;
      for (const issue of error.issues)
        issues.push({
          path: job,
          message: issue.path === 'spec' ? issue.message : `${issue.path}: ${issue.message}`,
        });
    }
  });
  if (issues.length > 0) throw new ValidationError('job file', issues);
  return ids;
}
