/**
 * Control-loop benchmark on the emulator: submit-to-start latency on a warm instance and jobs per minute
 * through SDK -> admit -> schedule -> agent -> ingest. Prints JSON and writes bench/results/loop.json.
 *
 *   npm run bench:loop [-- --latency-jobs 20 --throughput-jobs 60]
 */
import { parseArgs } from 'node:util';
import { createAwsAdapters } from '../lib/aws/adapters.ts';
import type { JobSpecInput } from '../lib/core/model/job.ts';
import { LocalCloud } from '../lib/local/local-cloud.ts';
import { writeResultFile } from './results-file.ts';

const { values } = parseArgs({
  options: {
    'latency-jobs': { type: 'string', default: '20' },
    'throughput-jobs': { type: 'string', default: '60' },
  },
});
const LATENCY_JOBS = Number(values['latency-jobs']);
const THROUGHPUT_JOBS = Number(values['throughput-jobs']);
const progress = (m: string) => process.stderr.write(`[bench:loop] ${m}\n`);

const quick = (name: string, vcpu = 1): JobSpecInput => ({
  name,
  task: { kind: 'command', command: process.execPath, args: ['-e', 'let s=0;for(let i=0;i<1e5;i++)s+=i'] },
  alternatives: [{ requirement: { vcpu, memoryMiB: 512 }, durationSeconds: 10 }],
  utility: { deadlineSeconds: 3600, value: 10 },
});

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}
const round = (x: number) => Math.round(x * 10) / 10;

async function main() {
  const t0 = Date.now();
  const cloud = await LocalCloud.start({
    stackName: 'tetrafleet-bench-loop',
    instanceTypes: ['c7i.2xlarge'],
    maxFleetSize: 4,
    budgetPerHour: 10,
    slotSeconds: 30,
    cycle: { solveTimeLimitMs: 1000, idleTimeoutSeconds: 3600 },
    onProgress: (s) => progress(`${s} (${Date.now() - t0} ms)`),
  });
  const client = cloud.client();
  const adapters = createAwsAdapters(cloud.config.adapters);
  try {
    progress('warming up: the first job launches the instance');
    const warm = await client.submitJob(quick('warmup'));
    await client.waitForJob(warm.jobId, { timeoutMs: 300_000 });

    progress(`latency: ${LATENCY_JOBS} jobs, one at a time, on the warm instance`);
    const samples: { total: number; admit: number; place: number; start: number }[] = [];
    for (let i = 0; i < LATENCY_JOBS; i++) {
      const sent = Date.now();
      const { jobId } = await client.submitJob(quick(`lat-${i}`));
      const job = await client.waitForJob(jobId, { timeoutMs: 120_000, pollMs: 20 });
      const [task] = await adapters.fleetStore.tasksOfJob(jobId);
      if (job.status !== 'SUCCEEDED' || !job.startedAt || !task)
        throw new Error(`job ${jobId} ended ${job.status}`);
      samples.push({
        total: job.startedAt - sent,
        admit: job.submittedAt - sent,
        place: task.startAt - job.submittedAt,
        start: job.startedAt - task.startAt,
      });
    }

    progress(`throughput: ${THROUGHPUT_JOBS} jobs submitted at once`);
    const burstStart = Date.now();
    const ids = await Promise.all(
      Array.from({ length: THROUGHPUT_JOBS }, (_, i) =>
        client.submitJob(quick(`tp-${i}`)).then((r) => r.jobId),
      ),
    );
    const done = await Promise.all(ids.map((id) => client.waitForJob(id, { timeoutMs: 600_000 })));
    const burstMs = Math.max(...done.map((j) => j.finishedAt ?? Date.now())) - burstStart;
    const failed = done.filter((j) => j.status !== 'SUCCEEDED').length;

    const med = (k: keyof (typeof samples)[number]) =>
      round(
        pct(
          samples.map((s) => s[k]),
          50,
        ),
      );
    const result = {
      benchmark: 'loop',
      emulator: 'moto 5.2.1',
      instanceType: 'c7i.2xlarge',
      scheduleTimerMs: 2000,
      submitToStartMs: {
        p50: round(
          pct(
            samples.map((s) => s.total),
            50,
          ),
        ),
        p95: round(
          pct(
            samples.map((s) => s.total),
            95,
          ),
        ),
        samples: samples.length,
      },
      /**
       * Medians of each leg: SDK send -> admitted (admit's clock); admitted -> the start of the schedule cycle
       * that placed it (a task's startAt is that cycle's "now"); cycle start -> the agent started it, which
       * covers planning, the commit transaction, RunTask on the instance queue and the agent's long poll.
       */
      breakdownMedianMs: {
        submitToAdmitted: med('admit'),
        admittedToPlaced: med('place'),
        placedToStarted: med('start'),
      },
      jobsPerMinute: round((THROUGHPUT_JOBS * 60_000) / burstMs),
      throughput: { jobs: THROUGHPUT_JOBS, wallMs: burstMs, failed },
      pump: cloud.pumpStats(),
    };
    const json = JSON.stringify(result, null, 2);
    console.log(json);
    writeResultFile('loop.json', json);
  } finally {
    client.close();
    adapters.destroy();
    await cloud.stop();
  }
}

await main();
