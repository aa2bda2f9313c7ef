import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePipelineFile } from '../../../lib/cli/commands/pipeline.ts';
import { pipelineLoadCommand } from '../../../lib/cli/commands/pipeline-load.ts';
import {
  EXAMPLE_FILES,
  InferRefusedError,
  pipelineExampleCommand,
  pipelineInferCommand,
  readQueryFile,
} from '../../../lib/cli/commands/pipeline-try.ts';
import { CliEnvironmentError, CliUsageError, EXIT } from '../../../lib/cli/errors.ts';
import { JobFileError } from '../../../lib/cli/job-file.ts';
import { exitCodeOf } from '../../../lib/cli/run.ts';
import type { CliSource } from '../../../lib/cli/source.ts';
import { NotFoundError } from '../../../lib/core/errors.ts';
import { gammaTrace } from '../../../lib/core/inference/traces.ts';
import { type PipelineRecord, ROUTER_STAGE } from '../../../lib/core/model/pipeline-serving.ts';
import type { PipelineView } from '../../../lib/sdk/client-options.ts';
import { PipelineRejectedError } from '../../../lib/sdk/errors.ts';
import { twoStageSpec } from '../../fakes/fake-pipeline-store.ts';
import { endpoint } from '../agent/router/helpers.ts';

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tf-pipeline-try-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function refusal(path: string): Promise<JobFileError> {
  const error = await readQueryFile(path).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(JobFileError);
  return error as JobFileError;
}

describe('tetrafleet pipeline example', () => {
  it('writes two models that chain, a valid spec that serves them and a query the first one takes', async () => {
    const out = await pipelineExampleCommand(join(dir, 'ex'));
    expect(out.data.files).toEqual(EXAMPLE_FILES.map((f) => join(dir, 'ex', f)));
    expect(out.text).toContain('tetrafleet pipeline submit');

    const yaml = await readFile(join(dir, 'ex', 'pipeline.yaml'), 'utf8');
    const { spec } = parsePipelineFile(yaml, 'pipeline.yaml');
    expect(spec.stages.map((s) => s.model.uri)).toEqual([
      join(dir, 'ex', 'detect.onnx'),
      join(dir, 'ex', 'classify.onnx'),
    ]);
    expect(spec.edges).toEqual([expect.objectContaining({ from: 'detect', to: 'classify', probability: 1 })]);

    const query = JSON.parse(await readQueryFile(join(dir, 'ex', 'query.json'))) as {
      input: { dims: number[]; data: number[] };
    };
    const detect = await InferenceSession.create(join(dir, 'ex', 'detect.onnx'));
    const classify = await InferenceSession.create(join(dir, 'ex', 'classify.onnx'));
    const image = new Tensor('float32', Float32Array.from(query.input.data), query.input.dims);
    const features = (await detect.run({ [detect.inputNames[0] as string]: image }))[
      detect.outputNames[0] as string
    ] as Tensor;
    expect(features.dims).toEqual([1, 64]);
    const classes = (await classify.run({ [classify.inputNames[0] as string]: features }))[
      classify.outputNames[0] as string
    ] as Tensor;
    expect(classes.dims).toEqual([1, 10]);
    await Promise.all([detect.release(), classify.release()]);
  });

  it('refuses to overwrite an earlier example unless forced, and leaves it as it was', async () => {
    const target = join(dir, 'twice');
    await pipelineExampleCommand(target);
    await writeFile(join(target, 'pipeline.yaml'), 'edited by hand\n');
    const error = await pipelineExampleCommand(target).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliUsageError);
    expect(exitCodeOf(error)).toBe(EXIT.usage);
    expect((error as Error).message).toMatch(/pipeline\.yaml.*already exist; pass --force/);
    expect(await readFile(join(target, 'pipeline.yaml'), 'utf8')).toBe('edited by hand\n');

    await pipelineExampleCommand(target, { force: true });
    expect(await readFile(join(target, 'pipeline.yaml'), 'utf8')).toContain('name: example');
  });

  it('says why it cannot write where the directory cannot be made', async () => {
    const file = join(dir, 'plain-file');
    await writeFile(file, 'not a directory');
    const error = await pipelineExampleCommand(join(file, 'ex')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliEnvironmentError);
    expect((error as Error).message).toMatch(/cannot write the example to .*plain-file\/ex: ENOTDIR/);
    expect((await stat(file)).isFile()).toBe(true);
  });
});

