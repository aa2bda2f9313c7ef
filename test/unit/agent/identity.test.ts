import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ImdsClient, resolveIdentity } from '../../../agent/identity.ts';
import { TransientError } from '../../../lib/core/errors.ts';

/** A fake IMDSv2: hands out a token on PUT and answers GETs only with that token. */
async function fakeImds(paths: Record<string, string>, options: { silent?: boolean } = {}) {
  const requests: { method: string; url: string; token?: string }[] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      token: req.headers['x-aws-ec2-metadata-token'] as string,
    });
    if (options.silent) return; // never answers
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (!req.headers['x-aws-ec2-metadata-token-ttl-seconds']) return void res.writeHead(400).end();
      return void res.writeHead(200).end('token-abc');
    }
    if (req.headers['x-aws-ec2-metadata-token'] !== 'token-abc') return void res.writeHead(401).end();
    const body = paths[req.url ?? ''];
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
});

describe('instance identity through IMDSv2', () => {
  it('puts a token first and reads instance id and type with it', async () => {
    const imds = await fakeImds({
      '/latest/meta-data/instance-id': 'i-0abc',
      '/latest/meta-data/instance-type': 'g5.xlarge',
    });
    const identity = await new ImdsClient(imds.url, 2000).identity();
    expect(identity).toEqual({ instanceId: 'i-0abc', instanceType: 'g5.xlarge' });
    expect(imds.requests[0]).toMatchObject({ method: 'PUT', url: '/latest/api/token' });
    expect(imds.requests.filter((r) => r.method === 'GET').every((r) => r.token === 'token-abc')).toBe(true);
    expect(imds.requests.filter((r) => r.method === 'PUT')).toHaveLength(1);
  });

  it('prefers ids given in config and asks IMDS only for the missing one', async () => {
    const imds = await fakeImds({
      '/latest/meta-data/instance-id': 'i-from-imds',
      '/latest/meta-data/instance-type': 'c6i.large',
    });
    const identity = await resolveIdentity({ instanceId: 'i-given' }, new ImdsClient(imds.url, 2000));
    expect(identity).toEqual({ instanceId: 'i-given', instanceType: 'c6i.large' });
  });

  it('fails with a TransientError when IMDS does not answer within the timeout', async () => {
    const imds = await fakeImds({}, { silent: true });
    await expect(new ImdsClient(imds.url, 100).identity()).rejects.toBeInstanceOf(TransientError);
  });

  it('sees no spot interruption while IMDS answers 404, and the notice once it appears', async () => {
    const paths: Record<string, string> = {};
    const imds = await fakeImds(paths);
    const client = new ImdsClient(imds.url, 2000);
    expect(await client.spotInterruption()).toBeUndefined();
    paths['/latest/meta-data/spot/instance-action'] = JSON.stringify({
      action: 'terminate',
      time: '2026-11-25T15:00:00Z',
    });
    expect(await client.spotInterruption()).toEqual({
      action: 'terminate',
      at: Date.parse('2026-11-25T15:00:00Z'),
    });
  });

  it('reads the private IPv4 address that serving endpoints advertise', async () => {
    const imds = await fakeImds({ '/latest/meta-data/local-ipv4': '10.0.3.17\n' });
    expect(await new ImdsClient(imds.url, 2000).privateIp()).toBe('10.0.3.17');
  });

  it('fails with a TransientError when IMDS has no private address', async () => {
    const imds = await fakeImds({});
    await expect(new ImdsClient(imds.url, 2000).privateIp()).rejects.toBeInstanceOf(TransientError);
  });
});
