import { rm } from 'node:fs/promises';
import type { QueueMessage } from '../lib/core/ports.ts';
import { describeIssues } from '../lib/core/protocol/envelope.ts';
import type { AgentState } from '../lib/core/protocol/heartbeat.ts';
import type { ModelCommand } from '../lib/core/protocol/inference.ts';
import {
  type CancelTask,
  type RunTask,
  type TaskEndReason,
  type TaskEvent,
  type TaskEventType,
  taskKey,
} from '../lib/core/protocol/tasks.ts';
import type { AgentDeps, Entry } from './agent-deps.ts';
import { buildSnapshot, reportStarted, sendHeartbeat } from './agent-heartbeat.ts';
import { BoundedMap } from './bounded-map.ts';
import { ChangeSignal } from './change-signal.ts';
import { cancelCovering, cancelKey, cancelMatches, cancelNote, decodeAgentCommand } from './commands.ts';
import { type DrainRequest, secondsPastDrain } from './drain.ts';
import { CapacityLedger } from './ledger.ts';
import { errorText } from './log.ts';
import { runPoller } from './poller.ts';
import type { AgentSnapshot } from './reporter.ts';
import { notStarted, type ServingRun } from './serving-host.ts';
import { Settler } from './settle.ts';
import { isCommandRunTask, runSpecFor, startTask, type TaskResult } from './task-runner.ts';

export type { AgentDeps, AgentSettings } from './agent-deps.ts';
export { decodeAgentCommand } from './commands.ts';

/**
 * The agent's state machine. It takes messages from its own queue, admits RunTasks against its capacity,
 * runs them, reports every outcome before deleting the message, and drains on request.
 *
 *   RunTask ─▶ (duplicate? join the entry) ─▶ waiting ─(fits)─▶ running ─▶ report ─▶ delete message(s)
 *                └▶ (finished before? re-report, delete)                 └(drain)▶ report handed-back,
 *                                                                                  visibility 0
 */

/** RunTasks held locally beyond this are put back on the queue for a while instead. */
const MAX_WAITING = 16;
/** How long a RunTask that found the local wait list full stays hidden before it is tried again. */
const BUSY_RETRY_SECONDS = 5;

export class Agent {
  private stateValue: AgentState = 'RUNNING';
  private readonly entries = new Map<string, Entry>();
  /** Tasks handed back by this drain; a redelivery of one is hidden, not reported again. */
  private readonly handedBack = new Set<string>();
  private readonly settler: Settler;
  private readonly cancels: BoundedMap<string, CancelTask>;
  private readonly ledger: CapacityLedger;
  private readonly pollAbort = new AbortController();
  private readonly background = new Set<Promise<unknown>>();
  private readonly changes = new ChangeSignal();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly now: () => number;
  private readonly start: typeof startTask;
  private pollerDone: Promise<void> = Promise.resolve();
  private drainRun?: Promise<void>;
  /** When the drain's grace ends (performance.now() time); only ever brought forward. */
  private drainDeadline = Number.POSITIVE_INFINITY;
  private markDrained!: () => void;
  /** Set when the drain sequence itself failed; the program then exits non-zero. */
  drainError?: unknown;
  /** Resolves once the agent has drained and sent its DRAINED heartbeat. */
  readonly drained: Promise<void> = new Promise((resolve) => {
    this.markDrained = resolve;
  });

  constructor(private readonly deps: AgentDeps) {
    this.now = deps.now ?? Date.now;
    this.start = deps.startTask ?? startTask;
    this.ledger = new CapacityLedger(deps.capacity.capacity);
    this.settler = new Settler(
      deps.queue,
      deps.reporter,
      deps.logger,
      new BoundedMap<string, TaskEvent>(deps.settings.rememberCompleted),
    );
    this.cancels = new BoundedMap(deps.settings.rememberCompleted);
  }

  get state(): AgentState {
    return this.stateValue;
  }

  /** Announce (heartbeat 0), then poll and heartbeat until drained. Throws if the announcement fails. */
  async run(): Promise<void> {
    const s = this.deps.settings;
    await this.deps.reporter.heartbeat(this.snapshot());
    // A SIGTERM during the announcement already drained us; starting loops now would outlive the drain.
    if (this.drainRun) return;
    this.timers.add(setInterval(() => this.track(this.heartbeat()), s.heartbeatMs));
    // Extend at a third of the timeout so one failed extension still leaves time for the next.
    const extendMs = Math.max(1000, (s.visibilitySeconds * 1000) / 3);
    this.timers.add(setInterval(() => this.extendVisibility(), extendMs));
    this.pollerDone = runPoller({
      queue: this.deps.queue,
      handle: (m) => this.handle(m),
      signal: this.pollAbort.signal,
      waitSeconds: s.pollWaitSeconds,
      visibilitySeconds: s.visibilitySeconds,
      logger: this.deps.logger,
    });
  }

