/**
 * In-memory fakes of the control loop's ports, faithful to the DynamoDB and EC2 adapters where it
 * matters: every conditional write checks the version it was given and throws ConflictError, job moves
 * follow the state machine, `moveTask` moves only from the listed states, launches are idempotent on
 * their token. Every fake records its calls and can be told to fail next.
 */
import type { Clock } from '../../lib/core/ports.ts';
import { FakeFleetProvider, FakeInstanceChannel } from './fake-cloud.ts';
import { FakeInstanceStore, FakeJobStore, FakeLeaseStore, FakeTaskStore } from './fake-table-stores.ts';

export { FakeFleetProvider, FakeInstanceChannel } from './fake-cloud.ts';
export { type RecordedCall, Recorder } from './fake-recorder.ts';
export { cloudOf, heartbeatOf, storedInstance, storedTask } from './fake-seeds.ts';
export { FakeInstanceStore, FakeJobStore, FakeLeaseStore, FakeTaskStore } from './fake-table-stores.ts';

/** Every fake wired together, sharing one clock. */
export function fakeControl(clock: Clock) {
  const jobs = new FakeJobStore();
  return {
    clock,
    jobs,
    leases: new FakeLeaseStore(),
    tasks: new FakeTaskStore(jobs),
    instances: new FakeInstanceStore(),
    fleet: new FakeFleetProvider(clock),
    channel: new FakeInstanceChannel(),
  };
}
