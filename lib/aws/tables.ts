/**
 * Key schema of the state tables, shared by the CDK constructs that create them and the adapters that
 * read and write them. Plain constants only, so that importing it pulls neither the CDK nor the SDK in.
 *
 *   table       pk                 sk                          GSI (pk / sk)
 *   ---------   ----------------   -------------------------   ------------------------------------
 *   jobs        jobId (S)          -                           byStatus:   status / submittedAt (N)
 *   instances   instanceId (S)     -                           byState:    state / launchedAt (N)
 *   placements  jobId (S)          taskKey (S)                 byInstance: instanceId / startAt (N)
 *                                  "task#<iii>#attempt#<aaa>" (zero-padded to sort)
 *   control     pk (S)             sk (S)                      -    (TTL attribute: expiresAt, epoch s)
 *     LEASE#<name>    / LEASE          a lease (owner, expiresAt)
 *     IDEM#<key>      / IDEM           a submission's idempotency record (jobId)
 *     PIPELINE#<name> / SPEC | TARGET#<stage>    pipeline specs and replica targets
 *     PROFILE#<model> / TYPE#<type>    per-hardware model latency profiles
 */
export const TABLE_KEYS = Object.freeze({
  jobs: {
    partitionKey: 'jobId',
    statusIndex: 'byStatus',
    statusKey: 'status',
    submittedAtKey: 'submittedAt',
  },
  instances: {
    partitionKey: 'instanceId',
    stateIndex: 'byState',
    stateKey: 'state',
    launchedAtKey: 'launchedAt',
  },
  placements: {
    partitionKey: 'jobId',
    sortKey: 'taskKey',
    instanceIndex: 'byInstance',
    instanceKey: 'instanceId',
    startAtKey: 'startAt',
  },
  control: { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' },
});

/** Physical table names, as the stack outputs them and handlers receive them in their environment. */
export interface TableNames {
  readonly jobs: string;
  readonly instances: string;
  readonly placements: string;
  readonly control: string;
}