  /**
   * Stop taking work, finish or hand back what runs, send the DRAINED heartbeat. Idempotent; a request made
   * while draining can only bring the grace's end forward (the instance's spot notice during a scale-in drain).
   */
  drain(request: DrainRequest): Promise<void> {
    const deadline = performance.now() + (request.graceMs ?? this.deps.settings.drainGraceMs);
    if (this.drainRun) {
      if (deadline < this.drainDeadline) {
        this.deps.logger.log('info', 'drain deadline brought forward', {
          reason: request.reason,
          graceMs: request.graceMs ?? this.deps.settings.drainGraceMs,
        });
        this.drainDeadline = deadline;
        this.changes.notify();
      }
      return this.drainRun;
    }
    this.drainDeadline = deadline;
    this.drainRun = this.runDrain(request)
      .catch((error) => {
        this.drainError = error;
        this.deps.logger.log('error', 'drain failed', { error: errorText(error) });
      })
      .finally(() => this.markDrained());
    return this.drainRun;
  }

  snapshot(): AgentSnapshot {
    return buildSnapshot(this.stateValue, this.ledger, this.deps.capacity.gpus, this.entries);
  }

  /** Route one queue message. Exposed for tests; the poller calls it in receive order. */
  async handle(message: QueueMessage): Promise<void> {
    const decoded = decodeAgentCommand(message.body);
    if (!decoded.ok) {
      // Left in flight: it reappears after the visibility timeout and the queue's redrive moves it to the DLQ.
      this.deps.logger.log('error', 'rejected message', {
        messageId: message.id,
        receiveCount: message.receiveCount,
        reason: describeIssues(decoded.issues),
      });
      return;
    }
    const command = decoded.value;
    switch (command.kind) {
      case 'RunTask':
        return this.onRunTask(command, message.receiptHandle);
      case 'CancelTask':
        await this.onCancel(command);
        return this.deps.queue.delete(message.receiptHandle);
      case 'Drain':
        await this.deps.queue.delete(message.receiptHandle);
        void this.drain({
          reason: command.reason ?? 'drain message',
          ...(command.graceSeconds !== undefined ? { graceMs: command.graceSeconds * 1000 } : {}),
          ...(command.serveThroughGrace === true ? { serveThroughGrace: true } : {}),
        });
        return;
      case 'ServeModel':
      case 'StopModel':
        return this.onModelCommand(command, message.receiptHandle);
    }
  }

  private async onRunTask(task: RunTask, receipt: string): Promise<void> {
    const key = taskKey(task);
    const done = this.settler.completed.get(key);
    if (done) {
      this.deps.logger.log('info', 'redelivered finished task, reporting again', { task: key });
      await this.deps.reporter.repeat(done);
      return this.deps.queue.delete(receipt);
    }
    const existing = this.entries.get(key);
    if (existing) {
      this.deps.logger.log('info', 'duplicate delivery joins the running task', { task: key });
      existing.receipts.add(receipt);
      return;
    }
    if (this.stateValue !== 'RUNNING') {
      // Handed back once: the hand-back makes the message visible again, and a draining agent still reads.
      if (this.handedBack.has(key)) return this.holdPastDrain(receipt);
      return this.handBackUnstarted(task, [receipt]);
    }
    const cancel = cancelCovering(this.cancels.values(), task);
    if (cancel) return this.finishUnstarted(task, [receipt], 'cancelled', 'cancel', cancelNote(cancel));
    const never = this.ledger.whyNever(task.resources, task.gpuIndices);
    if (never) return this.finishUnstarted(task, [receipt], 'failed', 'does-not-fit', never);
    if ([...this.entries.values()].filter((e) => e.phase === 'waiting').length >= MAX_WAITING)
      return this.deps.queue.changeVisibility(receipt, BUSY_RETRY_SECONDS);
    this.entries.set(key, { key, task, receipts: new Set([receipt]), phase: 'waiting' });
    this.admit();
  }