describe('tetrafleet pipeline infer: the query file', () => {
  it('names the field that is wrong, or says the file is not JSON', async () => {
    const write = async (name: string, text: string) => {
      await writeFile(join(dir, name), text);
      return join(dir, name);
    };
    expect((await refusal(await write('bad.json', '{"input": '))).message).toMatch(/^bad\.json: .*not JSON/);
    expect(
      (await refusal(await write('short.json', '{"input":{"dims":[1,4],"data":[1,2,3]}}'))).issues,
    ).toEqual([{ path: 'input.data', message: 'dims 1x4 need 4 values, got 3' }]);
    const missing = await refusal(await write('nodims.json', '{"input":{"data":[1]}}'));
    expect(missing.issues.map((i) => i.path)).toEqual(['input.dims']);
    expect((await refusal(join(dir, 'absent.json'))).message).toMatch(
      /cannot read .*absent\.json: no such file/,
    );
  });

  it('keeps a JSON syntax error on one line, and says a missing input is required', async () => {
    await writeFile(join(dir, 'words.json'), 'hello\nworld\n');
    expect((await refusal(join(dir, 'words.json'))).message).toMatch(/^words\.json: not JSON: [^\n]+$/);
    await writeFile(join(dir, 'noinput.json'), '{"dims":[1]}');
    expect((await refusal(join(dir, 'noinput.json'))).message).toBe('noinput.json: input: is required');
  });
});

// ------------------------------------------------------------------------------------ infer, live HTTP

const NOW = 1_800_000_000_000;

const record: PipelineRecord = {
  pipelineId: 'vision',
  spec: twoStageSpec(),
  status: 'SERVING',
  createdAt: NOW,
  updatedAt: NOW,
  version: 3,
  targets: {},
  targetsAt: NOW,
};

function sourceOf(views: Record<string, PipelineView>): CliSource {
  const client = { getPipeline: async (id: string) => views[id] };
  return { client, close: () => {} } as unknown as CliSource;
}

/**
 * A router stand-in: the i-th query gets answers[i] (the last one for ever after), with Retry-After 1 on a
 * 503; it counts what it was sent.
 */
