import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoJobStore } from '../../lib/aws/dynamo-job-store.ts';
import { admitSubmission, jobIdOf, rejectSubmission } from '../../lib/core/control/admit.ts';
import { decodeSubmission } from '../../lib/core/protocol/submission.ts';
import { SubmissionRejectedError, TetrafleetClient } from '../../lib/sdk/index.ts';
import { resetEmulator, testAwsConfig } from '../support/emulator.ts';
import { createStateTables } from '../support/tables.ts';
import { jobSpec } from '../unit/model/builders.ts';

describe('admission against the emulator', () => {
  const aws = testAwsConfig();
  const dynamo = new DynamoDBClient(aws);
  let jobs: DynamoJobStore;
  let client: TetrafleetClient;
  const clock = { now: () => 1_700_000_000_000 };

  beforeAll(async () => {
    await resetEmulator();
    const tables = await createStateTables(dynamo, `admit-${process.pid}`);
    jobs = new DynamoJobStore(dynamo, tables);
    client = new TetrafleetClient({ endpoints: { submissionsQueueUrl: 'unused', tables }, aws });
  });
  afterAll(() => {
    client.close();
    dynamo.destroy();
  });

  const submission = (jobId: string, idempotencyKey?: string) => {
    const decoded = decodeSubmission(
      JSON.stringify({
        version: 1,
        kind: 'SubmitJob',
        jobId,
        idempotencyKey,
        spec: jobSpec({ name: jobId }),
      }),
    );
    if (!decoded.ok) throw new Error('fixture must be valid');
    return decoded.value;
  };

  it('admits a submission as a PENDING job once, however often it is delivered', async () => {
    const first = await admitSubmission(submission('adm-1'), { jobs, clock });
    const again = await admitSubmission(submission('adm-1'), { jobs, clock });
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(await jobs.get('adm-1')).toMatchObject({
      status: 'PENDING',
      version: 0,
      submittedAt: clock.now(),
    });
  });

  it('lets the submitter read why a submission was refused through getJob', async () => {
    const body = JSON.stringify({ version: 1, kind: 'SubmitJob', jobId: 'adm-bad', spec: { name: 'x' } });
    const decoded = decodeSubmission(body);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(await rejectSubmission(body, 'invalid spec', decoded.issues, { jobs, clock })).toBe(true);
    const error = await client.getJob('adm-bad').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SubmissionRejectedError);
    expect((error as SubmissionRejectedError).issues.map((i) => i.path)).toContain('spec.task');
  });

  it('does not let a broken resend shadow a job that was admitted', async () => {
    await admitSubmission(submission('adm-2'), { jobs, clock });
    const body = JSON.stringify({ version: 1, kind: 'SubmitJob', jobId: 'adm-2', spec: {} });
    expect(await rejectSubmission(body, 'invalid spec', [], { jobs, clock })).toBe(false);
    expect((await client.getJob('adm-2'))?.status).toBe('PENDING');
  });

  it('finds no job id in a body that is not JSON or names none', () => {
    expect(jobIdOf('not json')).toBeUndefined();
    expect(jobIdOf('{"jobId": 7}')).toBeUndefined();
    expect(jobIdOf('{"jobId": "ok-1"}')).toBe('ok-1');
  });
});
