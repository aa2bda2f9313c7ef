import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SPOT_DRAIN_GRACE_SECONDS } from '../../lib/core/control/ingest.ts';
import { LABEL } from '../../lib/core/control/pipeline-jobs.ts';
import type { PipelineSpec } from '../../lib/core/model/pipeline.ts';
import { newestRouter, type ServingEndpoint } from '../../lib/core/model/pipeline-serving.ts';
import { ec2SpotEvent } from '../../lib/core/protocol/ec2-events.ts';
import { buildMlp, writeModel } from '../../lib/onnx/index.ts';
import { eventually } from '../support/eventually.ts';
import { type PipelineCloud, startPipelineCloud } from '../support/pipeline-cloud.ts';
import { inferOnce, openLoop, type Sent } from '../support/pipeline-load.ts';

/**
 * A spot interruption of an instance that serves a pipeline replica, on the emulator: EC2's two-minute
 * warning reaches ingest through the events queue -> the replica's job is requeued and the instance told
 * to drain, serving through the grace -> the schedule cycle places the replacement elsewhere and its agent
 * starts it -> the router dispatches to both -> the old replica is handed back when the grace ends and its
 * endpoint leaves the directory. Load runs through the router the whole time; every query must be
 * answered, and the replacement must be listed before the interrupted replica leaves (make before break).
 * Then a rebalance recommendation for the router's instance: its router (and any replica there) is replaced
 * the same way, the at-risk ones serving on beside their replacements while clients move to the new router.
 */

const PIPELINE = 'spot-pipe';
const QUERY = new Float32Array(16).map((_, i) => Math.cos(i));

let env: PipelineCloud;
let spec: PipelineSpec;

beforeAll(async () => {
  env = await startPipelineCloud('tetrafleet-spot-e2e');
  const uri = await writeModel(
    join(env.modelDir, 'classify.onnx'),
    buildMlp({ inputSize: 16, hiddenSizes: [64], outputSize: 4, seed: 5 }).bytes,
  );
  // One light stage on the CPU type: quick to profile and plan, so the test is about the interruption.
  spec = {
    name: PIPELINE,
    owner: 'e2e',
    sloP99Ms: 300,
    stages: [{ id: 'classify', model: { uri }, instanceTypes: ['c7i.large'] }],
    edges: [],
    sampleTrace: { kind: 'gamma', ratePerSecond: 10, cv: 1, durationSeconds: 60, seed: 3 },
  };
}, 300_000);

afterAll(() => env?.stop(), 120_000);

/** EC2's spot interruption warning or rebalance recommendation for one instance, on the events queue. */
async function sendEvent(kind: 'warning' | 'rebalance', instanceId: string): Promise<void> {
  const body = JSON.stringify(ec2SpotEvent(kind, instanceId, new Date(), randomUUID()));
  const sqs = new SQSClient(env.cloud.config.adapters.aws);
  try {
    await sqs.send(new SendMessageCommand({ QueueUrl: env.cloud.config.queues.events, MessageBody: body }));
  } finally {
    sqs.destroy();
  }
}

/** What the stores say about a replica that left the directory, for a failure message. */
async function whyGone(victim: ServingEndpoint, warnedAt: number | undefined): Promise<string> {
  const when =
    warnedAt === undefined ? 'before the warning' : `${Date.now() - warnedAt} ms after the warning`;
  const job = await env.adapters.jobs.get(victim.jobId);
  const tasks = await env.adapters.fleetStore.tasksOfJob(victim.jobId);
  const instance = await env.adapters.fleetStore.getInstance(victim.instanceId);
  return `the replica (attempt ${victim.attempt}) left the directory ${when}: job ${JSON.stringify({
    status: job?.status,
    attempts: job?.attempts,
    error: job?.error,
  })}, tasks ${JSON.stringify(tasks.map((t) => [t.attempt, t.state, t.instanceId]))}, instance ${
    instance?.state
  }`;
}

const replicas = (endpoints: readonly ServingEndpoint[]) => endpoints.filter((e) => e.stageId === 'classify');
const same = (a: ServingEndpoint, b: ServingEndpoint) => a.jobId === b.jobId && a.attempt === b.attempt;