async function fakeRouter(
  ...answers: { status: number; body: object }[]
): Promise<{ url: string; hits: string[]; server: Server }> {
  const hits: string[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (c) => {
      text += c;
    });
    req.on('end', () => {
      const { status, body } = answers[Math.min(hits.length, answers.length - 1)] as (typeof answers)[number];
      hits.push(`${req.method} ${req.url} ${req.headers['content-type']} ${text.length}`);
      const retry = status === 503 ? { 'retry-after': '1' } : {};
      res.writeHead(status, { 'content-type': 'application/json', ...retry }).end(JSON.stringify(body));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hits, server };
}

describe('tetrafleet pipeline infer', () => {
  const query = '{"input":{"dims":[1,2],"data":[0.5,0.25]}}';

  it("sends the query to the newest router and shows the answer's stages, output and time", async () => {
    const answer = {
      pipelineId: 'vision',
      output: { dims: [1, 3], data: [0.1, 0.2, 0.7] },
      totalMs: 12.5,
      stages: ['detect', 'classify'],
    };
    const newer = await fakeRouter({ status: 200, body: answer });
    const older = await fakeRouter({ status: 200, body: answer });
    try {
      const view = {
        record,
        endpoints: [
          endpoint(ROUTER_STAGE, older.url, NOW, 'vision'),
          endpoint(ROUTER_STAGE, newer.url, NOW + 5000, 'vision'),
        ],
      };
      const out = await pipelineInferCommand(sourceOf({ vision: view }), 'vision', query);
      expect(newer.hits).toEqual([`POST /v1/pipelines/vision/infer application/json ${query.length}`]);
      expect(older.hits).toEqual([]);
      expect(out.data.answer).toMatchObject({ totalMs: 12.5, stages: ['detect', 'classify'] });
      expect(out.text).toMatch(/^answered in 12\.5 ms at the router .* through detect -> classify/);
      expect(out.text).toContain('dims [1, 3]: 0.1000, 0.2000, 0.7000');
    } finally {
      newer.server.close();
      older.server.close();
    }
  });

  it('fails with the router reason when it sheds or the deadline passes, retryable', async () => {
    const router = await fakeRouter({
      status: 504,
      body: { error: 'deadline passed while queued at stage classify', reason: 'deadline' },
    });
    try {
      const view = { record, endpoints: [endpoint(ROUTER_STAGE, router.url, NOW, 'vision')] };
      const error = await pipelineInferCommand(sourceOf({ vision: view }), 'vision', query).catch(
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(InferRefusedError);
      expect((error as InferRefusedError).retryable).toBe(true);
      expect((error as Error).message).toBe(
        'the router refused the query: deadline passed while queued at stage classify (HTTP 504)',
      );
      expect(exitCodeOf(error)).toBe(EXIT.failure);
      expect(router.hits).toHaveLength(1);
    } finally {
      router.server.close();
    }
  });

  it('asks again after a 503 while a stage starts, and says which try was answered', async () => {
    const starting = {
      status: 503,
      body: { error: 'pipeline vision is not serving: stage classify has no replica serving yet' },
    };
    const answer = { output: { dims: [1, 1], data: [1] }, totalMs: 3, stages: ['detect', 'classify'] };
    const router = await fakeRouter(starting, { status: 200, body: answer });
    try {
      const view = { record, endpoints: [endpoint(ROUTER_STAGE, router.url, NOW, 'vision')] };
      const out = await pipelineInferCommand(sourceOf({ vision: view }), 'vision', query);
      expect(router.hits).toHaveLength(2);
      expect(out.data.tries).toBe(2);
      expect(out.text).toContain('on try 2 (the router asked to retry)');
    } finally {
      router.server.close();
    }
  });

  it('gives up on a router that keeps answering 503 once the timeout would pass', async () => {
    const router = await fakeRouter({ status: 503, body: { error: 'stage detect queue is full' } });
    try {
      const view = { record, endpoints: [endpoint(ROUTER_STAGE, router.url, NOW, 'vision')] };
      const error = await pipelineInferCommand(sourceOf({ vision: view }), 'vision', query, {
        timeoutMs: 1500,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InferRefusedError);
      expect((error as Error).message).toMatch(
        /^the router refused the query (2 times)?: stage detect queue is full \(HTTP 503\)$/,
      );
      expect(router.hits.length).toBeLessThanOrEqual(2);
    } finally {
      router.server.close();
    }
  });

  it('says when the pipeline has no router yet, and when there is no such pipeline', async () => {
    const planning = { record: { ...record, status: 'PLANNING' as const }, endpoints: [] };
    const error = await pipelineInferCommand(sourceOf({ vision: planning }), 'vision', query, {
      timeoutMs: 0,
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliEnvironmentError);
    expect((error as Error).message).toMatch(/^pipeline vision is PLANNING and has no router serving yet/);
    await expect(pipelineInferCommand(sourceOf({}), 'nope', query)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('waits within the timeout for the router of a pipeline still being planned', async () => {
    const answer = { output: { dims: [1, 1], data: [1] }, totalMs: 3, stages: ['detect', 'classify'] };
    const router = await fakeRouter({ status: 200, body: answer });
    try {
      const views: PipelineView[] = [
        { record: { ...record, status: 'PROFILING' }, endpoints: [] },
        { record: { ...record, status: 'PLANNING' }, endpoints: [] },
        { record, endpoints: [endpoint(ROUTER_STAGE, router.url, NOW, 'vision')] },
      ];
      let reads = 0;
      const client = { getPipeline: async () => views[Math.min(reads++, views.length - 1)] };
      const slept: number[] = [];
      const out = await pipelineInferCommand({ client } as unknown as CliSource, 'vision', query, {
        sleep: async (ms) => {
          slept.push(ms);
        },
      });
      expect(reads).toBe(3);
      expect(slept).toHaveLength(2);
      expect(out.data.answer.stages).toEqual(['detect', 'classify']);
    } finally {
      router.server.close();
    }
  });

  it.each([
    ['STOPPED', 'pipeline vision is STOPPED (stopped by the user) and will never serve'],
    ['REFUSED', 'pipeline vision is REFUSED (slo below the fastest path) and will never serve'],
  ] as const)('fails at once with exit 2 when the pipeline is %s', async (status, message) => {
    const reason = status === 'STOPPED' ? 'stopped by the user' : 'slo below the fastest path';
    const view = { record: { ...record, status, reason }, endpoints: [] };
    const slept: number[] = [];
    const error = await pipelineInferCommand(sourceOf({ vision: view }), 'vision', query, {
      sleep: async (ms) => {
        slept.push(ms);
      },
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toContain(message);
    expect(exitCodeOf(error)).toBe(EXIT.usage);
    expect(slept).toEqual([]);
  });

  it('fails at once with exit 2 and the reasons when admission refused the pipeline', async () => {
    const client = {
      getPipeline: async () => {
        throw new PipelineRejectedError('vision', 'ValidationError: invalid pipeline submission: x', [
          { path: 'stages.0.model.uri', message: 'model s3://m/a.onnx not found' },
        ]);
      },
    };
    const error = await pipelineInferCommand({ client } as unknown as CliSource, 'vision', query).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(CliUsageError);
    expect((error as Error).message).toBe(
      'pipeline vision was refused at admission (stages.0.model.uri: model s3://m/a.onnx not found) and will never serve: fix the spec and submit it again',
    );
  });
});

describe('tetrafleet pipeline load', () => {
  const query = '{"input":{"dims":[1,2],"data":[0.5,0.25]}}';
  const answer = { output: { dims: [1, 1], data: [1] }, totalMs: 2, stages: ['detect', 'classify'] };

  it('sends the drawn arrivals, counts every answer by status, and reads the targets each interval', async () => {
    const ok = { status: 200, body: answer };
    const shed = { status: 503, body: { error: 'stage detect queue is full' } };
    const router = await fakeRouter(ok, ok, ok, shed);
    const seen: string[] = [];
    try {
      const view = {
        record: { ...record, targets: { detect: 2, classify: 1 } },
        endpoints: [endpoint(ROUTER_STAGE, router.url, NOW, 'vision')],
      };
      const out = await pipelineLoadCommand(sourceOf({ vision: view }), 'vision', query, {
        ratePerSecond: 40,
        seconds: 1,
        seed: 5,
        intervalMs: 250,
        onProgress: (line) => seen.push(line),
      });
      const expected = gammaTrace({ ratePerSecond: 40, cv: 1, durationSeconds: 1 }, 5).length;
      const r = out.data;
      expect(r.sent).toBe(expected);
      expect(router.hits).toHaveLength(expected);
      expect(r.answered).toBe(Math.min(3, expected));
      expect(r.byStatus).toEqual({ '200': r.answered, ...(expected > 3 ? { '503': expected - 3 } : {}) });
      expect(r.intervals.reduce((n, i) => n + i.sent, 0)).toBe(expected);
      expect(r.intervals.reduce((n, i) => n + i.answered + i.refused, 0)).toBe(expected);
      expect(r.intervals.every((i) => i.targets.detect === 2 && i.targets.classify === 1)).toBe(true);
      expect(seen).toHaveLength(r.intervals.length);
      expect(out.text).toContain(`load on vision: ${expected} queries in 1 s (Gamma, 40/s, CV 1)`);
      expect(out.text).toContain(`${expected - 3} x 503 (shed or not serving)`);
    } finally {
      router.server.close();
    }
  });

  it('fails before sending anything for a pipeline with no router or none at all', async () => {
    const planning = { record: { ...record, status: 'PLANNING' as const }, endpoints: [] };
    const opts = { ratePerSecond: 10, seconds: 1 };
    await expect(
      pipelineLoadCommand(sourceOf({ vision: planning }), 'vision', query, opts),
    ).rejects.toBeInstanceOf(CliEnvironmentError);
    await expect(pipelineLoadCommand(sourceOf({}), 'nope', query, opts)).rejects.toBeInstanceOf(
      NotFoundError,
    );
  });
});
