/**
 * One place that decides how every AWS SDK client is configured. When `AWS_ENDPOINT_URL` is set (the
 * emulator or LocalStack), all clients go there with path-style S3 and test credentials unless real ones
 * are given. Read from the environment once per call site, into a frozen object.
 */
export interface AwsClientConfig {
  readonly region: string;
  readonly endpoint?: string;
  readonly forcePathStyle?: boolean;
  readonly credentials?: { readonly accessKeyId: string; readonly secretAccessKey: string };
  readonly maxAttempts?: number;
  /**
   * Socket limits, so that a stalled connection fails (and is retried) instead of hanging a handler or an
   * agent for ever; the request timeout outlasts SQS's 20 s long poll.
   */
  readonly requestHandler: { readonly connectionTimeout: number; readonly requestTimeout: number };
}

const REQUEST_HANDLER = Object.freeze({ connectionTimeout: 5_000, requestTimeout: 60_000 });

export function awsClientConfig(
  env: NodeJS.ProcessEnv = process.env,
  endpoint = env.AWS_ENDPOINT_URL,
): AwsClientConfig {
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  if (!endpoint) return Object.freeze({ region, requestHandler: REQUEST_HANDLER });
  const hasKeys = Boolean(env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY);
  return Object.freeze({
    region,
    endpoint,
    forcePathStyle: true,
    requestHandler: REQUEST_HANDLER,
    credentials: hasKeys
      ? { accessKeyId: env.AWS_ACCESS_KEY_ID as string, secretAccessKey: env.AWS_SECRET_ACCESS_KEY as string }
      : { accessKeyId: 'test', secretAccessKey: 'test' },
  });
}
