import { TransientError } from '../lib/core/errors.ts';

/**
 * The EC2 instance metadata service, IMDSv2 only: a session token is PUT first and sent with every GET.
 * The base URL is configurable so tests can point it at a local HTTP server.
 */

const TOKEN_TTL_SECONDS = 21_600;

export interface InstanceIdentity {
  readonly instanceId: string;
  readonly instanceType: string;
}

/** A spot interruption notice: what AWS will do and when (epoch milliseconds). */
export interface SpotInterruption {
  readonly action: string;
  readonly at: number;
}

export type FetchFn = typeof fetch;

export class ImdsClient {
  private token?: { value: Promise<string>; expiresAt: number };

  constructor(
    private readonly baseUrl: string,
    private readonly timeoutMs: number,
    private readonly fetchFn: FetchFn = fetch,
    private readonly now: () => number = Date.now,
  ) {}

  /** Instance id and type; throws TransientError when IMDS does not answer in time or answers badly. */
  async identity(): Promise<InstanceIdentity> {
    const [instanceId, instanceType] = await Promise.all([
      this.get('meta-data/instance-id'),
      this.get('meta-data/instance-type'),
    ]);
    if (instanceId === undefined || instanceType === undefined)
      throw new TransientError('instance metadata has no instance-id or instance-type (HTTP 404)');
    return { instanceId: instanceId.trim(), instanceType: instanceType.trim() };
  }

  /** The instance's private IPv4 address: what other instances reach its serving tasks on. */
  async privateIp(): Promise<string> {
    const ip = (await this.get('meta-data/local-ipv4'))?.trim();
    if (!ip) throw new TransientError('instance metadata has no local-ipv4 (HTTP 404)');
    return ip;
  }

  /** The pending spot interruption, or undefined while there is none (IMDS answers 404 until then). */
  async spotInterruption(): Promise<SpotInterruption | undefined> {
    const body = await this.get('meta-data/spot/instance-action');
    if (body === undefined) return undefined;
    try {
      const parsed = JSON.parse(body) as { action?: unknown; time?: unknown };
      const at = typeof parsed.time === 'string' ? Date.parse(parsed.time) : Number.NaN;
      return { action: String(parsed.action ?? 'terminate'), at: Number.isNaN(at) ? this.now() : at };
    } catch {
      // A notice we cannot read is still a notice: act on it now rather than ignore it.
      return { action: 'terminate', at: this.now() };
    }
  }

  /** GET a metadata path; undefined on 404. Refreshes the token once when IMDS says it expired (401). */
  private async get(path: string): Promise<string | undefined> {
    for (let attempt = 0; attempt < 2; attempt++) {
      const token = await this.sessionToken(attempt > 0);
      const res = await this.request(`${this.baseUrl}/latest/${path}`, {
        headers: { 'X-aws-ec2-metadata-token': token },
      });
      if (res.status === 404) return undefined;
      if (res.status === 401) continue;
      if (!res.ok) throw new TransientError(`instance metadata GET ${path} answered HTTP ${res.status}`);
      return res.text();
    }
    throw new TransientError(`instance metadata refused a fresh token for ${path} (HTTP 401)`);
  }

  /** One token shared by concurrent GETs; renewed a minute early so it never expires mid-request. */
  private sessionToken(refresh: boolean): Promise<string> {
    const cached = this.token;
    if (!refresh && cached && cached.expiresAt - 60_000 > this.now()) return cached.value;
    const fetching = this.fetchToken();
    this.token = { value: fetching, expiresAt: this.now() + TOKEN_TTL_SECONDS * 1000 };
    // A failed PUT must not be cached: the next call tries again.
    fetching.catch(() => {
      if (this.token?.value === fetching) this.token = undefined;
    });
    return fetching;
  }

  private async fetchToken(): Promise<string> {
    const res = await this.request(`${this.baseUrl}/latest/api/token`, {
      method: 'PUT',
      headers: { 'X-aws-ec2-metadata-token-ttl-seconds': String(TOKEN_TTL_SECONDS) },
    });
    if (!res.ok) throw new TransientError(`instance metadata token PUT answered HTTP ${res.status}`);
    return (await res.text()).trim();
  }

  private async request(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.fetchFn(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new TransientError(
        `instance metadata at ${url} did not answer within ${this.timeoutMs} ms: ${reason}`,
        {
          cause: error,
        },
      );
    }
  }
}

/** Ids from config win; in ec2 mode the missing ones come from IMDS. */
export async function resolveIdentity(
  given: { instanceId?: string; instanceType?: string },
  imds: Pick<ImdsClient, 'identity'> | undefined,
): Promise<InstanceIdentity> {
  if (given.instanceId && given.instanceType)
    return { instanceId: given.instanceId, instanceType: given.instanceType };
  if (!imds) return { instanceId: given.instanceId ?? 'local', instanceType: given.instanceType ?? 'local' };
  const found = await imds.identity();
  return {
    instanceId: given.instanceId ?? found.instanceId,
    instanceType: given.instanceType ?? found.instanceType,
  };
}
