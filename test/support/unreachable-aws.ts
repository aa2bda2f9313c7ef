import type { AwsClientConfig } from '../../lib/aws/client-config.ts';

/**
 * AWS settings pointing at a port nothing listens on (9), with one short attempt: a request that went out
 * fails fast as a network error, so a test can tell it apart from a check that refused before sending.
 */
export const unreachableAws: AwsClientConfig = {
  region: 'us-east-1',
  endpoint: 'http://127.0.0.1:9',
  credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
  maxAttempts: 1,
  requestHandler: { connectionTimeout: 200, requestTimeout: 200 },
};
