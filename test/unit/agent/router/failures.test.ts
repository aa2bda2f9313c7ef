import { performance } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { NotServingError, QueryFailedError } from '../../../../agent/router/errors.ts';
import { PipelineRouter } from '../../../../agent/router/pipeline-router.ts';
import type { PipelineRouterOptions } from '../../../../agent/router/pipeline-router-options.ts';
import { decodeAnswer, ReplicaError } from '../../../../agent/router/replica-client.ts';
import { ValidationError } from '../../../../lib/core/errors.ts';
import type { ServingEndpoint } from '../../../../lib/core/model/pipeline-serving.ts';
import { waitFor } from '../fakes.ts';
import { endpoint, HeldSender, query, type RecordOptions, servingRecord } from './helpers.ts';

function router(
  held: HeldSender,
  record: RecordOptions,
  endpoints: ServingEndpoint[],
  options: Partial<PipelineRouterOptions> = {},
): PipelineRouter {
  const r = new PipelineRouter({
    pipelineId: 'pipe',
    send: held.send,
    now: () => performance.now(),
    seed: 1,
    dropExpired: true,
    batchTimeoutMs: 60_000,
    replicaCooldownMs: 60_000,
    retryAfterSeconds: 1,
    log: () => {},
    ...options,
  });
  r.apply({ record: servingRecord(record), endpoints });
  return r;
}

/** What a query came to: its answer's first value, or the error it failed with. */
function outcome(p: Promise<{ output: { data: Float32Array } }>): Promise<number | Error> {
  return p.then(
    (r) => r.output.data[0] as number,
    (e: unknown) => e as Error,
  );
}

function refused400(): ReplicaError {
  return new ReplicaError('http://a1 answered 400', 400, {
    issues: [{ path: 'inputs.x.dims.1', message: 'must be 8, got 4' }],
  });
}

describe('a replica refusing a batch', () => {
  it("fails the queries at once with the replica's field issues on a 400, without cooling the replica down", async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a' }] }, [endpoint('a', 'http://a1', 1)]);
    const bad = outcome(r.submit(query(1)));
    await waitFor(() => held.pending().length === 1, 'the batch');
    held.pending()[0]?.fail(refused400());
    const error = await bad;
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues).toEqual([
      { path: 'stages.a.inputs.x.dims.1', message: 'must be 8, got 4' },
    ]);
    expect(held.sent).toHaveLength(1);
    // The same (only) replica takes the next query at once: it was not put in cool-down.
    const good = outcome(r.submit(query(2)));
    await waitFor(() => held.pending().length === 1, 'the next batch');
    expect(held.pending()[0]?.url).toBe('http://a1');
    held.pending()[0]?.release();
    expect(await good).toBe(3);
  });

  it('splits a batch the replica refuses as too large (413) and answers every query', async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a', maxBatch: 4 }] }, [endpoint('a', 'http://a1', 1)]);
    const first = outcome(r.submit(query(1)));
    await waitFor(() => held.pending().length === 1, 'the first batch');
    const rest = [2, 3, 4].map((t) => outcome(r.submit(query(t))));
    held.pending()[0]?.release();
    await waitFor(() => held.pending().length === 1, 'a batch of three');
    expect(held.pending()[0]?.tags).toEqual([2, 3, 4]);
    held.pending()[0]?.fail(new ReplicaError('http://a1 answered 413', 413));
    held.autoRelease = true;
    expect(await Promise.all([first, ...rest])).toEqual([2, 3, 4, 5]);
    // The refused three went again in batches of at most half its bytes, to the same replica.
    expect(held.sent.slice(2).every((b) => b.tags.length === 1 && b.url === 'http://a1')).toBe(true);
    expect(r.stats.totals().counts).toMatchObject({ completed: 4, errors: 0 });
  });

  it('fails when a query alone is over the replica body limit: 413 for that query only', async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a' }] }, [endpoint('a', 'http://a1', 1)]);
    const big = outcome(r.submit(query(1)));
    await waitFor(() => held.pending().length === 1, 'the batch');
    held.pending()[0]?.fail(new ReplicaError('http://a1 answered 413', 413));
    const error = await big;
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).reason).toBe('too-large');
  });

  it('fails at the door when the dims miss the entry stage model input shape, naming the field', async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a' }, { id: 'b' }], edges: [{ from: 'a', to: 'b' }] }, [
      endpoint('a', 'http://a1', 1),
      endpoint('b', 'http://b1', 1),
    ]);
    expect(r.entryStagesWithoutShape()).toEqual([{ stageId: 'a', urls: ['http://a1'] }]);
    r.setInputShape('a', ['batch', 8]);
    const error = await r.submit(query(1, 4)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).issues.map((i) => i.path)).toEqual(['dims.1']);
    expect(held.sent).toHaveLength(0);
    expect(r.stats.totals().counts.arrivals).toBe(0);
  });
});

