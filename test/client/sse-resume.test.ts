/**
 * `client.events.stream()` survives a dropped connection: a TCP proxy between the client and a
 * real daemon cuts the first event stream in the middle of a frame; the iterator reconnects with
 * Last-Event-ID and yields every event exactly once, in order, before and after the drop.
 */
import { randomUUID } from 'node:crypto';
import net from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createClient, isKernoApiError, type KernoEvent } from '../../src/client/index.js';
import { createServer } from '../../src/server/app.js';
import { testKernel } from '../helpers/kernel.js';
import { waitFor } from '../helpers/wait.js';

const TOKEN = 'kerno_test_admin_token_0123456789';

let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/**
 * A proxy to `port` that cuts its first connection once the daemon has sent `cutAtFrame` event
 * frames' `id:` lines, a few bytes into that frame (so the client holds a partial frame). It
 * records each connection's request head.
 */
async function cuttingProxy(port: number, cutAtFrame: number) {
  const requests: string[] = [];
  const sockets = new Set<net.Socket>();
  let connections = 0;
  let cut = false;
  const proxy = net.createServer((client) => {
    const index = connections++;
    const upstream = net.connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    let head = '';
    client.on('data', (chunk: Buffer) => {
      head += chunk.toString('latin1');
      upstream.write(chunk);
    });
    let sent = '';
    upstream.on('data', (chunk: Buffer) => {
      if (index !== 0) {
        client.write(chunk);
        return;
      }
      const text = chunk.toString('latin1');
      const all = sent + text;
      const ids = [...all.matchAll(/^id: /gm)];
      if (ids.length >= cutAtFrame && !cut) {
        cut = true;
        const at = ids[cutAtFrame - 1]!.index + 6;
        client.write(Buffer.from(all.slice(sent.length, at), 'latin1'), () => {
          client.destroy();
          upstream.destroy();
        });
        return;
      }
      sent = all;
      client.write(chunk);
    });
    client.on('close', () => {
      requests[index] = head;
      upstream.destroy();
    });
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    isCut: () => cut,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}

describe('client.events.stream() resume', () => {
  it('reconnects after a drop mid-frame and yields every event once, in order', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const { port } = await server.listen({ port: 0 });
    const proxy = await cuttingProxy(port, 4);
    cleanups.push(proxy.close);

    const client = createClient({ baseUrl: proxy.url, token: TOKEN });
    const ac = new AbortController();
    const reconnects: (number | undefined)[] = [];
    const stream = client.events.stream({
      types: ['AgentStarted'],
      signal: ac.signal,
      reconnectDelayMs: 5,
      onReconnect: (info) => reconnects.push(info.lastEventId),
    });
    const agents = Array.from({ length: 9 }, () => randomUUID());
    const got: KernoEvent[] = [];
    const reading = (async () => {
      for await (const event of stream) {
        got.push(event);
        if (got.length === agents.length) break;
      }
    })();
    await waitFor(() => server.feed.stats().clients === 1, 'the stream to subscribe');
    // Six events while the first connection is up: the proxy cuts it inside the fourth frame.
    for (const id of agents.slice(0, 6)) k.kernel.bus.publish({ type: 'AgentStarted', id });
    await waitFor(() => proxy.isCut() && proxy.connections() === 2, 'the drop and the reconnect');
    await waitFor(() => got.length >= 6, 'the events resumed from the daemon');
    // And three more on the new connection, live.
    for (const id of agents.slice(6)) k.kernel.bus.publish({ type: 'AgentStarted', id });
    await reading;

    expect(got.map((e) => e.data['id'])).toEqual(agents);
    expect(got.every((e) => e.type === 'AgentStarted')).toBe(true);
    const ids = got.map((e) => e.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    expect(new Set(ids).size).toBe(ids.length);
    // It resumed after the last whole event it had: the third.
    expect(reconnects).toEqual([ids[2]]);
    await waitFor(() => proxy.requests.length === 2, 'the second request to be recorded');
    expect(proxy.requests[0]).not.toMatch(/last-event-id/i);
    expect(proxy.requests[1]).toMatch(new RegExp(`last-event-id: ${ids[2]}\\r\\n`, 'i'));
    expect(stream.lastEventId).toBe(ids[8]);
    ac.abort();
  });

  it('starts after `since`, ends quietly on abort, and fails at once on a refusal', async () => {
    const k = await testKernel();
    const server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(k.cleanup, () => server.close());
    const { url } = await server.listen({ port: 0 });
    const client = createClient({ baseUrl: url, token: TOKEN });
    const [a, b] = [randomUUID(), randomUUID()];
    k.kernel.bus.publish({ type: 'AgentStarted', id: a });
    k.kernel.bus.publish({ type: 'AgentStarted', id: b });
    const head = await waitFor(async () => {
      const h = await k.kernel.audit.head();
      return h.seq >= 2 && h;
    }, 'both events audited');

    const ac = new AbortController();
    const seen: string[] = [];
    const stream = client.events.stream({ since: head.seq - 1, signal: ac.signal });
    for await (const event of stream) {
      seen.push(event.data['id'] as string);
      ac.abort();
    }
    expect(seen).toEqual([b]);
    await waitFor(() => server.feed.stats().clients === 0, 'the stream to close');

    const refused = createClient({ baseUrl: url, token: 'wrong' }).events.stream();
    const error: unknown = await refused.next().catch((e: unknown) => e);
    expect(isKernoApiError(error, 'UNAUTHORIZED')).toBe(true);
    const badType = client.events.stream({ types: ['Nope'] });
    const bad: unknown = await badType.next().catch((e: unknown) => e);
    expect(isKernoApiError(bad, 'INVALID_QUERY')).toBe(true);
  });

  it('yields frames without an id (run steps, not recorded) as live, without moving the resume point', async () => {
    const bodies = [
      'data: {"type":"ToolExecutionStarted","n":0}\n\nid: 4\ndata: {"type":"A","n":1}\n\nevent: ToolExecutionFinished\ndata: {"type":"ToolExecutionFinished","n":2}\n\nid: 5\ndata: {"type":"A","n":3}\n\ndata: {"type":"ToolExecutionStarted","n":4}\n\n',
      'id: 6\ndata: {"type":"A","n":5}\n\ndata: not json\n\n',
    ];
    const asked: (string | null)[] = [];
    const fake: typeof fetch = (_input, init) => {
      asked.push(new Headers(init?.headers).get('last-event-id'));
      const text = bodies[asked.length - 1];
      if (text === undefined) return new Promise(() => undefined);
      return Promise.resolve(
        new Response(text, { headers: { 'content-type': 'text/event-stream' } }),
      );
    };
    const client = createClient({ baseUrl: 'http://kerno.test', fetch: fake });
    const stream = client.events.stream({ reconnectDelayMs: 0 });
    const got: unknown[] = [];
    const error = await (async () => {
      for await (const e of stream) got.push([e.data['n'], e.id, e.type, e.live ?? false]);
    })().catch((e: unknown) => e);
    expect(got).toEqual([
      [0, 0, 'ToolExecutionStarted', true],
      [1, 4, 'A', false],
      [2, 4, 'ToolExecutionFinished', true],
      [3, 5, 'A', false],
      [4, 5, 'ToolExecutionStarted', true],
      [5, 6, 'A', false],
    ]);
    // It resumed after the last recorded event, not after the live one that followed it.
    expect(asked).toEqual([null, '5']);
    expect(stream.lastEventId).toBe(6);
    // A live frame that is not JSON is refused like a recorded one, naming where it came.
    expect(isKernoApiError(error, 'INTERNAL')).toBe(true);
    expect((error as Error).message).toContain('Event after 6 of GET /api/events is not JSON');
  });

  it('skips events it already yielded when a server resends them, and parses CRLF frames', async () => {
    const bodies = [
      'retry: 1\r\n\r\nid: 1\r\nevent: A\r\ndata: {"type":"A",\r\ndata: "n":1}\r\n\r\nid: 2\ndata: {"type":"A","n":2}\n\nid: 3\ndata: {"ty',
      'id: 2\ndata: {"type":"A","n":2}\n\nid: 3\ndata: {"type":"A","n":3}\n\n',
    ];
    const asked: (string | null)[] = [];
    const fake: typeof fetch = (_input, init) => {
      asked.push(new Headers(init?.headers).get('last-event-id'));
      const text = bodies[asked.length - 1];
      if (text === undefined) return new Promise(() => undefined);
      const bytes = new TextEncoder().encode(text);
      return Promise.resolve(
        new Response(
          new ReadableStream({
            start(c) {
              // Split inside a frame, to cross a chunk boundary.
              c.enqueue(bytes.slice(0, 20));
              c.enqueue(bytes.slice(20));
              c.close();
            },
          }),
          { headers: { 'content-type': 'text/event-stream' } },
        ),
      );
    };
    const client = createClient({ baseUrl: 'http://kerno.test', fetch: fake });
    const got: unknown[] = [];
    for await (const e of client.events.stream({ reconnectDelayMs: 0 })) {
      got.push(e.data['n']);
      if (got.length === 3) break;
    }
    expect(got).toEqual([1, 2, 3]);
    expect(asked).toEqual([null, '2']);
  });

  it('resumes across a daemon restart on the same store; a first connection is not retried', async () => {
    const k = await testKernel();
    cleanups.push(k.cleanup);
    let server = await createServer(k.kernel, { token: TOKEN });
    cleanups.push(() => server.close());
    const { port, url } = await server.listen({ port: 0 });
    const client = createClient({ baseUrl: url, token: TOKEN });
    const ac = new AbortController();
    cleanups.push(() => ac.abort());
    const stream = client.events.stream({
      types: ['AgentStarted'],
      signal: ac.signal,
      reconnectDelayMs: 5,
      maxReconnects: 50,
    });
    const agents = [randomUUID(), randomUUID(), randomUUID()];
    const got: string[] = [];
    const reading = (async () => {
      for await (const e of stream) {
        got.push(e.data['id'] as string);
        if (got.length === agents.length) break;
      }
    })();
    await waitFor(() => server.feed.stats().clients === 1, 'the stream to subscribe');
    k.kernel.bus.publish({ type: 'AgentStarted', id: agents[0]! });
    await waitFor(() => got.length === 1, 'the first event');
    await server.close();
    // While the daemon is down: this event is only in the audit trail.
    k.kernel.bus.publish({ type: 'AgentStarted', id: agents[1]! });
    server = await createServer(k.kernel, { token: TOKEN });
    await server.listen({ port });
    await waitFor(() => server.feed.stats().clients === 1, 'the stream to come back');
    k.kernel.bus.publish({ type: 'AgentStarted', id: agents[2]! });
    await reading;
    expect(got).toEqual(agents);

    // Nothing listens here: the first connection fails at once, typed.
    const down = createClient({ baseUrl: 'http://127.0.0.1:9' }).events.stream();
    const error: unknown = await down.next().catch((e: unknown) => e);
    expect(isKernoApiError(error, 'UNREACHABLE')).toBe(true);
  });
});
