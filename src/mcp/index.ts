/**
 * `kerno/mcp`: kerno's MCP server, to serve on a transport of your own. Needs the optional
 * package `@modelcontextprotocol/sdk` (loaded when a server is created).
 *
 * @example
 * import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
 * const server = await createMcpServer(kernel, { identity: 'my-tool' });
 * await server.connect(new StdioServerTransport());
 *
 * @module
 */
export {
  DEFAULT_APPROVAL_WAIT_MS,
  MAX_APPROVAL_WAIT_MS,
  MCP_TOOLS,
  createMcpServer,
  type McpServerOptions,
} from './mcp-server.js';
export { loadMcpSdk, type McpSdk } from './sdk.js';
