import { isInvalidRequestError } from '../../lib/aws/errors.ts';
import type { FieldIssue } from '../../lib/core/errors.ts';
import { toFieldIssues } from '../../lib/core/model/validate.ts';
import { type Decoded, describeIssues } from '../../lib/core/protocol/envelope.ts';
import { SqsEventSchema, type SqsRecord, SqsRecordSchema } from './aws-events.ts';
import { describeError, type Logger } from './log.ts';

/** Lambda's partial batch response: only the listed messages return to the queue. */
export interface SqsBatchResponse {
  batchItemFailures: { itemIdentifier: string }[];
}

/** A message that can never succeed: malformed, or refused by the domain for good. */
export interface PoisonMessage {
  readonly messageId: string;
  /** The queue it came from, so a handler reading several queues can pick the matching DLQ. */
  readonly eventSourceARN?: string;
  readonly body: string;
  readonly reason: string;
  readonly issues: readonly FieldIssue[];
}

export interface SqsBatchOptions<T> {
  /** Turn a body into a typed message, or field issues (which make it poison). */
  readonly decode: (body: string) => Decoded<T>;
  /**
   * Apply one valid message. A throw is retried unless the error says `retryable: false` or is an AWS
   * request refused as invalid.
   */
  readonly handle: (message: T, record: SqsRecord) => Promise<void>;
  /**
   * Where poison goes besides the log, e.g. the queue's DLQ with its reason. If this throws, the
   * message is retried rather than lost.
   * @default - logged only
   */
  readonly onPoison?: (poison: PoisonMessage) => Promise<void>;
  /**
   * For messages where only the newest of a kind counts (an instance's heartbeat): a key and an order. Of
   * the valid messages in one batch that share a key, only the one of highest order is handled; the others
   * are acknowledged unhandled, so a backlog of reports drains in one write per key and batch.
   * @default - every message is handled
   */
  readonly supersede?: (message: T) => { readonly key: string; readonly order: number } | undefined;
  readonly log: Logger;
}

/**
 * Process an SQS batch record by record, in order. Valid messages are handled, except those a newer one in
 * the batch supersedes (`supersede`); poison is logged with its reason and acknowledged (retrying cannot
 * fix it); retryable failures go into `batchItemFailures` so that SQS redelivers them and, after
 * maxReceiveCount, moves them to the DLQ. An event that is not an SQS batch at all is a wiring bug and
 * throws.
 */
export async function processSqsBatch<T>(
  event: unknown,
  options: SqsBatchOptions<T>,
): Promise<SqsBatchResponse> {
  const batch = SqsEventSchema.safeParse(event);
  if (!batch.success) {
    throw new TypeError(`event is not an SQS batch: ${describeIssues(toFieldIssues(batch.error))}`);
  }
  const decoded = batch.data.Records.map((raw, index) => decodeRecord(raw, index, options));
  const skip = superseded(decoded, options);
  if (skip.size > 0) options.log.info('skipped superseded messages', { count: skip.size });
  const failures: { itemIdentifier: string }[] = [];
  for (const [index, d] of decoded.entries()) {
    if (skip.has(index)) continue;
    const outcome = await processRecord(d, options);
    if (outcome.retry) failures.push({ itemIdentifier: outcome.messageId });
  }
  return { batchItemFailures: failures };
}

type DecodedRecord<T> =
  | { readonly kind: 'malformed' }
  | { readonly kind: 'poison'; readonly poison: PoisonMessage }
  | { readonly kind: 'valid'; readonly record: SqsRecord; readonly message: T };

function decodeRecord<T>(raw: unknown, index: number, options: SqsBatchOptions<T>): DecodedRecord<T> {
  const record = SqsRecordSchema.safeParse(raw);
  if (!record.success) {
    // Without a messageId Lambda cannot be told which item failed; the record is unusable either way.
    options.log.error('dropped a malformed SQS record', {
      index,
      reason: describeIssues(toFieldIssues(record.error)),
    });
    return { kind: 'malformed' };
  }
  const { messageId, body, eventSourceARN } = record.data;
  const decoded = options.decode(body);
  if (decoded.ok) return { kind: 'valid', record: record.data, message: decoded.value };
  const issues = boundedIssues(decoded.issues);
  return {
    kind: 'poison',
    poison: { messageId, eventSourceARN, body, issues, reason: boundedReason(describeIssues(issues)) },
  };
}

