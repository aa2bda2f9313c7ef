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
 *     PIPELINE#<id>   / RECORD         a pipeline record (spec, status, plan, targets; version-guarded)
 *     PIPELINE#<id>   / ENDPOINT#<stage>#<jobId>#<iii>#<aaa>   a running replica's or router's URL
 *     PIPELINE#<id>   / REPORT#<intervalEnd, 15 digits>#<instanceId>   a router report (TTL 1 h)
 *     IDEM#pipeline#<key> / IDEM       a pipeline submission's idempotency record (pipelineId)
 *     REJECTED#pipeline#<id> / REJECTED  why a pipeline submission was refused at admission
 *     PROFILE#<modelId> / TYPE#<type>  a model's profile on one instance type (measured or derived)
 *   ENDPOINT# < RECORD < REPORT# in sort order, so one query (sk < "REPORT#") reads a pipeline's record
 *   and its endpoints together: what the router's directory needs.
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
  pipelines: {
    recordSort: 'RECORD',
    endpointPrefix: 'ENDPOINT#',
    reportPrefix: 'REPORT#',
    profileTypePrefix: 'TYPE#',
  },
});

/** Physical table names, as the stack outputs them and handlers receive them in their environment. */
export interface TableNames {
  readonly jobs: string;
  readonly instances: string;
  readonly placements: string;
  readonly control: string;
}
