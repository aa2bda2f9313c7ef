import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ModelUploader } from '../../../lib/aws/s3-model-upload.ts';
import { parsePipelineFile, pipelineSubmitCommand } from '../../../lib/cli/commands/pipeline.ts';
import {
  parseUploadDestination,
  uploadKey,
  uploadLocalModels,
} from '../../../lib/cli/commands/pipeline-upload.ts';
import { CliUsageError } from '../../../lib/cli/errors.ts';
import { formatBytes } from '../../../lib/cli/format.ts';
import { JobFileError } from '../../../lib/cli/job-file.ts';
import type { CliSource } from '../../../lib/cli/source.ts';
import { NotFoundError } from '../../../lib/core/errors.ts';

/** An uploader over a map of URI -> bytes, recording every put. */
function memoryUploader(): ModelUploader & { objects: Map<string, number>; puts: string[] } {
  const objects = new Map<string, number>();
  const puts: string[] = [];
  return {
    objects,
    puts,
    checkBucket: async (bucket) => {
      if (bucket === 'missing') throw new NotFoundError('bucket', bucket);
    },
    sizeOf: async (uri) => objects.get(uri),
    put: async (_path, uri, bytes) => {
      puts.push(uri);
      objects.set(uri, bytes);
    },
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'tf-upload-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

/** A spec whose stages name `uris`, parsed as the CLI parses a file. */
function specNaming(uris: readonly string[]) {
  return parsePipelineFile(
    JSON.stringify({
      name: 'vision',
      sloP99Ms: 200,
      stages: uris.map((uri, i) => ({ id: `s${i}`, model: { uri } })),
      edges: uris.slice(1).map((_, i) => ({ from: `s${i}`, to: `s${i + 1}` })),
    }),
    'vision.yaml',
  );
}

describe('pipeline submit --upload-models', () => {
  it('parses s3://BUCKET and s3://BUCKET/PREFIX, and refuses anything else with what a valid one is', () => {
    expect(parseUploadDestination('s3://models')).toEqual({ bucket: 'models', prefix: '' });
    expect(parseUploadDestination('s3://models/')).toEqual({ bucket: 'models', prefix: '' });
    expect(parseUploadDestination('s3://models/team/vision')).toEqual({
      bucket: 'models',
      prefix: 'team/vision/',
    });
    expect(parseUploadDestination('s3://my.models-1/a/')).toEqual({ bucket: 'my.models-1', prefix: 'a/' });
    for (const bad of ['models', '/tmp/models', 's3://', 's3://Models', 's3://a_b/x', 'https://models/x'])
      expect(() => parseUploadDestination(bad), bad).toThrow(CliUsageError);
    expect(() => parseUploadDestination('s3://A')).toThrow(/s3:\/\/BUCKET or s3:\/\/BUCKET\/PREFIX/);
  });

  it('names an object by the file name and its content hash, made safe for a key', () => {
    const hex = 'ab'.repeat(32);
    expect(uploadKey('/m/detector.onnx', hex, 'p/')).toBe(`p/detector-${'ab'.repeat(8)}.onnx`);
    expect(uploadKey('/m/my model (v2).onnx', hex, '')).toBe(`my_model__v2_-${'ab'.repeat(8)}.onnx`);
    expect(uploadKey('/m/model', hex, '')).toBe(`model-${'ab'.repeat(8)}.onnx`);
  });

  it('uploads each local file once, rewrites every stage naming it, and leaves s3:// URIs alone', async () => {
    const a = join(dir, 'a.onnx');
    const b = join(dir, 'b.onnx');
    await writeFile(a, 'model a bytes');
    await writeFile(b, 'model b');
    const parsed = specNaming([a, b, a, 's3://elsewhere/c.onnx']);
    const uploader = memoryUploader();
    const progress: string[] = [];
    const out = await uploadLocalModels(parsed, parseUploadDestination('s3://models/v'), uploader, {
      onProgress: (l) => progress.push(l),
    });

    expect(uploader.puts).toHaveLength(2);
    const [toA, toB] = uploader.puts as [string, string];
    expect(toA).toMatch(/^s3:\/\/models\/v\/a-[0-9a-f]{16}\.onnx$/);
    expect(toB).toMatch(/^s3:\/\/models\/v\/b-[0-9a-f]{16}\.onnx$/);
    expect(out.file.spec.stages.map((s) => s.model.uri)).toEqual([toA, toB, toA, 's3://elsewhere/c.onnx']);
    // What is sent to the stack is rewritten too, and the parsed input it came from is untouched.
    expect(out.file.input.stages.map((s) => s.model.uri)).toEqual([toA, toB, toA, 's3://elsewhere/c.onnx']);
    expect(parsed.spec.stages[0]?.model.uri).toBe(a);
    expect(out.uploads).toEqual([
      { stages: ['s0', 's2'], from: a, to: toA, bytes: 13, sent: true },
      { stages: ['s1'], from: b, to: toB, bytes: 7, sent: true },
    ]);
    expect(progress).toEqual([
      `uploaded a.onnx (${formatBytes(13)}) to ${toA}`,
      `uploaded b.onnx (${formatBytes(7)}) to ${toB}`,
    ]);
  });

  it('sends nothing again for an unchanged file, and a changed one under a new name', async () => {
    const a = join(dir, 'a.onnx');
    await writeFile(a, 'version one');
    const uploader = memoryUploader();
    const to = parseUploadDestination('s3://models');
    const first = await uploadLocalModels(specNaming([a]), to, uploader);
    const again = await uploadLocalModels(specNaming([a]), to, uploader);
    expect(uploader.puts).toEqual([first.uploads[0]?.to]);
    expect(again.uploads[0]).toMatchObject({ to: first.uploads[0]?.to, sent: false });

    await writeFile(a, 'version two');
    const changed = await uploadLocalModels(specNaming([a]), to, uploader);
    expect(changed.uploads[0]?.sent).toBe(true);
    expect(changed.uploads[0]?.to).not.toBe(first.uploads[0]?.to);
    expect(uploader.puts).toHaveLength(2);
  });

  it('fails before uploading anything when a model file is missing, naming each stage that uses it', async () => {
    const a = join(dir, 'a.onnx');
    await writeFile(a, 'model a');
    const missing = join(dir, 'gone.onnx');
    const uploader = memoryUploader();
    const error = await uploadLocalModels(
      specNaming([a, missing, missing, dir]),
      parseUploadDestination('s3://models'),
      uploader,
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(JobFileError);
    expect((error as JobFileError).issues.map((i) => i.path)).toEqual([
      'stages.1.model.uri',
      'stages.2.model.uri',
      'stages.3.model.uri',
    ]);
    expect((error as JobFileError).message).toContain(
      `vision.yaml: stages.1.model.uri: no model file at ${missing}`,
    );
    expect(uploader.puts).toEqual([]);
  });

  it('fails before uploading anything when the bucket does not exist', async () => {
    const a = join(dir, 'a.onnx');
    await writeFile(a, 'model a');
    const uploader = memoryUploader();
    await expect(
      uploadLocalModels(specNaming([a]), parseUploadDestination('s3://missing/p'), uploader),
    ).rejects.toThrow('bucket missing not found');
    expect(uploader.puts).toEqual([]);
  });

  it('submits the uploaded URIs, also to a stack on AWS, and reports the uploads', async () => {
    const a = join(dir, 'a.onnx');
    await writeFile(a, 'model a');
    const uploader = memoryUploader();
    const submitted: unknown[] = [];
    const source = {
      client: {
        submitPipeline: async (spec: unknown, o: { pipelineId?: string }) => {
          submitted.push(spec);
          return { pipelineId: o.pipelineId ?? 'vision-1' };
        },
      },
      adapters: { modelUploads: uploader },
      endpoint: undefined,
      close: () => {},
    } as unknown as CliSource;
    const out = await pipelineSubmitCommand(source, specNaming([a]), {
      uploadModelsTo: parseUploadDestination('s3://models/p'),
    });
    const uri = uploader.puts[0] as string;
    expect(out.data.uploads).toEqual([{ stages: ['s0'], from: a, to: uri, bytes: 7, sent: true }]);
    expect(submitted).toEqual([expect.objectContaining({ stages: [{ id: 's0', model: { uri } }] })]);
  });
});
