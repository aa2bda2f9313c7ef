/**
 * In-memory fakes of the cloud side of the control loop: the EC2 fleet, with launches idempotent on their
 * token, and the per-instance message queues.
 */
import { InsufficientCapacityError, NotFoundError, ValidationError } from '../../lib/core/errors.ts';
import type {
  Clock,
  CloudInstance,
  FleetProvider,
  InstanceChannel,
  LaunchedInstance,
  LaunchRequest,
} from '../../lib/core/ports.ts';
import { decodeTaskCommand, type TaskCommand } from '../../lib/core/protocol/tasks.ts';
import { copy, Recorder } from './fake-recorder.ts';

type FleetMethod = 'launch' | 'list' | 'terminate';

/** EC2 as the fleet sees it: launches idempotent on their token, capacity that can run out per type. */
export class FakeFleetProvider extends Recorder<FleetMethod> implements FleetProvider {
  readonly instances = new Map<string, CloudInstance>();
  /** Instances each type can still give; unlimited for a type not listed. */
  readonly capacity = new Map<string, number>();
  /** False: no spot capacity anywhere, so a spot request falls back to on-demand where it allows that. */
  spotAvailable = true;
  private seq = 0;

  constructor(private readonly clock: Clock) {
    super();
  }

  seed(...instances: CloudInstance[]): this {
    for (const i of instances) this.instances.set(i.id, copy(i));
    return this;
  }

  /** The cloud forgets an instance, as after a termination nobody asked for. */
  lose(id: string): this {
    this.instances.delete(id);
    return this;
  }

  async launch(request: LaunchRequest): Promise<LaunchedInstance[]> {
    this.record('launch', request);
    if (request.count < 1 || !Number.isInteger(request.count))
      throw new RangeError(`count must be a whole number of at least 1, got ${request.count}`);
    const earlier = [...this.instances.values()].filter(
      (i) => i.tags['tetrafleet:launch-token'] === request.token && i.state !== 'terminated',
    );
    if (earlier.length > 0) return earlier.map(({ state: _s, tags: _t, ...rest }) => rest);
    let market = request.market;
    if (market === 'spot' && !this.spotAvailable) {
      if (!request.onDemandFallback) throw new InsufficientCapacityError(request.instanceTypes);
      market = 'on-demand';
    }
    const launched: LaunchedInstance[] = [];
    for (const type of request.instanceTypes) {
      while (launched.length < request.count && (this.capacity.get(type) ?? Number.POSITIVE_INFINITY) > 0) {
        const left = this.capacity.get(type);
        if (left !== undefined) this.capacity.set(type, left - 1);
        const inst = {
          id: `i-fake${++this.seq}`,
          type,
          market,
          launchedAt: this.clock.now(),
        };
        const tags = { ...request.tags, 'tetrafleet:launch-token': request.token };
        this.instances.set(inst.id, { ...inst, state: 'pending', tags });
        launched.push(inst);
      }
    }
    if (launched.length === 0) throw new InsufficientCapacityError(request.instanceTypes);
    return launched;
  }

  async list(): Promise<CloudInstance[]> {
    this.record('list');
    return [...this.instances.values()].filter((i) => i.state !== 'terminated').map(copy);
  }

  async terminate(instanceIds: readonly string[]): Promise<void> {
    this.record('terminate', instanceIds);
    for (const id of instanceIds) {
      const i = this.instances.get(id);
      if (i) this.instances.set(id, { ...i, state: 'terminated' });
    }
  }
}

type ChannelMethod = 'open' | 'send' | 'close';

/** Per-instance queues; every message sent is decoded as the agent would, so a malformed one fails. */
export class FakeInstanceChannel extends Recorder<ChannelMethod> implements InstanceChannel {
  readonly queues = new Map<string, string>();
  readonly closed = new Set<string>();
  readonly sent: { queueUrl: string; message: TaskCommand }[] = [];

  static urlOf(instanceId: string): string {
    return `fake://queues/${instanceId}`;
  }

  async open(instanceId: string): Promise<string> {
    this.record('open', instanceId);
    const url = FakeInstanceChannel.urlOf(instanceId);
    this.queues.set(instanceId, url);
    this.closed.delete(url);
    return url;
  }

  async send(queueUrl: string, message: Parameters<InstanceChannel['send']>[1]): Promise<void> {
    this.record('send', queueUrl, message);
    if (this.closed.has(queueUrl)) throw new NotFoundError('queue', queueUrl);
    const decoded = decodeTaskCommand(message);
    if (!decoded.ok) throw new ValidationError('instance message', decoded.issues);
    this.sent.push({ queueUrl, message: decoded.value });
  }

  async close(queueUrl: string): Promise<void> {
    this.record('close', queueUrl);
    this.closed.add(queueUrl);
  }

  /** Messages sent to one instance's queue, in order. */
  messagesFor(instanceId: string): TaskCommand[] {
    const url = FakeInstanceChannel.urlOf(instanceId);
    return this.sent.filter((s) => s.queueUrl === url).map((s) => s.message);
  }
}
