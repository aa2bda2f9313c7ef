import { ConflictError, type FieldIssue, TetrafleetError, TransientError } from '../core/errors.ts';

/**
 * AWS error codes classified once, so adapters and handlers route failures by error class instead of
 * matching strings. Extend the sets here when a new service adapter meets a new code.
 */

/** Codes that mean "slow down or try again": throttling, timeouts, service hiccups. */
const TRANSIENT_CODES: ReadonlySet<string> = new Set([
  'Throttling',
  'ThrottlingException',
  'ThrottledException',
  'RequestThrottled',
  'RequestThrottledException',
  'TooManyRequestsException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'SlowDown',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'InternalError',
  'InternalFailure',
  'InternalServerError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TimeoutError',
  'KMS.ThrottlingException',
  'AWS.SimpleQueueService.ServiceUnavailable',
]);

/** Node socket errors that a retry on a fresh connection usually fixes. */
const TRANSIENT_NETWORK_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ETIMEDOUT',
  'EPIPE',
  'EAI_AGAIN',
  'ENOTFOUND',
  'UND_ERR_SOCKET',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Codes that mean a conditional write lost a race. */
const CONFLICT_CODES: ReadonlySet<string> = new Set([
  'ConditionalCheckFailedException',
  'TransactionConflictException',
  'IdempotentParameterMismatch',
]);

/** SQS codes that mean a receipt handle no longer names an in-flight message (already deleted or expired). */
const STALE_RECEIPT_CODES: ReadonlySet<string> = new Set([
  'ReceiptHandleIsInvalid',
  'InvalidReceiptHandle',
  'MessageNotInflight',
  'AWS.SimpleQueueService.MessageNotInflight',
]);

/**
 * Codes that mean the request itself is unacceptable, e.g. DynamoDB's ValidationException for a number it
 * cannot hold or an item over 400 KB: the same request fails the same way every time.
 */
const INVALID_REQUEST_CODES: ReadonlySet<string> = new Set(['ValidationException']);

/**
 * What the DynamoDB document marshaller (@aws-sdk/util-dynamodb) throws, as plain Errors and before
 * anything is sent, for a value it cannot encode: an unsafe integer, NaN or Infinity, undefined, a class
 * instance, an empty or mixed set.
 */
const MARSHALL_ERROR =
  /Number\.M(AX|IN)_SAFE_INTEGER|Special numeric value|NumberValue should not|Unsupported type passed|removeUndefinedValues|Pass a non-empty set|Only Number Set/;

/**
 * AWS refused a request as invalid, or the SDK could not encode it. Not retryable: a message that causes
 * it is set aside with this reason rather than redelivered until it reaches the DLQ with none.
 */
export class InvalidRequestError extends TetrafleetError {
  readonly retryable = false;
  /** For handlers that report field issues: the request as a whole, with the service's words. */
  readonly issues: readonly FieldIssue[];
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.issues = [{ path: '', message }];
  }
}

interface AwsLikeError {
  name?: string;
  code?: string;
  Code?: string;
  message?: string;
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

/** The error code an SDK v3 error carries (`name`, or `Code`/`code` for older shapes and socket errors). */
export function awsErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const e = error as AwsLikeError;
  return e.Code ?? e.code ?? e.name;
}

function httpStatus(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  return (error as AwsLikeError).$metadata?.httpStatusCode;
}

/** True for throttling, timeouts, 5xx answers and dropped connections. */
export function isTransientAwsError(error: unknown): boolean {
  const code = awsErrorCode(error);
  if (code && (TRANSIENT_CODES.has(code) || TRANSIENT_NETWORK_CODES.has(code))) return true;
  const status = httpStatus(error);
  if (status !== undefined && (status >= 500 || status === 429)) return true;
  return typeof error === 'object' && error !== null && Boolean((error as AwsLikeError).$retryable);
}

/** True for an error no retry can fix: AWS refused the request as invalid, or it could not be encoded. */
export function isInvalidRequestError(error: unknown): boolean {
  if (error instanceof InvalidRequestError) return true;
  if (!(error instanceof Error)) return false;
  const code = awsErrorCode(error);
  if (code && INVALID_REQUEST_CODES.has(code)) return true;
  // The marshaller's errors carry no code and no response metadata: nothing reached AWS.
  return (error as AwsLikeError).$metadata === undefined && MARSHALL_ERROR.test(error.message);
}

/** True when SQS says a receipt handle is stale; deleting or extending such a message is moot. */
export function isStaleReceiptError(error: unknown): boolean {
  const code = awsErrorCode(error);
  if (code && STALE_RECEIPT_CODES.has(code)) return true;
  // moto and some SQS versions answer a stale handle with InvalidParameterValue naming the handle.
  const message = typeof error === 'object' && error !== null ? (error as AwsLikeError).message : undefined;
  return code === 'InvalidParameterValue' && /receipt ?handle/i.test(message ?? '');
}

/**
 * Turn an SDK error into a domain error: TransientError (retryable), ConflictError, or InvalidRequestError
 * (never retryable: a refused or unencodable request); anything else is returned unchanged because only
 * the caller knows what it means (a missing queue).
 */
export function toDomainError(error: unknown, action: string): unknown {
  if (error instanceof TetrafleetError) return error;
  const code = awsErrorCode(error) ?? 'unknown';
  if (isTransientAwsError(error)) {
    return new TransientError(`${action} failed transiently (${code}), retry later`, { cause: error });
  }
  if (CONFLICT_CODES.has(code))
    return new ConflictError(`${action} lost a race (${code})`, undefined, { cause: error });
  if (isInvalidRequestError(error)) {
    const detail = error instanceof Error ? error.message : String(error);
    const named = INVALID_REQUEST_CODES.has(code) ? ` (${code})` : '';
    return new InvalidRequestError(`${action} cannot succeed${named}: ${detail}`, { cause: error });
  }
  return error;
}
