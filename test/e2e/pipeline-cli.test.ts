import { join } from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  pipelineStatusCommand,
  pipelineStopCommand,
  pipelineSubmitCommand,
  readPipelineFile,
} from '../../lib/cli/commands/pipeline.ts';
import { pipelineLoadCommand } from '../../lib/cli/commands/pipeline-load.ts';
import {
  pipelineExampleCommand,
  pipelineInferCommand,
  readQueryFile,
} from '../../lib/cli/commands/pipeline-try.ts';
import { parseUploadDestination } from '../../lib/cli/commands/pipeline-upload.ts';
import { type CliSource, fromLocalCloud } from '../../lib/cli/source.ts';
import { type PipelineCloud, startPipelineCloud } from '../support/pipeline-cloud.ts';

/**
 * The pipeline commands a user runs to try pipelines on the local cloud, in order: `pipeline example`
 * writes the models, spec and query; `pipeline submit --upload-models --wait` puts the models in S3 and
 * returns once the pipeline answers (planned, its replicas and router listed); `pipeline infer` sends the
 * query through the router (asking again after a 503 while the router has yet to see a replica);
 * `pipeline load` sends a few seconds of traffic; `pipeline stop` ends it.
 */

let env: PipelineCloud;
let source: CliSource;

beforeAll(async () => {
  env = await startPipelineCloud('tetrafleet-pipeline-cli-e2e');
  source = fromLocalCloud(env.cloud);
}, 300_000);

afterAll(async () => {
  source?.close();
  await env?.stop();
}, 120_000);

describe('trying a pipeline from the CLI', () => {
  it('writes the example, serves it, answers its query through the router and carries a short load', async () => {
    const dir = join(env.modelDir, 'example');
    await pipelineExampleCommand(dir);

    // Submitted as to a stack on AWS: the models go to S3 first, and the agents fetch them from there.
    const s3 = new S3Client(env.cloud.config.adapters.aws);
    try {
      await s3.send(new CreateBucketCommand({ Bucket: 'tf-cli-models' }));
    } finally {
      s3.destroy();
    }
    const progress: string[] = [];
    const submitted = await pipelineSubmitCommand(
      source,
      await readPipelineFile(join(dir, 'pipeline.yaml')),
      {
        pipelineId: 'try',
        wait: true,
        timeoutMs: 240_000,
        onProgress: (line) => progress.push(line),
        uploadModelsTo: parseUploadDestination('s3://tf-cli-models/example'),
      },
    );
    expect(submitted.data.record?.status).toBe('SERVING');
    expect(submitted.text).toMatch(/^pipeline try \(example\) is SERVING/);
    expect(progress.some((l) => l.startsWith('try: PROFILING'))).toBe(true);
    const uploaded = (submitted.data.uploads ?? []).map((u) => [u.stages, u.sent]);
    expect(uploaded).toEqual([
      [['detect'], true],
      [['classify'], true],
    ]);
    expect(progress.filter((l) => l.startsWith('uploaded '))).toHaveLength(2);
    expect(submitted.data.record?.spec.stages.map((st) => st.model.uri)).toEqual(
      submitted.data.uploads?.map((u) => u.to),
    );

    const status = await pipelineStatusCommand(source, 'try');
    expect(status.data.endpoints.map((e) => e.stageId).sort()).toEqual(
      expect.arrayContaining(['_router', 'classify', 'detect']),
    );

    const query = await readQueryFile(join(dir, 'query.json'));
    const out = await pipelineInferCommand(source, 'try', query);
    expect(out.data.answer.stages).toEqual(['detect', 'classify']);
    expect(out.data.answer.output.dims).toEqual([1, 10]);
    expect(out.data.answer.output.data.every(Number.isFinite)).toBe(true);
    expect(out.text).toMatch(/^answered in [\d.]+ ms at the router/);

    // A few seconds of open-loop traffic: every query is accounted for, and the stages' targets are read.
    const load = await pipelineLoadCommand(source, 'try', query, { ratePerSecond: 10, seconds: 4 });
    expect(load.data.sent).toBeGreaterThan(0);
    expect(Object.values(load.data.byStatus).reduce((a, b) => a + b, 0)).toBe(load.data.sent);
    expect(load.data.answered).toBeGreaterThan(0);
    expect(load.data.intervals.at(-1)?.targets).toEqual({
      detect: expect.any(Number),
      classify: expect.any(Number),
    });

    const stopped = await pipelineStopCommand(source, 'try');
    expect(stopped.data.outcome).toBe('stopped');
  });
});