describe('a spot interruption of a serving replica', () => {
  it('serves every query while the replica is replaced, the new one listed before the old one leaves', async () => {
    const { client, adapters } = env;
    await client.submitPipeline(spec, { pipelineId: PIPELINE });
    await client.waitForPipeline(PIPELINE, { status: 'SERVING', timeoutMs: 300_000 });
    // The victim is the replica of slot 0: a scale-down retires the highest slots first, so it is never
    // one the tuner takes away while the test watches (the plan may start with more replicas than the
    // test's light load keeps, when profiling ran on a loaded machine).
    const { view, victim } = await eventually(
      async () => {
        const v = await client.getPipeline(PIPELINE);
        if (!v || !newestRouter(v.endpoints)) return undefined;
        for (const e of replicas(v.endpoints)) {
          const job = await client.getJob(e.jobId);
          if (job?.spec.labels[LABEL.slot] === '0') return { view: v, victim: e };
        }
        return undefined;
      },
      240_000,
      'the router and the replica of slot 0',
    );
    let routerUrl = newestRouter(view.endpoints) as string;
    const send = () => inferOnce(routerUrl, PIPELINE, QUERY, '1,16');
    await eventually(async () => (await send()).status === 200, 60_000, 'a first answer');

    // Watch the directory: when the replacement appears, when the interrupted replica leaves, and that a
    // replica of the stage is listed at every look.
    const sent: Promise<Sent>[] = [];
    let replacementAt: number | undefined;
    let victimGoneAt: number | undefined;
    let warnedAt: number | undefined;
    let goneWith = '';
    let leastListed = Number.POSITIVE_INFINITY;
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const v = await client.getPipeline(PIPELINE);
        if (v) {
          routerUrl = newestRouter(v.endpoints) ?? routerUrl;
          const listed = replicas(v.endpoints);
          leastListed = Math.min(leastListed, listed.length);
          const now = Date.now();
          if (
            replacementAt === undefined &&
            listed.some((e) => e.jobId === victim.jobId && e.attempt > victim.attempt)
          )
            replacementAt = now;
          if (victimGoneAt === undefined && !listed.some((e) => same(e, victim))) {
            victimGoneAt = now;
            goneWith = await whyGone(victim, warnedAt);
          }
        }
        await new Promise((r) => setTimeout(r, 500));
      }
    })();

    try {
      await openLoop(send, 5, 5, sent);
      // Nothing but the warning may take the replica away: a departure before it is a fault of its own.
      expect(victimGoneAt, goneWith).toBeUndefined();
      await sendEvent('warning', victim.instanceId);
      warnedAt = Date.now();
      // Load through the grace, until the interrupted replica has left the directory, and a little after.
      const deadline = (warnedAt as number) + (SPOT_DRAIN_GRACE_SECONDS + 120) * 1000;
      while (victimGoneAt === undefined && Date.now() < deadline) await openLoop(send, 5, 2, sent);
      await openLoop(send, 5, 5, sent);
    } finally {
      watching = false;
      await watcher;
    }
    const results = await Promise.all(sent);
    if (process.env.TF_E2E_DEBUG)
      console.log(
        JSON.stringify({
          queries: results.length,
          replacementAfterMs: (replacementAt ?? Number.NaN) - warnedAt,
          victimGoneAfterMs: (victimGoneAt ?? Number.NaN) - warnedAt,
          victim: victim.instanceId,
          listedAtStart: replicas(view.endpoints).length,
          plan: view.record.plan?.config,
          headroom: view.record.plan?.headroom,
          routerOnVictim: view.endpoints.some(
            (e) => e.stageId !== 'classify' && e.instanceId === victim.instanceId,
          ),
          slowestMs: Math.max(...results.map((r) => r.ms)),
        }),
      );

    expect(replacementAt, `a replacement replica was listed; ${goneWith}`).toBeDefined();
    expect(victimGoneAt, 'the interrupted replica left the directory').toBeDefined();
    // Make before break: the replacement served beside the interrupted replica, which served on through
    // most of the grace.
    expect(replacementAt as number, goneWith).toBeLessThan(victimGoneAt as number);
    expect(victimGoneAt as number, goneWith).toBeGreaterThan(
      warnedAt + (SPOT_DRAIN_GRACE_SECONDS / 2) * 1000,
    );
    expect(leastListed).toBeGreaterThanOrEqual(1);
    const replacement = (await client.getPipeline(PIPELINE))?.endpoints.find(
      (e) => e.jobId === victim.jobId && e.attempt > victim.attempt,
    );
    expect(replacement?.instanceId).toBeDefined();
    expect(replacement?.instanceId).not.toBe(victim.instanceId);
    // Every query answered, through the warning, the overlap and the hand-back.
    const failed = results.filter((r) => r.status !== 200);
    expect(results.length).toBeGreaterThan(100);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
    // The drained instance is retired.
    await eventually(
      async () => {
        const i = await adapters.fleetStore.getInstance(victim.instanceId);
        return i?.state === 'TERMINATING' || i?.state === 'TERMINATED';
      },
      120_000,
      'the interrupted instance retired',
    );
  }, 900_000);

  it('replaces the router and replicas of an instance EC2 recommends rebalancing, make before break', async () => {
    // The pipeline of the test above. The at-risk instance is the router's, so a router is moved too.
    const { client, adapters } = env;
    const view = await eventually(
      async () => {
        const v = await client.getPipeline(PIPELINE);
        // Settled after the test above: each replica job listed once (no replacement beside its original).
        const jobs = replicas(v?.endpoints ?? []).map((e) => e.jobId);
        return v && newestRouter(v.endpoints) && jobs.length > 0 && new Set(jobs).size === jobs.length
          ? v
          : undefined;
      },
      120_000,
      'a router and the replicas, each listed once',
    );
    let routerUrl = newestRouter(view.endpoints) as string;
    const send = () => inferOnce(routerUrl, PIPELINE, QUERY, '1,16');
    const instanceId = (view.endpoints.find((e) => e.url === routerUrl) as ServingEndpoint).instanceId;
    const atRisk = view.endpoints.filter((e) => e.instanceId === instanceId);
    const replacementOf = (listed: readonly ServingEndpoint[], old: ServingEndpoint) =>
      listed.find((e) => e.jobId === old.jobId && e.attempt > old.attempt);
    const sent: Promise<Sent>[] = [];
    await openLoop(send, 5, 2, sent);
    await sendEvent('rebalance', instanceId);
    const recommendedAt = Date.now();
    // Load until every at-risk endpoint has a replacement listed; the at-risk ones must still be listed then.
    let listedThen: readonly ServingEndpoint[] | undefined;
    const deadline = Date.now() + 180_000;
    while (listedThen === undefined && Date.now() < deadline) {
      await openLoop(send, 5, 2, sent);
      const v = await client.getPipeline(PIPELINE);
      if (!v) continue;
      routerUrl = newestRouter(v.endpoints) ?? routerUrl;
      if (atRisk.every((old) => replacementOf(v.endpoints, old))) listedThen = v.endpoints;
    }
    const replacedAfterMs = Date.now() - recommendedAt;
    await openLoop(send, 5, 3, sent);
    const results = await Promise.all(sent);
    if (process.env.TF_E2E_DEBUG)
      console.log(
        JSON.stringify({
          queries: results.length,
          replacedAfterMs,
          atRisk: atRisk.map((e) => e.stageId),
          slowestMs: Math.max(...results.map((r) => r.ms)),
        }),
      );

    expect(listedThen, 'replacements listed within 180 s').toBeDefined();
    const now = listedThen as readonly ServingEndpoint[];
    for (const old of atRisk) {
      expect(
        now.some((e) => same(e, old)),
        `${old.stageId} still served beside its replacement`,
      ).toBe(true);
      expect(replacementOf(now, old)?.instanceId).not.toBe(instanceId);
    }
    // Clients moved to the new router: the newest router is no longer on the at-risk instance.
    expect(now.find((e) => e.url === routerUrl)?.instanceId).not.toBe(instanceId);
    // The at-risk instance takes no new work and drains.
    expect((await adapters.fleetStore.getInstance(instanceId))?.state).toBe('DRAINING');
    const failed = results.filter((r) => r.status !== 200);
    expect(results.length).toBeGreaterThan(20);
    expect(failed, JSON.stringify(failed.slice(0, 5))).toEqual([]);
  }, 300_000);
});