  /** Start every waiting task that fits now, in arrival order (a later small one may pass a big one). */
  private admit(): void {
    if (this.stateValue !== 'RUNNING') return;
    for (const entry of this.entries.values()) {
      if (entry.phase !== 'waiting') continue;
      if (!this.ledger.tryReserve(entry.key, entry.task.resources, entry.task.gpuIndices)) continue;
      entry.phase = 'running';
      this.track(this.launch(entry));
    }
  }

  private async launch(entry: Entry): Promise<void> {
    const { task, key } = entry;
    const spec = isCommandRunTask(task) ? runSpecFor(task, this.deps.settings) : undefined;
    const run: NonNullable<Entry['run']> = spec
      ? await this.start(spec, this.now)
      : await this.startServing(task);
    entry.run = run;
    if (entry.pendingStop) run.stop(entry.pendingStop);
    const started = reportStarted(this.deps.reporter, this.deps.logger, task, run);
    this.deps.logger.log('info', 'task started', { task: key, pid: run.pid, endpoint: run.endpoint });
    const result = await run.done;
    // The terminal event must not overtake the started one on the reports queue.
    await started;
    await this.finishRun(entry, result);
    // Outputs the task meant to keep it has uploaded; the directory would only fill the disk.
    if (spec) await rm(spec.cwd, { recursive: true, force: true }).catch(() => undefined);
  }

  private startServing(task: RunTask): Promise<ServingRun> {
    const host = this.deps.servingHost;
    if (!host) return Promise.resolve(notStarted(`this agent does not run ${task.task.kind} tasks`));
    return host.start(task, { stopGraceMs: this.deps.settings.killGraceMs });
  }

  private async finishRun(entry: Entry, result: TaskResult): Promise<void> {
    this.ledger.release(entry.key);
    this.entries.delete(entry.key);
    this.deps.logger.log('info', `task ${result.outcome}`, {
      task: entry.key,
      exitCode: result.exitCode,
      signal: result.signal,
      durationMs: result.durationMs,
    });
    // A cancel's note explains only a run the cancel ended; an exit or timeout before it keeps its reason.
    const note = result.reason === 'cancel' ? entry.cancelNote : undefined;
    const event = this.settler.resultEvent(entry.task, result, note);
    await this.settle(entry.task, event, [...entry.receipts]);
    this.changes.notify();
    this.admit();
  }

  /** Report a task's end and settle its messages; a handed-back one is remembered for redeliveries. */
  private settle(task: RunTask, event: TaskEvent, receipts: readonly string[]): Promise<void> {
    if (event.event === 'handed-back') this.handedBack.add(taskKey(task));
    return this.settler.finish(task, event, receipts);
  }

  private handBackUnstarted(task: RunTask, receipts: readonly string[]): Promise<void> {
    const note = `agent is ${this.stateValue.toLowerCase()}; task not started`;
    return this.settle(task, this.settler.unstartedEvent(task, 'handed-back', 'drain', note), receipts);
  }

  private finishUnstarted(
    task: RunTask,
    receipts: readonly string[],
    type: TaskEventType,
    reason: TaskEndReason,
    message: string,
  ): Promise<void> {
    this.deps.logger.log('info', `task ${type} without running`, { task: taskKey(task), message });
    return this.settle(task, this.settler.unstartedEvent(task, type, reason, message), receipts);
  }

  private async onCancel(cancel: CancelTask): Promise<void> {
    const afterMs = (cancel.afterSeconds ?? 0) * 1000;
    if (afterMs > 0) {
      // A moved serving task serves on until then (make before break); a fired timer is forgotten.
      this.deps.logger.log('info', 'cancel scheduled', {
        jobId: cancel.jobId,
        attempt: cancel.attempt,
        afterMs,
      });
      const { afterSeconds: _later, ...now } = cancel;
      const timer = setTimeout(() => this.timers.delete(timer) && this.track(this.onCancel(now)), afterMs);
      this.timers.add(timer);
      return;
    }
    // Remembered so that a RunTask arriving after its CancelTask (SQS does not order) never runs.
    this.cancels.set(cancelKey(cancel), cancel);
    const note = cancelNote(cancel);
    // Each await below lets a drain settle entries of this list; one settled meanwhile is skipped.
    for (const entry of [...this.entries.values()]) {
      if (!cancelMatches(cancel, entry.task) || this.entries.get(entry.key) !== entry) continue;
      entry.cancelNote = note;
      if (entry.phase === 'waiting') {
        this.entries.delete(entry.key);
        await this.finishUnstarted(entry.task, [...entry.receipts], 'cancelled', 'cancel', note);
      } else if (entry.run) entry.run.stop('cancel');
      else entry.pendingStop = 'cancel';
    }
    this.changes.notify();
  }

