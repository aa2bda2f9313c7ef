import { formatTable } from '../format.ts';
import { type ParsedJobFile, readJobFile } from '../job-file.ts';
import type { CliSource } from '../source.ts';
import type { CommandOutput } from './output.ts';

export interface SubmittedJob {
  readonly jobId: string;
  readonly name: string;
}

/**
 * Submits every spec of a JSON or YAML file. The whole file is validated first, so a bad spec sends
 * nothing and the error names each bad field with its line.
 */
export async function submitCommand(
  source: CliSource,
  file: string | ParsedJobFile,
): Promise<CommandOutput<{ submitted: SubmittedJob[] }>> {
  const { inputs, specs } = typeof file === 'string' ? await readJobFile(file) : file;
  const submitted: SubmittedJob[] = [];
  for (const [i, input] of inputs.entries()) {
    const { jobId } = await source.client.submitJob(input);
    submitted.push({ jobId, name: specs[i]?.name ?? input.name });
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