describe('a batch in flight', () => {
  it("fails when a replica holds a batch past its queries' deadline: 504 naming the replica's silence", async () => {
    const held = new HeldSender();
    // A sender that never answers, with a batch timeout far beyond the SLO.
    const r = router(held, { stages: [{ id: 'a' }], sloMs: 40 }, [endpoint('a', 'http://a1', 1)], {
      deadlineMarginMs: 10,
    });
    const error = await outcome(r.submit(query(1)));
    expect(error).toBeInstanceOf(QueryFailedError);
    expect((error as QueryFailedError).reason).toBe('deadline');
    expect((error as Error).message).toContain('http://a1 gave no answer within');
    expect(held.sent).toHaveLength(1);
  });

  it('tells the sender the time left to the latest deadline, not the whole batch timeout', async () => {
    const timeouts: number[] = [];
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a' }], sloMs: 300 }, [endpoint('a', 'http://a1', 1)], {
      send: (url, input, timeoutMs) => {
        timeouts.push(timeoutMs);
        return held.send(url, input, timeoutMs);
      },
    });
    const answer = r.submit(query(1));
    await waitFor(() => held.pending().length === 1, 'the batch');
    held.pending()[0]?.release();
    await answer;
    expect(timeouts[0]).toBeLessThanOrEqual(350);
  });
});

describe('a closed router', () => {
  it('fails queued queries as closed and neither requeues nor resends a batch that fails after the close', async () => {
    const held = new HeldSender();
    const r = router(held, { stages: [{ id: 'a' }] }, [
      endpoint('a', 'http://a1', 1),
      endpoint('a', 'http://a2', 2),
    ]);
    const inFlight = outcome(r.submit(query(1)));
    const alsoInFlight = outcome(r.submit(query(2)));
    const queued = outcome(r.submit(query(3)));
    await waitFor(() => held.pending().length === 2, 'two batches');
    r.close();
    expect(await queued).toMatchObject({ reason: 'closed' });
    held.pending()[0]?.fail();
    expect(await inFlight).toMatchObject({ reason: 'closed' });
    // An answer already on its way is still delivered.
    held.pending()[0]?.release();
    expect(await alsoInFlight).toBe(3);
    expect(held.sent).toHaveLength(2);
    await expect(r.submit(query(4))).rejects.toBeInstanceOf(NotServingError);
  });
});

describe('directory readings', () => {
  it('never applies a reading of an older plan than the one it serves', () => {
    const held = new HeldSender();
    const endpoints = [endpoint('a', 'http://a1', 1)];
    const r = router(held, { stages: [{ id: 'a', maxBatch: 4 }], plannedAt: 20 }, endpoints);
    r.apply({ record: servingRecord({ stages: [{ id: 'a', maxBatch: 1 }], plannedAt: 10 }), endpoints });
    expect(r.servingPlan?.plannedAt).toBe(20);
    expect(r.servingPlan?.config.a?.maxBatch).toBe(4);
    r.apply({ record: servingRecord({ stages: [{ id: 'a', maxBatch: 2 }], plannedAt: 30 }), endpoints });
    expect(r.servingPlan?.config.a?.maxBatch).toBe(2);
  });
});

describe('replica answers', () => {
  const bytes = (n: number) => Buffer.alloc(n * 4);

  it('decodes an answer whose dims describe its body', () => {
    expect(decodeAnswer('http://a1', 200, '2, 3', bytes(6)).dims).toEqual([2, 3]);
    expect(decodeAnswer('http://a1', 200, '0,3', bytes(0)).dims).toEqual([0, 3]);
  });

  it.each([
    ['dims that do not match the body', '2,4'],
    ['hex dims', '0x2,3'],
    ['exponent dims', '2e0,3'],
    ['negative dims', '-2,-3'],
    ['empty dims', ''],
    ['an empty dim', '2,,3'],
  ])('fails when a replica answers with %s: a replica failure, not a query fault', (_, dims) => {
    let error: unknown;
    try {
      decodeAnswer('http://a1', 200, dims, bytes(6));
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ReplicaError);
    expect((error as ReplicaError).inputRefused).toBe(false);
  });

  it("carries a 400's field issues as the queries' fault, and not a 404's", () => {
    const body = Buffer.from(JSON.stringify({ error: 'bad', issues: [{ path: 'inputs.x', message: 'm' }] }));
    const refused = (() => {
      try {
        return decodeAnswer('http://a1', 400, undefined, body);
      } catch (e) {
        return e as ReplicaError;
      }
    })() as ReplicaError;
    expect(refused.inputRefused).toBe(true);
    expect(refused.issues).toEqual([{ path: 'inputs.x', message: 'm' }]);
    expect(() => decodeAnswer('http://a1', 404, undefined, body)).toThrow(/answered 404/);
  });
});
