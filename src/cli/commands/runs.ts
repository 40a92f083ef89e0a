/**
 * `kerno runs define|start|list|show|signal|cancel`: durable runs through the daemon (`list` and
 * `show` also on a store with --store). Text an agent controls (step keys, errors, results) is
 * escaped before it reaches the terminal.
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import { RUN_STATUSES, type RunStatus } from '../../runs/journal.js';
import type { RunInfo, RunSummary } from '../../runs/run-engine.js';
import { escapeControl } from '../../util/escape.js';
import {
  STORE_OPTION,
  daemon,
  opts,
  parseJsonOption,
  parseLimit,
  print,
  viaStoreOrDaemon,
} from '../common.js';
import type { CliContext } from '../output.js';

const clean = (text: string): string => escapeControl(text).replace(/[\n\t]/g, ' ');

function errorText(e: RunSummary['error']): string {
  return e === undefined ? '' : clean(`${e.name}: ${e.message}`).slice(0, 80);
}

function listRows(list: readonly RunSummary[]) {
  return {
    headers: ['id', 'agent', 'status', 'started', 'ended', 'error'],
    rows: list.map((r) => [
      r.id,
      clean(r.agent),
      r.status,
      r.startedAt,
      r.endedAt ?? '',
      errorText(r.error),
    ]),
  };
}

function showText(run: RunInfo): string {
  const lines = [
    `run      ${run.id}`,
    `agent    ${clean(run.agent)} (version ${clean(run.version)})`,
    `status   ${run.status}`,
    `started  ${run.startedAt}`,
    ...(run.endedAt === undefined ? [] : [`ended    ${run.endedAt}`]),
    ...(run.waitingFor === undefined
      ? []
      : [
          `waiting  ${
            run.waitingFor.kind === 'sleep'
              ? `sleep until ${run.waitingFor.until}`
              : run.waitingFor.kind === 'signal'
                ? `signal '${clean(run.waitingFor.name)}'${run.waitingFor.until === null ? '' : ` until ${run.waitingFor.until}`}`
                : `approval ${run.waitingFor.gate}`
          }`,
        ]),
    ...(run.queue === undefined || run.queue.length === 0
      ? []
      : [`queued   ${run.queue.map((q) => `#${q.position} under ${clean(q.limit)}`).join(', ')}`]),
    `input    ${clean(JSON.stringify(run.input) ?? 'null')}`,
    ...(run.result === undefined ? [] : [`result   ${clean(JSON.stringify(run.result))}`]),
    ...(run.error === undefined ? [] : [`error    ${errorText(run.error)}`]),
    `journal  ${String(run.journalLength)} records, ${String(run.steps.length)} steps`,
  ];
  for (const s of run.steps) {
    const detail =
      s.status === 'completed'
        ? clean(JSON.stringify(s.result) ?? '').slice(0, 60)
        : errorText(s.error);
    lines.push(`  ${s.status === 'completed' ? '✓' : '✗'} ${clean(s.key)}  ${detail}`);
  }
  return lines.join('\n') + '\n';
}

/** Registers the `runs` commands. */
export function registerRunCommands(program: Command, ctx: CliContext): void {
  const runs = program.command('runs').description('durable runs (steps survive restarts)');
  runs
    .command('define <name> <command> [args...]')
    .description(
      'define a durable process agent (stored: its runs resume after a daemon restart); put the command after --',
    )
    .option('--agent-version <version>', 'the agent version recorded with each run')
    .option('--cwd <dir>', 'working directory')
    .option('--env <KEY=VALUE...>', 'extra environment variables')
    .option('--json', 'print JSON')
    .action(async (name: string, command: string, args: string[], _o: unknown, cmd: Command) => {
      const o = opts<{ agentVersion?: string; cwd?: string; env?: string[] }>(cmd);
      const env: Record<string, string> = {};
      for (const pair of o.env ?? []) {
        const i = pair.indexOf('=');
        if (i > 0) env[pair.slice(0, i)] = pair.slice(i + 1);
      }
      const body = {
        name,
        ...(o.agentVersion === undefined ? {} : { version: o.agentVersion }),
        process: {
          command,
          args,
          ...(Object.keys(env).length > 0 ? { env } : {}),
          ...(o.cwd === undefined ? {} : { cwd: o.cwd }),
        },
      };
      const r = await daemon(o).json<{ name: string; version: string }>(
        'POST',
        '/api/runs/agents',
        body,
      );
      print(ctx, o, r, () => `defined ${clean(r.name)} (version ${clean(r.version)})\n`);
    });
  runs
    .command('start <agent>')
    .description('start a run of a defined agent')
    .option('--input <json>', 'the run input (JSON)')
    .option('--id <id>', 'the run id (starting the same id again is a no-op)')
    .option('--priority <n>', 'under a limit, higher priorities start first (default 0)')
    .option('--limit-key <key>', 'also take a slot on this limit key (e.g. openai)')
    .option('--json', 'print JSON')
    .action(async (agent: string, _o: unknown, cmd: Command) => {
      const o = opts<{ input?: string; id?: string; priority?: string; limitKey?: string }>(cmd);
      if (o.priority !== undefined && !/^-?\d{1,7}$/.test(o.priority)) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `--priority is a whole number (higher starts first), got ${JSON.stringify(o.priority)}`,
        );
      }
      const body = {
        agent,
        ...(o.input === undefined ? {} : { input: parseJsonOption(o.input, '--input') }),
        ...(o.id === undefined ? {} : { id: o.id }),
        ...(o.priority === undefined ? {} : { priority: Number(o.priority) }),
        ...(o.limitKey === undefined ? {} : { limitKey: o.limitKey }),
      };
      const r = await daemon(o).json<{ id: string }>('POST', '/api/runs', body);
      print(ctx, o, r, () => `${r.id}\n`);
    });
  runs
    .command('list')
    .description('runs, newest first')
    .option('--agent <name>', 'only this agent')
    .option('--status <statuses>', 'comma-separated statuses')
    .option('--limit <n>', 'at most this many (default 100)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ agent?: string; status?: string; limit?: string; store?: string }>(cmd);
      const q = new URLSearchParams();
      if (o.agent !== undefined) q.set('agent', o.agent);
      if (o.status !== undefined) q.set('status', o.status);
      if (o.limit !== undefined) q.set('limit', o.limit);
      const qs = q.toString();
      const list = await viaStoreOrDaemon(
        o,
        async (k) =>
          k.runs.list({
            ...(o.agent === undefined ? {} : { agent: o.agent }),
            ...(o.status === undefined ? {} : { status: parseStatuses(o.status) }),
            limit: parseLimit(o.limit, 10_000) ?? 100,
          }),
        async (d) =>
          (await d.json<{ runs: RunSummary[] }>('GET', `/api/runs${qs === '' ? '' : `?${qs}`}`))
            .runs,
      );
      print(ctx, o, list, () => (list.length === 0 ? 'no runs\n' : listRows(list)));
    });
  runs
    .command('show <id>')
    .description('one run with its steps')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      const run = await viaStoreOrDaemon(
        o,
        (k) => k.runs.get(id),
        (d) => d.json<RunInfo>('GET', `/api/runs/${encodeURIComponent(id)}`),
      );
      print(ctx, o, run, () => showText(run));
    });
  runs
    .command('signal <id> <name> [payload]')
    .description('send a durable signal into a run (payload: JSON, else taken as a string)')
    .option('--json', 'print JSON')
    .action(
      async (id: string, name: string, payload: string | undefined, _o: unknown, cmd: Command) => {
        const o = opts(cmd);
        let value: unknown = payload;
        if (payload !== undefined) {
          try {
            value = JSON.parse(payload);
          } catch {
            value = payload;
          }
        }
        const r = await daemon(o).json<{ id: string; signal: string }>(
          'POST',
          `/api/runs/${encodeURIComponent(id)}/signal`,
          { name, ...(value === undefined ? {} : { payload: value }) },
        );
        print(ctx, o, r, () => `signalled ${r.id}: ${clean(r.signal)}\n`);
      },
    );
  runs
    .command('cancel <id>')
    .description('cancel a run')
    .option('--reason <text>', 'why (recorded as the run error)')
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ reason?: string }>(cmd);
      const r = await daemon(o).json<RunSummary>(
        'POST',
        `/api/runs/${encodeURIComponent(id)}/cancel`,
        o.reason === undefined ? {} : { reason: o.reason },
      );
      print(ctx, o, r, () => `${r.id} ${r.status}\n`);
    });
}

/** `--status a,b` as run statuses, with the API's error for an unknown one. */
function parseStatuses(text: string): RunStatus[] {
  const list = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const s of list) {
    if (!RUN_STATUSES.includes(s as RunStatus))
      throw new KernelError(
        'INVALID_QUERY',
        `status must be one of ${RUN_STATUSES.join(', ')}, got ${JSON.stringify(s)}`,
      );
  }
  return list as RunStatus[];
}
