import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { BodyBudget, HttpError, readBody } from '../../../agent/http-util.ts';
import { until } from './model-server/helpers.ts';

/** A server whose only handler reads the body and keeps how that ended. */
async function bodyServer(budget: BodyBudget) {
  const outcomes: (Buffer | Error)[] = [];
  let requests = 0;
  const server = createServer((req: IncomingMessage, res) => {
    requests++;
    readBody(req, { maxBytes: 1024, budget }, res).then(
      (body) => {
        outcomes.push(body);
        res.end('ok');
      },
      (error: Error) => {
        outcomes.push(error);
        res.destroy();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { server, port, outcomes, requests: () => requests };
}

const servers: Server[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

describe('readBody', () => {
  it.each([
    ['a declared length', 'content-length: 64\r\n', Buffer.alloc(10), 'after 10 of 64 bytes'],
    [
      'a chunked body',
      'transfer-encoding: chunked\r\n',
      Buffer.from('a\r\n0123456789\r\n'),
      'after 10 bytes',
    ],
  ])(
    'fails with 400 and frees its bytes when the client leaves partway through %s',
    async (_, header, part, what) => {
      const budget = new BodyBudget(4096);
      const s = await bodyServer(budget);
      servers.push(s.server);
      const socket = connect(s.port, '127.0.0.1');
      socket.on('error', () => {});
      socket.write(`POST / HTTP/1.1\r\nhost: test\r\n${header}\r\n`);
      socket.write(part);
      await until(() => s.requests() === 1 && budget.inUse > 0, 'the server to hold the first bytes');
      socket.destroy();
      await until(() => s.outcomes.length === 1, 'the read to end');
      const error = s.outcomes[0];
      expect(error).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(400);
      expect((error as HttpError).message).toBe(`request body incomplete: the connection ended ${what}`);
      expect(budget.inUse).toBe(0);
    },
  );
});
