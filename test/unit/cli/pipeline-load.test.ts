import { describe, expect, it } from 'vitest';
import { pipelineLoadCommand } from '../../../lib/cli/commands/pipeline-load.ts';
import { CliUsageError, EXIT } from '../../../lib/cli/errors.ts';
import { exitCodeOf } from '../../../lib/cli/run.ts';
import type { CliSource } from '../../../lib/cli/source.ts';
import {
  inWords,
  type PipelineRecord,
  ROUTER_STAGE,
  unansweredBy,
} from '../../../lib/core/model/pipeline-serving.ts';
import type { PipelineView } from '../../../lib/sdk/client-options.ts';
import { twoStageSpec } from '../../fakes/fake-pipeline-store.ts';
import { endpoint } from '../agent/router/helpers.ts';

const NOW = 1_764_000_000_000;
const query = JSON.stringify({ input: { dims: [1, 4], data: [1, 2, 3, 4] } });

const stopped: PipelineRecord = {
  pipelineId: 'vision',
  spec: twoStageSpec(),
  status: 'STOPPED',
  reason: 'stopped by the user',
  createdAt: NOW,
  updatedAt: NOW,
  version: 5,
  targets: {},
  targetsAt: NOW,
};

function sourceOf(view: PipelineView): CliSource {
  const client = { getPipeline: async (id: string) => (id === 'vision' ? view : undefined) };
  return { client, close: () => {} } as unknown as CliSource;
}

describe('tetrafleet pipeline load', () => {
  it.each([
    ['with no router left', []],
    // Its router's endpoint is listed until the scale step has cancelled it: no traffic goes there either.
    ['whose router is still listed', [endpoint(ROUTER_STAGE, 'http://127.0.0.1:9', NOW, 'vision')]],
  ])(
    'refuses a stopped pipeline %s at once (exit 2), not as one still to wait for',
    async (_what, endpoints) => {
      const error = await pipelineLoadCommand(sourceOf({ record: stopped, endpoints }), 'vision', query, {
        ratePerSecond: 10,
        seconds: 1,
      }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(CliUsageError);
      expect(exitCodeOf(error)).toBe(EXIT.usage);
      expect((error as Error).message).toBe(
        'pipeline vision is STOPPED (stopped by the user) and will never serve: submit the spec under a new id to serve it',
      );
    },
  );
});

describe('what a pipeline lacks before it answers', () => {
  it('lists each stage without a replica and a missing router, in words', () => {
    const spec = twoStageSpec();
    const ids = spec.stages.map((s) => s.id);
    expect(unansweredBy(spec, [])).toEqual([...ids.map((id) => `a replica of ${id}`), 'the router']);
    expect(unansweredBy(spec, [endpoint(ids[0] as string, 'http://h:1', NOW, 'vision')])).toEqual([
      `a replica of ${ids[1]}`,
      'the router',
    ]);
    expect(
      unansweredBy(
        spec,
        [...ids, ROUTER_STAGE].map((id) => endpoint(id, 'http://h:1', NOW, 'vision')),
      ),
    ).toEqual([]);
    expect(inWords(['a', 'b', 'c'])).toBe('a, b and c');
    expect(inWords(['a'])).toBe('a');
    expect(inWords([])).toBe('');
  });
});
