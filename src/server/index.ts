/**
 * `kerno/server`: the HTTP edge (Fastify API, SSE feed, dashboard) over a kernel. Kept out of
 * `kerno` so that embedding the kernel never loads an HTTP server.
 *
 * @example
 * import { createKernel } from 'kerno';
 * import { createServer } from 'kerno/server';
 * const server = await createServer(await createKernel(), { token });
 * await server.listen({ port: 7420 });
 *
 * @module
 */
export { createServer } from './app.js';
export type { KernoServer, ServerOptions } from './app.js';
export { HTTP_STATUS, problemFor } from './problem.js';
export type { Problem } from './problem.js';
