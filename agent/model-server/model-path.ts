import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ModelFetcher } from './options.ts';

/**
 * A local path for a model URI: an absolute path as is, an `s3://` URI fetched into the local cache.
 * The S3 SDK loads only for models that live in S3, so local serving never depends on it.
 */
export async function localModelPath(uri: string, store?: ModelFetcher): Promise<string> {
  if (!uri.startsWith('s3://')) return uri;
  if (store) return store.fetch(uri);
  const [{ S3Client }, { S3ModelStore }, { awsClientConfig }] = await Promise.all([
    import('@aws-sdk/client-s3'),
    import('../../lib/aws/s3-model-store.ts'),
    import('../../lib/aws/client-config.ts'),
  ]);
  const client = new S3Client(awsClientConfig());
  try {
    return await new S3ModelStore(client, join(tmpdir(), 'tetrafleet-models')).fetch(uri);
  } finally {
    client.destroy();
  }
}