  private async onModelCommand(command: ModelCommand, receipt: string): Promise<void> {
    const host = this.deps.modelHost;
    if (!host) {
      this.deps.logger.log('error', 'model command on an agent without a model host; left for the DLQ', {
        kind: command.kind,
      });
      return;
    }
    if (command.kind === 'ServeModel' && this.stateValue !== 'RUNNING') {
      this.deps.logger.log('warn', 'ServeModel while draining; not served', { modelId: command.modelId });
      return this.holdPastDrain(receipt);
    }
    await host.handle(command);
    await this.deps.queue.delete(receipt);
  }

  /** Hide a message this draining agent will not act on until its drain is over (it reads on till then). */
  private holdPastDrain(receipt: string): Promise<void> {
    const seconds = secondsPastDrain(this.drainDeadline, performance.now(), this.deps.settings.killGraceMs);
    return this.deps.queue.changeVisibility(receipt, seconds);
  }

  private async runDrain(request: DrainRequest): Promise<void> {
    const graceMs = request.graceMs ?? this.deps.settings.drainGraceMs;
    const serveThroughGrace = request.serveThroughGrace === true;
    this.deps.logger.log('info', 'draining', { reason: request.reason, graceMs, serveThroughGrace });
    this.stateValue = 'DRAINING';
    // The queue is still read until the tasks are gone: a CancelTask stops its task now (or settles a waiting
    // one during an await below), a tighter Drain brings the end forward, a racing RunTask is handed back.
    this.track(this.heartbeat());
    for (const entry of [...this.entries.values()]) {
      if (entry.phase !== 'waiting' || !this.entries.delete(entry.key)) continue;
      await this.handBackUnstarted(entry.task, [...entry.receipts]);
    }
    // A serving task never finishes by itself: hand it back now rather than after the grace, unless it is
    // to serve until its replacement runs elsewhere.
    for (const entry of this.entries.values()) {
      if (entry.task.task.kind === 'command' || serveThroughGrace) continue;
      if (entry.run) entry.run.stop('drain');
      else entry.pendingStop = 'drain';
    }
    while (this.entries.size > 0) {
      const deadline = this.drainDeadline;
      const left = deadline - performance.now();
      if (left <= 0) break;
      await this.changes.waitFor(() => this.entries.size === 0 || this.drainDeadline !== deadline, left);
    }
    for (const entry of this.entries.values()) {
      if (entry.run) entry.run.stop('drain');
      else entry.pendingStop = 'drain';
    }
    this.pollAbort.abort();
    // Bounded by the kill grace: a stopped command task's group is SIGKILLed after it, and a serving task's
    // run ends by then (plus a second) even if its server is still stopping.
    await this.changes.waitFor(() => this.entries.size === 0);
    await this.pollerDone;
    for (const t of this.timers) clearInterval(t);
    while (this.background.size > 0) await Promise.allSettled([...this.background]);
    await this.deps.modelHost
      ?.close()
      .catch((error) =>
        this.deps.logger.log('warn', 'model servers did not stop cleanly', { error: errorText(error) }),
      );
    this.stateValue = 'DRAINED';
    await this.heartbeat();
    this.deps.logger.log('info', 'drained', { reason: request.reason });
  }

  private heartbeat(): Promise<void> {
    return sendHeartbeat(this.deps.reporter, this.deps.logger, () => this.snapshot());
  }

  private extendVisibility(): void {
    const seconds = this.deps.settings.visibilitySeconds;
    for (const entry of this.entries.values()) {
      for (const receipt of entry.receipts) {
        this.track(
          this.deps.queue.changeVisibility(receipt, seconds).catch((error) =>
            this.deps.logger.log('warn', 'visibility extension failed', {
              task: entry.key,
              error: errorText(error),
            }),
          ),
        );
      }
    }
  }

  /** Keep a background promise until it settles; its failure is logged, never left unhandled. */
  private track(p: Promise<unknown>): void {
    const tracked = p
      .catch((error) => this.deps.logger.log('error', 'background work failed', { error: errorText(error) }))
      .finally(() => this.background.delete(tracked));
    this.background.add(tracked);
  }
}
