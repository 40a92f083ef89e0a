/**
 * `kerno status` (the daemon at a glance) and `kerno doctor` (is this machine ready to run kerno?).
 *
 * @module
 */
import { existsSync, statSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Health } from '../../client/index.js';
import { errorMessage } from '../../errors.js';
import { resolveConfig } from '../../config.js';
import { openStorage, parseStoreUrl } from '../../storage/open-storage.js';
import { resolveDaemon } from '../client.js';
import { daemon, opts, print } from '../common.js';
import { EXIT } from '../exit-codes.js';
import type { CliContext } from '../output.js';

/** Registers `status` and `doctor`. */
export function registerStatusCommands(program: Command, ctx: CliContext): void {
  program
    .command('status')
    .description('show the running daemon: version, store, uptime, counts')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const client = daemon(o);
      const health: Health = await client.call((api) => api.system.health());
      const [approvals, agents] = await client.call((api) =>
        Promise.all([api.approvals.list(), api.agents.list().catch(() => [])]),
      );
      const byStatus: Record<string, number> = {};
      for (const a of agents) byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
      const status = {
        url: client.target.url,
        ...health,
        pendingApprovals: approvals.length,
        agents: byStatus,
      };
      print(
        ctx,
        o,
        status,
        () =>
          [
            `kerno ${health.version} at ${client.target.url} — ${health.status}`,
            `  store              ${health.store}`,
            `  uptime             ${health.uptimeSeconds} s`,
            `  audit entries      ${health.auditHead}`,
            `  pending approvals  ${approvals.length}`,
            `  agents             ${
              Object.entries(byStatus)
                .map(([s, n]) => `${n} ${s}`)
                .join(', ') || 'none'
            }`,
          ].join('\n') + '\n',
      );
    });

  program
    .command('doctor')
    .description(
      'check Node, the state folder, the store, the daemon and services (exit 1 on a failure)',
    )
    .option('--store <url>', 'the store to check (default: KERNO_STORE or sqlite:<state>/kerno.db)')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      const checks: { check: string; status: 'ok' | 'warn' | 'fail'; detail: string }[] = [];
      const add = (check: string, status: 'ok' | 'warn' | 'fail', detail: string): void => {
        checks.push({ check, status, detail });
      };
      const [maj, min] = process.versions.node.split('.').map(Number) as [number, number];
      add(
        'node',
        maj > 20 || (maj === 20 && min >= 19) ? 'ok' : 'fail',
        `Node ${process.versions.node} (kerno needs >= 20.19)`,
      );

      const config = resolveConfig(o);
      const home = config.home;
      if (!existsSync(home))
        add('state folder', 'warn', `${home} does not exist yet (created by \`kerno up\`)`);
      else {
        const mode = statSync(home).mode & 0o777;
        add(
          'state folder',
          (mode & 0o077) === 0 ? 'ok' : 'warn',
          `${home} mode ${mode.toString(8)}${(mode & 0o077) === 0 ? '' : ' (others can read it; chmod 700)'}`,
        );
        for (const f of ['token', 'tokens.json', 'kerno.db']) {
          const file = join(home, f);
          if (!existsSync(file)) continue;
          const m = statSync(file).mode & 0o777;
          add(
            `${f} permissions`,
            (m & 0o077) === 0 ? 'ok' : 'fail',
            `${file} mode ${m.toString(8)}${(m & 0o077) === 0 ? '' : ' (readable by others: chmod 600)'}`,
          );
        }
      }

      const storeUrl = config.store;
      try {
        const storage = await openStorage(storeUrl);
        const head = await storage.log.head('audit');
        await storage.close();
        add('store', 'ok', `${storeUrl} opens; schema current; ${head.seq} audit entries`);
      } catch (error) {
        add('store', 'fail', `${storeUrl}: ${errorMessage(error)}`);
      }
      const location = (() => {
        try {
          return parseStoreUrl(storeUrl);
        } catch {
          return undefined;
        }
      })();
      if (location?.kind === 'postgres') {
        const u = new URL(location.url);
        add(
          'postgresql',
          (await reachable(u.hostname, Number(u.port || 5432))) ? 'ok' : 'fail',
          `${u.hostname}:${u.port || 5432}`,
        );
      }
      const bus = config.bus;
      if (bus.startsWith('nats://')) {
        const u = new URL(bus);
        add(
          'nats',
          (await reachable(u.hostname, Number(u.port || 4222))) ? 'ok' : 'fail',
          `${u.hostname}:${u.port || 4222}`,
        );
      }

      const target = resolveDaemon(o);
      try {
        const res = await fetch(`${target.url}/health`, { signal: AbortSignal.timeout(2000) });
        add('daemon', res.ok ? 'ok' : 'warn', `${target.url} answers ${res.status}`);
        if (res.ok) {
          const auth = await fetch(`${target.url}/api/approvals`, {
            headers: target.token === undefined ? {} : { authorization: `Bearer ${target.token}` },
            signal: AbortSignal.timeout(2000),
          });
          add(
            'api token',
            auth.ok ? 'ok' : 'fail',
            auth.ok
              ? 'accepted'
              : `rejected (${auth.status}); check KERNO_TOKEN or ${join(home, 'token')}`,
          );
        }
      } catch {
        add('daemon', 'warn', `not running at ${target.url} (start it with \`kerno up\`)`);
      }

      print(ctx, o, { checks }, () => ({
        headers: ['check', 'status', 'detail'],
        rows: checks.map((c) => [
          c.check,
          c.status === 'ok' ? 'ok' : c.status === 'warn' ? 'WARN' : 'FAIL',
          c.detail,
        ]),
      }));
      ctx.exitCode = checks.some((c) => c.status === 'fail') ? EXIT.FAILURE_FOUND : EXIT.OK;
    });
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
