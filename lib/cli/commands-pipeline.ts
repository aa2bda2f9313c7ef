import { type Command, InvalidArgumentError } from 'commander';
import {
  pipelineStatusCommand,
  pipelineStopCommand,
  pipelineSubmitCommand,
  readPipelineFile,
} from './commands/pipeline.ts';
import { pipelineListCommand } from './commands/pipeline-list.ts';
import { pipelineLoadCommand } from './commands/pipeline-load.ts';
import { pipelineExampleCommand, pipelineInferCommand, readQueryFile } from './commands/pipeline-try.ts';
import { parseUploadDestination, type UploadDestination } from './commands/pipeline-upload.ts';
import {
  type Act,
  common,
  int,
  numberIn,
  pipelineId,
  positive,
  type SourceFlags,
  sourced,
  type WithSource,
  wholeIn,
} from './program-options.ts';
import { type CliIo, print } from './run.ts';

/** The longest `--timeout` of a wait: a day (a timer holds at most about 24.8 days). */
const MAX_WAIT_SECONDS = 86_400;

/** `tetrafleet pipeline example|submit|status|infer|load|list|stop`: inference pipelines under a latency SLO. */
export function addPipelineCommands(program: Command, io: CliIo, act: Act, withSource: WithSource): void {
  const pipeline = program
    .command('pipeline')
    .description('inference pipelines: a DAG of ONNX stages served under a P99 latency SLO');

  common(sourced(pipeline.command('submit').argument('<file>', 'JSON or YAML: one pipeline spec')))
    .description('validate and submit a pipeline spec')
    .option('--id <pipelineId>', 'choose the pipeline id (default: the name and a random suffix)', pipelineId)
    .option(
      '--wait',
      'wait until the pipeline answers queries: planned, its replicas and router serving (or refused)',
    )
    .option(
      '--timeout <seconds>',
      'how long --wait waits, up to 86,400',
      positive('--timeout', MAX_WAIT_SECONDS),
      600,
    )
    .option(
      '--upload-models <s3uri>',
      "upload the spec's local model files to s3://BUCKET/PREFIX (each once, named by its content hash) and submit their s3:// URIs",
      destination,
    )
    .action(
      act(
        async (
          file: string,
          f: SourceFlags & {
            id?: string;
            wait?: boolean;
            timeout: number;
            uploadModels?: UploadDestination;
          },
          _c: Command,
        ) => {
          // Check the file before connecting, so a bad spec is reported even with no cloud running.
          const parsed = await readPipelineFile(file);
          return withSource(async (s) =>
            print(
              io,
              f,
              await pipelineSubmitCommand(s, parsed, {
                pipelineId: f.id,
                wait: f.wait,
                timeoutMs: f.timeout * 1000,
                onProgress: (line) => io.err(`${line}\n`),
                ...(f.uploadModels ? { uploadModelsTo: f.uploadModels } : {}),
              }),
            ),
          )(f);
        },
      ),
    );

  common(pipeline.command('example').argument('[dir]', 'where to write it', 'tetrafleet-example'))
    .description('write a pipeline to try: two generated ONNX models, its spec and a query')
    .option('--force', 'overwrite the example files where they exist')
    .action(
      act(async (dir: string, f: { json?: boolean; force?: boolean }, _c: Command) =>
        print(io, f, await pipelineExampleCommand(dir, { force: f.force })),
      ),
    );

  common(
    sourced(
      pipeline
        .command('infer')
        .argument('<id>', 'pipeline id', pipelineId)
        .argument('<file>', 'a JSON query: { "input": { "dims": [...], "data": [...] } }'),
    ),
  )
    .description("send one query through the pipeline's router and show the answer")
    .option(
      '--timeout <seconds>',
      'how long to wait for the answer, up to 86,400',
      positive('--timeout', MAX_WAIT_SECONDS),
      30,
    )
    .action(
      act(async (id: string, file: string, f: SourceFlags & { timeout: number }, _c: Command) => {
        // Check the query before connecting, so a bad file is reported even with no cloud running.
        const query = await readQueryFile(file);
        return withSource(async (s) =>
          print(io, f, await pipelineInferCommand(s, id, query, { timeoutMs: f.timeout * 1000 })),
        )(f);
      }),
    );

  common(
    sourced(
      pipeline
        .command('load')
        .argument('<id>', 'pipeline id', pipelineId)
        .argument('<file>', 'the JSON query to send, as for infer'),
    ),
  )
    .description('send open-loop traffic through the router and show answers, latency and replica targets')
    .option('--rate <qps>', 'mean queries per second (0.1-1,000)', numberIn('--rate', 0.1, 1000), 10)
    .option('--seconds <s>', 'how long to send (1-3,600)', wholeIn('--seconds', 1, 3600), 60)
    .option(
      '--cv <cv>',
      'burstiness of the arrival gaps: 1 is Poisson, 4 bursty (0.1-100)',
      numberIn('--cv', 0.1, 100),
      1,
    )
    .option('--seed <n>', 'arrival draws, so a run can be repeated', int('--seed'), 1)
    .action(
      act(
        async (
          id: string,
          file: string,
          f: SourceFlags & { rate: number; seconds: number; cv: number; seed: number },
          _c: Command,
        ) => {
          const query = await readQueryFile(file);
          return withSource(async (s) =>
            print(
              io,
              f,
              await pipelineLoadCommand(s, id, query, {
                ratePerSecond: f.rate,
                seconds: f.seconds,
                cv: f.cv,
                seed: f.seed,
                onProgress: (line) => io.err(`${line}\n`),
              }),
            ),
          )(f);
        },
      ),
    );

  common(sourced(pipeline.command('status').argument('<id>', 'pipeline id', pipelineId)))
    .description('show a pipeline: status, plan per stage, targets, live latency and the router endpoint')
    .action(
      act((id: string, f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await pipelineStatusCommand(s, id)))(f),
      ),
    );

  common(sourced(pipeline.command('list')))
    .description('list pipelines, newest first, with those refused at admission and why')
    .action(
      act((f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await pipelineListCommand(s)))(f),
      ),
    );

  common(sourced(pipeline.command('stop').argument('<id>', 'pipeline id', pipelineId)))
    .description('stop serving a pipeline (its replicas and router are cancelled)')
    .action(
      act((id: string, f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await pipelineStopCommand(s, id)))(f),
      ),
    );
}

/** `--upload-models`: checked as the option is parsed, so a bad URI is a usage error before anything runs. */
function destination(value: string): UploadDestination {
  try {
    return parseUploadDestination(value);
  } catch (error) {
    throw new InvalidArgumentError(error instanceof Error ? error.message : String(error));
  }
}
