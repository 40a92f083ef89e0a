/**
 * Loads the optional `@modelcontextprotocol/sdk` on first use, so kerno (and its daemon) load
 * without it; a missing SDK is `DEPENDENCY_MISSING` naming the package to install.
 *
 * @module
 */
import { KernelError } from '../errors.js';

import type * as McpModule from '@modelcontextprotocol/sdk/server/mcp.js';
import type * as StdioModule from '@modelcontextprotocol/sdk/server/stdio.js';
import type * as HttpModule from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type * as HttpClientModule from '@modelcontextprotocol/sdk/client/streamableHttp.js';

/** The SDK's server modules. */
export interface McpSdk {
  readonly McpServer: typeof McpModule.McpServer;
  readonly StdioServerTransport: typeof StdioModule.StdioServerTransport;
  readonly StreamableHTTPServerTransport: typeof HttpModule.StreamableHTTPServerTransport;
}

let loading: Promise<McpSdk> | undefined;

/** Imports the SDK's server modules; `DEPENDENCY_MISSING` when the package is not installed. */
export function loadMcpSdk(): Promise<McpSdk> {
  loading ??= Promise.all([
    import('@modelcontextprotocol/sdk/server/mcp.js'),
    import('@modelcontextprotocol/sdk/server/stdio.js'),
    import('@modelcontextprotocol/sdk/server/streamableHttp.js'),
  ]).then(
    ([mcp, stdio, http]) => ({
      McpServer: mcp.McpServer,
      StdioServerTransport: stdio.StdioServerTransport,
      StreamableHTTPServerTransport: http.StreamableHTTPServerTransport,
    }),
    (error: unknown) => {
      loading = undefined;
      throw missing(error);
    },
  );
  return loading;
}

type HttpClientTransport = typeof HttpClientModule.StreamableHTTPClientTransport;
let loadingClient: Promise<HttpClientTransport> | undefined;

/** Imports the SDK's streamable-HTTP client transport (for `kerno mcp`'s proxy to the daemon). */
export function loadMcpHttpClientTransport(): Promise<HttpClientTransport> {
  loadingClient ??= import('@modelcontextprotocol/sdk/client/streamableHttp.js').then(
    (m) => m.StreamableHTTPClientTransport,
    (error: unknown) => {
      loadingClient = undefined;
      throw missing(error);
    },
  );
  return loadingClient;
}

function missing(error: unknown): KernelError {
  return new KernelError(
    'DEPENDENCY_MISSING',
    'The MCP server needs the optional package @modelcontextprotocol/sdk; run `npm install @modelcontextprotocol/sdk` next to kerno',
    { cause: error },
  );
}
