/**
 * /mcp: kerno's MCP server over streamable HTTP (stateless: each POST is one exchange with a
 * server built for the calling token). The token is checked like any API call; a tenant token's
 * session is confined to that tenant (see `src/mcp/mcp-server.ts`). The MCP SDK is an optional
 * package, imported on the first request: without it the route answers DEPENDENCY_MISSING.
 *
 * @module
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { principalName } from '../auth.js';
import type { ServerContext } from '../context.js';

/** Registers the MCP endpoint. */
export function mcpRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.post(
    '/mcp',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'MCP (streamable HTTP, stateless): tools for approvals, the ledger, learning and runs; a tenant token sees only its ledger records',
        tags: ['mcp'],
      },
    },
    async (req, reply) => {
      const [{ createMcpServer }, { loadMcpSdk }] = await Promise.all([
        import('../../mcp/mcp-server.js'),
        import('../../mcp/sdk.js'),
      ]);
      const sdk = await loadMcpSdk();
      const p = req.principal;
      const server = await createMcpServer(ctx.kernel, {
        identity: principalName(p),
        ...(p.kind === 'tenant' ? { tenantId: p.tenant } : {}),
        version: ctx.version,
      });
      // No session id generator: stateless.
      const transport = new sdk.StreamableHTTPServerTransport({ enableJsonResponse: true });
      reply.hijack();
      reply.raw.on('close', () => {
        void server.close();
      });
      await server.connect(transport);
      await transport.handleRequest(req.raw, reply.raw, req.body);
    },
  );
  // Stateless: no server-initiated stream to open, no session to end.
  const notAllowed = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply
      .code(405)
      .header('allow', 'POST')
      .send({
        jsonrpc: '2.0',
        error: {
          code: -32000,
          message: 'Method not allowed: this MCP endpoint is stateless; POST only',
        },
        id: null,
      });
  app.get('/mcp', { config: { scope: 'tenant' }, schema: { tags: ['mcp'] } }, notAllowed);
  app.delete('/mcp', { config: { scope: 'tenant' }, schema: { tags: ['mcp'] } }, notAllowed);
}
