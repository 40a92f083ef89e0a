/**
 * A real OTLP/HTTP JSON receiver on a local port: it keeps every request (path, headers, parsed
 * body) so a test can check what kerno exported. `status` decides the answer (default 200).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: unknown;
}

/** One span as the receiver saw it, flattened from `resourceSpans`. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  events: { name: string; attributes: { key: string; value: Record<string, unknown> }[] }[];
  links: { traceId: string; spanId: string }[];
  status: { code: number; message?: string };
  resource: Record<string, unknown>;
}

export interface OtlpReceiver {
  readonly url: string;
  readonly requests: ReceivedRequest[];
  /** Answers the next requests with these statuses, in turn (then 200). */
  statuses: number[];
  spans(): ReceivedSpan[];
  close(): Promise<void>;
}

function flat(attrs: { key: string; value: Record<string, unknown> }[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const a of attrs) out[a.key] = Object.values(a.value)[0];
  return out;
}

/** The attributes of a span (or event) as a plain object (`intValue`s stay strings). */
export function attributesOf(span: {
  attributes: { key: string; value: Record<string, unknown> }[];
}): Record<string, unknown> {
  return flat(span.attributes);
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const receiver: OtlpReceiver = {
    url: '',
    requests,
    statuses: [],
    spans: () => {
      const out: ReceivedSpan[] = [];
      for (const r of requests) {
        const body = r.body as {
          resourceSpans?: {
            resource: { attributes: { key: string; value: Record<string, unknown> }[] };
            scopeSpans: { spans: Omit<ReceivedSpan, 'resource'>[] }[];
          }[];
        };
        for (const rs of body.resourceSpans ?? []) {
          const resource = flat(rs.resource.attributes);
          for (const ss of rs.scopeSpans) for (const s of ss.spans) out.push({ ...s, resource });
        }
      }
      return out;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const status = receiver.statuses.shift() ?? 200;
      if (status === 200) {
        requests.push({
          path: req.url ?? '',
          headers: req.headers,
          body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown,
        });
      }
      res.writeHead(status, { 'content-type': 'application/json', 'retry-after': '0' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  (receiver as { url: string }).url = `http://127.0.0.1:${String(port)}`;
  return receiver;
}
