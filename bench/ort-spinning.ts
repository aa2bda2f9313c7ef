/**
 * Replicas sharing cores: onnxruntime's intra-op thread pool spinning between runs (its own default)
 * against sleeping (the model server's default, `LoadOptions.allowSpinning`). Each mode starts `--procs`
 * model-server sessions in separate processes, as replicas packed onto one instance are, on a 96x96
 * conv detector (128/256/512/512 channels, about 15 ms a run on two vCPUs), and sends each open-loop
 * Poisson runs at `--rate` per second for `--seconds`. It reports the run-time quantiles over all
 * processes and the CPU time used per run, with 1 process as the baseline.
 *
 *   npx tsx bench/ort-spinning.ts              # JSON on stdout and in bench/results/ort-spinning.json
 *   options: --procs N (default 3)  --rate R (per process, default 10)  --seconds S (default 20)  --no-write
 *
 * Progress goes to stderr. Nothing here is a target: it shows why the server does not spin by default.
 */
import { execFile } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Tensor } from 'onnxruntime-node';
import { loadModel } from '../agent/model-server/session.ts';
import { buildConvNet, modelTempDir, writeModel } from '../lib/onnx/index.ts';
import { writeResultFile } from './results-file.ts';

const HERE = fileURLToPath(import.meta.url);
const log = (msg: string) => process.stderr.write(`[bench:ort-spinning] ${msg}\n`);

function flag(argv: readonly string[], name: string, fallback: number): number {
  const i = argv.indexOf(name);
  const v = i >= 0 ? Number(argv[i + 1]) : fallback;
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number, got ${argv[i + 1]}`);
  return v;
}

/** One process: load the model, warm it up, then time Poisson-spaced runs; prints the times as JSON. */
async function worker(path: string, spin: boolean, rate: number, seconds: number): Promise<void> {
  const model = await loadModel(path, { provider: 'cpu', intraOpThreads: 0, allowSpinning: spin, log });
  const name = model.inputs[0]!.name;
  const feeds = { [name]: new Tensor('float32', new Float32Array(3 * 96 * 96).fill(0.5), [1, 3, 96, 96]) };
  for (let i = 0; i < 10; i++) await model.session.run(feeds);
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  const end = Date.now() + seconds * 1000;
  let next = Date.now();
  while (next < end) {
    next += -Math.log(1 - Math.random()) * (1000 / rate);
    const wait = next - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    const t0 = performance.now();
    await model.session.run(feeds);
    times.push(performance.now() - t0);
  }
  const cpu = process.cpuUsage(cpu0);
  process.stdout.write(JSON.stringify({ times, cpuMs: (cpu.user + cpu.system) / 1000 }));
}

const run = promisify(execFile);

async function mode(path: string, spin: boolean, procs: number, rate: number, seconds: number) {
  log(`spinning ${spin ? 'on' : 'off'}, ${procs} process(es) at ${rate}/s for ${seconds} s`);
  const outs = await Promise.all(
    Array.from({ length: procs }, () =>
      run(
        process.execPath,
        [...process.execArgv, HERE, '--worker', path, String(spin), String(rate), String(seconds)],
        {
          maxBuffer: 64 * 1024 * 1024,
        },
      ),
    ),
  );
  const parsed = outs.map((o) => JSON.parse(o.stdout) as { times: number[]; cpuMs: number });
  const times = parsed.flatMap((p) => p.times).sort((a, b) => a - b);
  const cpuMs = parsed.reduce((s, p) => s + p.cpuMs, 0);
  const q = (p: number) =>
    Number(times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(2));
  return {
    spinning: spin,
    procs,
    runs: times.length,
    p50Ms: q(0.5),
    p90Ms: q(0.9),
    p99Ms: q(0.99),
    /** CPU time the processes used per run, idle waits included: what spinning burns shows here. */
    cpuMsPerRun: Number((cpuMs / times.length).toFixed(2)),
  };
}

async function main(argv: readonly string[]): Promise<void> {
  if (argv[0] === '--worker') {
    await worker(argv[1]!, argv[2] === 'true', Number(argv[3]), Number(argv[4]));
    return;
  }
  const procs = flag(argv, '--procs', 3);
  const rate = flag(argv, '--rate', 10);
  const seconds = flag(argv, '--seconds', 20);
  const dir = await modelTempDir('tetrafleet-bench-spin-');
  try {
    const path = join(dir.dir, 'detect.onnx');
    const net = buildConvNet({
      channels: 3,
      height: 96,
      width: 96,
      convChannels: [128, 256, 512, 512],
      classes: 128,
      seed: 1,
    });
    await writeModel(path, net.bytes);
    const results = [];
    for (const n of [1, procs])
      for (const spin of [true, false]) results.push(await mode(path, spin, n, rate, seconds));
    const out = {
      bench: 'ort-spinning',
      machine: { cpus: cpus().length, loadavg: loadavg() },
      model: 'conv 96x96, channels 128/256/512/512',
      ratePerProcess: rate,
      seconds,
      results,
    };
    const json = JSON.stringify(out, null, 2);
    process.stdout.write(`${json}\n`);
    if (!argv.includes('--no-write')) writeResultFile('ort-spinning.json', json);
  } finally {
    await dir.cleanup();
  }
}

main(process.argv.slice(2)).catch((error) => {
  process.stderr.write(`bench:ort-spinning: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
