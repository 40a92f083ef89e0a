/**
 * An unauthenticated Prometheus endpoint on a port of its own (`kerno up --metrics-port N`):
 * `GET /metrics` only, answered by the main API's own `/metrics` route (the same lines), for a
 * scraper that cannot send a bearer token. It binds loopback only unless told `allowPublic`:
 * metrics name agents and counts, which is not for the network at large.
 *
 * @module
 */
import { createServer as createHttpServer, type Server } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { KernelError } from '../errors.js';

/** Options for {@link listenMetricsPort}. */
export interface MetricsPortOptions {
  readonly port: number;
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Allow a non-loopback host (the endpoint has no token). */
  readonly allowPublic?: boolean;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Whether `host` is a loopback address. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Serves `GET /metrics` from `app` (with `token`) on its own port. */
export async function listenMetricsPort(
  app: FastifyInstance,
  token: string,
  options: MetricsPortOptions,
): Promise<{ url: string; port: number; close: () => Promise<void> }> {
  const host = options.host ?? '127.0.0.1';
  if (!Number.isInteger(options.port) || options.port < 0 || options.port > 65535) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The metrics port must be 0–65535, got ${String(options.port)}`,
    );
  }
  if (!isLoopback(host) && options.allowPublic !== true) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `The metrics port has no token, so it binds loopback only; ${host} is not loopback — pass --metrics-public to serve it there anyway, or scrape /metrics on the main port with a token`,
    );
  }
  const server: Server = createHttpServer((req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0];
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('Only GET /metrics is served on this port\n');
      return;
    }
    app
      .inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${token}` } })
      .then(
        (r) => {
          res.writeHead(r.statusCode, {
            'content-type': String(r.headers['content-type'] ?? 'text/plain'),
          });
          res.end(req.method === 'HEAD' ? undefined : r.body);
        },
        () => {
          res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
          res.end('metrics failed\n');
        },
      );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : options.port;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${String(port)}/metrics`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
