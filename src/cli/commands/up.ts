/**
 * `kerno up`: the daemon. Opens the store and the bus, starts the HTTP API and the dashboard
 * (127.0.0.1:7420 by default), prints the URL and the token, and shuts down cleanly on
 * SIGINT/SIGTERM: agents stopped, event streams ended, stores closed, nothing lost.
 *
 * @module
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { DEMO_AGENTS, startDemo } from '../../demo/demo-agents.js';
import { RESEARCH_AGENT } from '../../demo/demo-research.js';
import { KernelError } from '../../errors.js';
import { createKernel } from '../../kernel.js';
import { createServer } from '../../server/app.js';
import { loadOrCreateAdminToken } from '../../server/auth.js';
import { isLoopback, listenMetricsPort } from '../../server/metrics-port.js';
import { KERNO_METRICS_PORT_ENV } from '../../config.js';
import { createStderrLogger, type LogLevel } from '../../util/logger.js';
import { DAEMON_FILE } from '../client.js';
import { opts } from '../common.js';
import type { CliContext } from '../output.js';
import { VERSION } from '../version.js';

interface UpOptions {
  store?: string;
  bus?: string;
  host: string;
  port: string;
  demo?: boolean;
  logLevel: string;
  demoPace?: string;
  metricsPort?: string;
  metricsHost: string;
  metricsPublic?: boolean;
}

/** Registers `up`. */
export function registerUpCommand(program: Command, ctx: CliContext): void {
  program
    .command('up')
    .description('run the kerno daemon: HTTP API, live events and the dashboard')
    .option(
      '--store <url>',
      'storage: sqlite:<path> (default KERNO_STORE or sqlite:<state>/kerno.db), memory:, postgres://…',
    )
    .option('--bus <url>', 'event bus: memory (default, or KERNO_BUS) or nats://host:4222')
    .option('--host <host>', 'listen address (loopback by default)', '127.0.0.1')
    .option('--port <port>', 'listen port (0 picks a free one)', '7420')
    .option(
      '--metrics-port <port>',
      'also serve GET /metrics without a token on this port (loopback; or KERNO_METRICS_PORT)',
    )
    .option('--metrics-host <host>', 'the metrics port’s address', '127.0.0.1')
    .option(
      '--metrics-public',
      'allow a non-loopback --metrics-host (the metrics port has no token)',
    )
    .option('--demo', 'also run the bundled demo agents')
    .option('--log-level <level>', 'debug | info | warn | error', 'info')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<UpOptions>(cmd);
      const port = Number(o.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) {
        throw new KernelError('INVALID_ARGUMENT', `--port must be 0–65535, got ${o.port}`);
      }
      const metricsText = o.metricsPort ?? process.env[KERNO_METRICS_PORT_ENV];
      const metricsPort =
        metricsText === undefined || metricsText === '' ? undefined : Number(metricsText);
      if (
        metricsPort !== undefined &&
        (!Number.isInteger(metricsPort) || metricsPort < 0 || metricsPort > 65535)
      ) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `--metrics-port (or ${KERNO_METRICS_PORT_ENV}) must be 0–65535, got ${metricsText ?? ''}`,
        );
      }
      if (metricsPort !== undefined && !isLoopback(o.metricsHost) && o.metricsPublic !== true) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `The metrics port has no token, so it binds loopback only; ${o.metricsHost} is not loopback — pass --metrics-public to serve it there anyway`,
        );
      }
      const logger = createStderrLogger(o.logLevel as LogLevel);
      const kernel = await createKernel({
        logger,
        ...(o.home === undefined ? {} : { stateDir: o.home }),
        ...(o.store === undefined ? {} : { store: o.store }),
        ...(o.bus === undefined ? {} : { bus: o.bus }),
      });
      const { stateDir, config } = kernel;
      let server;
      let stopDemo: (() => void) | undefined;
      let metrics: Awaited<ReturnType<typeof listenMetricsPort>> | undefined;
      try {
        const { token, created } = loadOrCreateAdminToken(stateDir);
        server = await createServer(kernel, { token, version: VERSION, stateDir });
        const { url } = await server.listen({ host: o.host, port });
        if (metricsPort !== undefined) {
          metrics = await listenMetricsPort(server.app, token, {
            port: metricsPort,
            host: o.metricsHost,
            ...(o.metricsPublic === true ? { allowPublic: true } : {}),
          });
        }
        const daemonFile = join(stateDir, DAEMON_FILE);
        writeFileSync(
          daemonFile,
          JSON.stringify({ url, pid: process.pid, startedAt: new Date().toISOString() }) + '\n',
          { mode: 0o600 },
        );
        ctx.io.stdout(
          [
            `kerno ${VERSION} is up`,
            `  API        ${url}/api  (OpenAPI: ${url}/api/openapi.json, with the token)`,
            `  metrics    ${metrics === undefined ? `${url}/metrics (with the token; --metrics-port N serves it without one on loopback)` : `${metrics.url} (no token)`}`,
            `  MCP        ${url}/mcp  (streamable HTTP, same token; stdio: kerno mcp)`,
            `  dashboard  ${url}/#token=${token}`,
            `  token      ${token}${created ? '  (new; kept in ' + join(stateDir, 'token') + ')' : ''}`,
            `  store      ${kernel.storage.url}`,
            `  state      ${stateDir}`,
            '',
          ].join('\n'),
        );
        if (o.demo === true) {
          stopDemo = await startDemo(
            kernel,
            config.demoPace === undefined ? {} : { pace: config.demoPace },
          );
          ctx.io.stdout(
            `  demo       agents started: ${DEMO_AGENTS.join(', ')}; durable run: ${RESEARCH_AGENT} (kill -9 me and start again: it resumes)\n`,
          );
        }
        ctx.io.stdout('Press Ctrl-C to stop.\n');
        const signal = await new Promise<NodeJS.Signals | 'escalated'>((resolve) => {
          process.once('SIGINT', () => resolve('SIGINT'));
          process.once('SIGTERM', () => resolve('SIGTERM'));
          // The root supervisor gave up: exit non-zero so a process manager restarts the daemon.
          void kernel.supervisor.escalated.then((error) => {
            ctx.io.stderr(`kerno: ${error.message}; exiting so the daemon is restarted\n`);
            // ctx.exitCode, not process.exitCode: bin/kerno.js sets the latter from runCli's result.
            ctx.exitCode = 1;
            resolve('escalated');
          });
        });
        ctx.io.stdout(`\n${signal}: stopping agents, closing the store …\n`);
        rmSync(daemonFile, { force: true });
      } finally {
        stopDemo?.();
        await metrics?.close();
        await server?.close();
        await kernel.close();
      }
      ctx.io.stdout('kerno stopped cleanly.\n');
    });
}
