import { TetrafleetClient } from '../../../lib/sdk/client.ts';

/** A client whose endpoints answer nothing: anything that reached the network would fail differently. */
export function offlineClient(): TetrafleetClient {
  return new TetrafleetClient({
    endpoints: {
      submissionsQueueUrl: 'http://127.0.0.1:9/queue/submissions',
      tables: { jobs: 'jobs', instances: 'instances', placements: 'placements', control: 'control' },
    },
    aws: {
      region: 'us-east-1',
      endpoint: 'http://127.0.0.1:9',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
      requestHandler: { connectionTimeout: 200, requestTimeout: 200 },
    },
  });
}
