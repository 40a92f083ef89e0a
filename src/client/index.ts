/**
 * `kerno/client`: a typed client for the kerno HTTP API that runs anywhere fetch does (Node,
 * browsers, Deno, Bun, edge runtimes): no Node-only API. Every route of the daemon's OpenAPI
 * document has a method (checked by test/client/coverage.test.ts); failures are
 * {@link KernoApiError}s with kerno's error codes; the event feed is a resumable async iterator.
 *
 * @example
 * import { createClient } from 'kerno/client';
 * const kerno = createClient({ baseUrl: 'http://127.0.0.1:7420', token: process.env.KERNO_TOKEN });
 * const { id } = await kerno.runs.start({ agent: 'summarise', input: { url } });
 * for await (const event of kerno.events.stream({ types: ['RunCompleted'] })) console.log(event);
 *
 * @module
 */
export { KernoClient, createClient } from './client.js';
export { KernoApiError, isKernoApiError, codeForStatus } from './errors.js';
export type { ApiProblem } from './errors.js';
export { EventStream } from './sse.js';
export type { EventStreamOptions } from './sse.js';
export { ROUTES, NOT_CLIENT_ROUTES } from './routes.js';
export type { HttpMethod, RouteName } from './routes.js';
export { textLines } from './transport.js';
export type {
  CallOptions,
  Download,
  KernoClientOptions,
  QueryValue,
  RequestOptions,
  UploadBody,
} from './transport.js';
export type { KernelErrorCode } from '../errors.js';
export type * from './types.js';