/** Most field issues a poison message carries: its refusal is stored as one item and logged as one line. */
export const MAX_POISON_ISSUES = 50;
/** Longest reason a poison message carries, in characters. */
export const MAX_POISON_REASON = 4096;

/** The first MAX_POISON_ISSUES issues, and one that counts the rest. */
function boundedIssues(issues: readonly FieldIssue[]): readonly FieldIssue[] {
  if (issues.length <= MAX_POISON_ISSUES) return issues;
  const more = (issues.length - MAX_POISON_ISSUES).toLocaleString('en-US');
  return [...issues.slice(0, MAX_POISON_ISSUES), { path: '', message: `and ${more} more issues` }];
}

function boundedReason(reason: string): string {
  if (reason.length <= MAX_POISON_REASON) return reason;
  const cut = reason.length - MAX_POISON_REASON;
  return `${reason.slice(0, MAX_POISON_REASON)}... (${cut.toLocaleString('en-US')} more characters)`;
}

/** Indices of valid messages a newer one of the same key in the batch supersedes (options.supersede). */
function superseded<T>(decoded: readonly DecodedRecord<T>[], options: SqsBatchOptions<T>): Set<number> {
  const skip = new Set<number>();
  if (!options.supersede) return skip;
  const newest = new Map<string, { index: number; order: number }>();
  decoded.forEach((d, index) => {
    if (d.kind !== 'valid') return;
    const s = options.supersede?.(d.message);
    if (!s) return;
    const held = newest.get(s.key);
    if (!held) newest.set(s.key, { index, order: s.order });
    else if (s.order > held.order) {
      skip.add(held.index);
      newest.set(s.key, { index, order: s.order });
    } else skip.add(index);
  });
  return skip;
}

async function processRecord<T>(
  d: DecodedRecord<T>,
  options: SqsBatchOptions<T>,
): Promise<{ retry: false } | { retry: true; messageId: string }> {
  if (d.kind === 'malformed') return { retry: false };
  if (d.kind === 'poison') return poison(options, d.poison);
  const { messageId, body, eventSourceARN } = d.record;
  try {
    await options.handle(d.message, d.record);
    return { retry: false };
  } catch (error) {
    if (isPermanent(error)) {
      const issues = boundedIssues(fieldIssuesOf(error));
      const reason = boundedReason(describeError(error));
      return poison(options, { messageId, eventSourceARN, body, issues, reason });
    }
    options.log.warn('message failed and will be retried', { messageId, reason: describeError(error) });
    return { retry: true, messageId };
  }
}

async function poison<T>(
  options: SqsBatchOptions<T>,
  p: PoisonMessage,
): Promise<{ retry: false } | { retry: true; messageId: string }> {
  options.log.error('rejected a poison message', {
    messageId: p.messageId,
    reason: p.reason,
    issues: p.issues,
  });
  if (!options.onPoison) return { retry: false };
  try {
    await options.onPoison(p);
    return { retry: false };
  } catch (error) {
    options.log.warn('could not set a poison message aside; retrying it', {
      messageId: p.messageId,
      reason: describeError(error),
    });
    return { retry: true, messageId: p.messageId };
  }
}

/**
 * Domain errors say whether a retry can help. An AWS request refused as invalid (or that the SDK could not
 * encode) fails the same way every time, even when it reached here unclassified. Anything else is assumed
 * transient.
 */
function isPermanent(error: unknown): boolean {
  if (isInvalidRequestError(error)) return true;
  return (
    typeof error === 'object' &&
    error !== null &&
    'retryable' in error &&
    (error as { retryable: unknown }).retryable === false
  );
}

function fieldIssuesOf(error: unknown): readonly FieldIssue[] {
  const issues = (error as { issues?: unknown }).issues;
  return Array.isArray(issues) ? (issues as FieldIssue[]) : [];
}
