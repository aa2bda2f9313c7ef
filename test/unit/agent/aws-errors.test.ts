import { describe, expect, it } from 'vitest';
import { isStaleReceiptError, toDomainError } from '../../../lib/aws/errors.ts';
import { ConflictError, TransientError } from '../../../lib/core/errors.ts';

const awsError = (name: string, status = 400, message = '') =>
  Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

describe('AWS error classification', () => {
  it.each([
    ['ThrottlingException', 400],
    ['RequestThrottled', 403],
    ['InternalError', 500],
    ['SomethingNew', 503],
    ['ECONNRESET', undefined],
  ])('turns %s (HTTP %s) into a retryable TransientError', (name, status) => {
    const error = toDomainError(awsError(name, status), 'receive');
    expect(error).toBeInstanceOf(TransientError);
    expect((error as TransientError).retryable).toBe(true);
    expect((error as Error).message).toContain(name);
  });

  it('turns a failed condition into a ConflictError', () => {
    expect(toDomainError(awsError('ConditionalCheckFailedException'), 'put job')).toBeInstanceOf(
      ConflictError,
    );
  });

  it('returns other errors unchanged for the caller to judge', () => {
    const error = awsError('AWS.SimpleQueueService.NonExistentQueue');
    expect(toDomainError(error, 'send')).toBe(error);
  });

  it('recognises a stale receipt handle', () => {
    expect(isStaleReceiptError(awsError('ReceiptHandleIsInvalid'))).toBe(true);
    expect(
      isStaleReceiptError(
        awsError('InvalidParameterValue', 400, 'Value x for parameter ReceiptHandle is invalid'),
      ),
    ).toBe(true);
    expect(isStaleReceiptError(awsError('InvalidParameterValue', 400, 'bad delay'))).toBe(false);
  });
});
