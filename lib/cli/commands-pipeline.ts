import type { Command } from 'commander';
import {
  pipelineListCommand,
  pipelineStatusCommand,
  pipelineStopCommand,
  pipelineSubmitCommand,
  readPipelineFile,
} from './commands/pipeline.ts';
import { type Act, common, positive, type SourceFlags, sourced, type WithSource } from './program-options.ts';
import { type CliIo, print } from './run.ts';

/** `tetrafleet pipeline submit|status|list|stop`: inference pipelines under a latency SLO. */
export function addPipelineCommands(program: Command, io: CliIo, act: Act, withSource: WithSource): void {
  const pipeline = program
    .command('pipeline')
    .description('inference pipelines: a DAG of ONNX stages served under a P99 latency SLO');

  common(sourced(pipeline.command('submit').argument('<file>', 'JSON or YAML: one pipeline spec')))
    .description('validate and submit a pipeline spec')
    .option('--id <pipelineId>', 'choose the pipeline id (default: the name and a random suffix)')
    .option('--wait', 'wait until the pipeline is SERVING (or refused)')
    .option('--timeout <seconds>', 'how long --wait waits', positive('--timeout'), 600)
    .action(
      act(
        async (
          file: string,
          f: SourceFlags & { id?: string; wait?: boolean; timeout: number },
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
              }),
            ),
          )(f);
        },
      ),
    );

  common(sourced(pipeline.command('status').argument('<id>', 'pipeline id')))
    .description('show a pipeline: status, plan per stage, targets, live latency and the router endpoint')
    .action(
      act((id: string, f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await pipelineStatusCommand(s, id)))(f),
      ),
    );

  common(sourced(pipeline.command('list')))
    .description('list pipelines, newest first')
    .action(
      act((f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await pipelineListCommand(s)))(f),
      ),
    );

  common(sourced(pipeline.command('stop').argument('<id>', 'pipeline id')))
    .description('stop serving a pipeline (its replicas and router are cancelled)')
    .action(
      act((id: string, f: SourceFlags, _c: Command) =>
        withSource(async (s) => print(io, f, await pipelineStopCommand(s, id)))(f),
      ),
    );
}
