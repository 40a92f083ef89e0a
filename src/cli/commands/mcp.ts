/**
 * `kerno mcp`: kerno's MCP server on stdio, for MCP clients (Claude Code, Cursor …) that start
 * their servers as commands.
 *
 * - `kerno mcp --store <url>` opens the store directly (the CLI's `--store` mode: a kernel
 *   without agents). The session acts as an admin; it cannot start or signal runs (no agents
 *   run in this process), everything else works on the store a daemon may share.
 * - `kerno mcp` (no `--store`) relays stdio to the daemon's `/mcp` endpoint with the CLI's
 *   daemon URL and token: every tool, and the token decides what the session may see.
 *
 * The MCP SDK (`@modelcontextprotocol/sdk`, optional) is imported here, on use.
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError, errorMessage } from '../../errors.js';
import { createKernel } from '../../kernel.js';
import { createStderrLogger } from '../../util/logger.js';
import { resolveDaemon } from '../client.js';
import { opts } from '../common.js';
import type { CliContext } from '../output.js';
import { VERSION } from '../version.js';

/** Registers the `mcp` command. */
export function registerMcpCommand(program: Command, _ctx: CliContext): void {
  program
    .command('mcp')
    .description(
      "serve MCP on stdio: relayed to the daemon's /mcp endpoint (its token decides what the session may do), or on a store directly with --store",
    )
    .option(
      '--store <url>',
      'open this store directly instead of relaying to the daemon (admin; runs cannot be started or signalled)',
    )
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      if (o.store !== undefined) await serveStore(o.store, o.home);
      else await relayToDaemon(o);
    });
}

/** Resolves when stdin ends (the client went away) or the process is told to stop. */
function untilStdinEnds(): Promise<void> {
  return new Promise((resolve) => {
    process.stdin.once('end', resolve);
    process.stdin.once('close', resolve);
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

async function serveStore(store: string, home: string | undefined): Promise<void> {
  const [{ loadMcpSdk }, { createMcpServer }] = await Promise.all([
    import('../../mcp/sdk.js'),
    import('../../mcp/mcp-server.js'),
  ]);
  const sdk = await loadMcpSdk();
  const kernel = await createKernel({
    agents: false,
    store,
    bus: 'memory',
    ...(home === undefined ? {} : { stateDir: home }),
    logger: createStderrLogger('warn'),
  });
  try {
    const server = await createMcpServer(kernel, {
      identity: 'kerno mcp (stdio)',
      version: VERSION,
    });
    const ended = untilStdinEnds();
    await server.connect(new sdk.StdioServerTransport());
    await ended;
    await server.close();
  } finally {
    await kernel.close();
  }
}

async function relayToDaemon(o: { url?: string; token?: string; home?: string }): Promise<void> {
  const [{ loadMcpSdk, loadMcpHttpClientTransport }] = await Promise.all([
    import('../../mcp/sdk.js'),
  ]);
  const sdk = await loadMcpSdk();
  const HttpTransport = await loadMcpHttpClientTransport();
  const target = resolveDaemon({ url: o.url, token: o.token, home: o.home });
  if (target.token === undefined) {
    throw new KernelError(
      'UNAUTHORIZED',
      'No daemon token: pass --token, set KERNO_TOKEN, or run where <state>/token is readable (or use --store)',
    );
  }
  const upstream = new HttpTransport(new URL(`${target.url}/mcp`), {
    requestInit: { headers: { authorization: `Bearer ${target.token}` } },
  });
  const local = new sdk.StdioServerTransport();
  const logger = createStderrLogger('warn');
  local.onmessage = (message) => {
    upstream.send(message).catch((error: unknown) => {
      // A request the daemon never answered still gets an answer, so the client is not left waiting.
      if ('id' in message && 'method' in message) {
        void local.send({
          jsonrpc: '2.0',
          id: message.id,
          error: { code: -32603, message: relayError(error, target.url) },
        });
      }
    });
  };
  upstream.onmessage = (message) => {
    void local.send(message);
  };
  upstream.onerror = (error) => logger.warn('MCP relay', { error: errorMessage(error) });
  const ended = untilStdinEnds();
  await upstream.start();
  await local.start();
  await ended;
  await Promise.allSettled([local.close(), upstream.close()]);
}

/**
 * What the client is told when the daemon did not answer a request: the daemon's own problem
 * (`UNAUTHORIZED: …` for a refused token), or UNREACHABLE with what to do.
 */
function relayError(error: unknown, url: string): string {
  const status = (error as { code?: unknown }).code;
  if (typeof status === 'number') {
    const text = errorMessage(error);
    try {
      const problem = JSON.parse(text.slice(text.indexOf('{'))) as {
        code?: unknown;
        detail?: unknown;
        hint?: unknown;
      };
      if (typeof problem.code === 'string' && typeof problem.detail === 'string') {
        return `${problem.code}: ${problem.detail}${typeof problem.hint === 'string' ? ` (${problem.hint})` : ''}`;
      }
    } catch {
      // not a problem body: fall through
    }
    return `The kerno daemon at ${url} answered HTTP ${String(status)}: ${text}`;
  }
  return `UNREACHABLE: the kerno daemon at ${url} did not answer (${errorMessage(error)}); start it with \`kerno up\` or use \`kerno mcp --store <url>\``;
}
