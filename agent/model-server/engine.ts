import { performance } from 'node:perf_hooks';
import { type BatchObserver, DynamicBatcher, type RequestTiming } from './batcher.ts';
import { fixedBatchSize, type LoadedModel } from './session.ts';
import { batchShape, concatFeeds, type Feeds, type Outputs, splitOutputs } from './tensor-batch.ts';

/**
 * A loaded model behind a dynamic batcher: the in-process serving path, without HTTP. The HTTP server
 * and the bench both call `infer`.
 */

export interface EngineConfig {
  readonly maxBatch: number;
  readonly maxQueueDelayMs: number;
  readonly queueCapacity: number;
  readonly concurrentRunners: number;
}

export class ModelEngine {
  private readonly batcher: DynamicBatcher<Feeds, Outputs>;

  constructor(
    readonly model: LoadedModel,
    readonly config: EngineConfig,
    observer: BatchObserver = {},
  ) {
    // A model that fixes its batch dimension runs each request (of exactly that many rows) alone.
    const fixed = fixedBatchSize(model);
    this.batcher = new DynamicBatcher<Feeds, Outputs>(
      (batch) => this.runBatch(batch),
      {
        ...config,
        maxBatch: fixed === undefined ? config.maxBatch : Math.min(config.maxBatch, fixed),
        now: () => performance.now(),
      },
      observer,
    );
  }

  get queueDepth(): number {
    return this.batcher.depth;
  }

  get inFlight(): number {
    return this.batcher.inFlight;
  }

  /** Queue one request (rows share the first dimension); resolves once its batch has run. */
  infer(feeds: Feeds): Promise<{ output: Outputs; timing: RequestTiming }> {
    const { rows, key } = batchShape(feeds);
    return this.batcher.submit(feeds, rows, key);
  }

  /** The error a request arriving now would get (stopping, queue full), counted as refused; else undefined. */
  refusal(): Error | undefined {
    return this.batcher.refusal();
  }

  close(drain = true): Promise<void> {
    return this.batcher.close(drain);
  }

  private async runBatch(batch: readonly Feeds[]): Promise<Outputs[]> {
    const feeds = concatFeeds(batch);
    const results = await this.model.session.run(feeds);
    return splitOutputs(
      results,
      batch.map((f) => batchShape(f).rows),
    );
  }
}
