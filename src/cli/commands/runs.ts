/**
 * `kerno runs define|start|ls|show|signal|cancel|resume|fork|rerun|tail|compare`: durable runs
 * through the daemon (`ls`, `show`, `compare` and `resume`/`cancel` also on a store with
 * --store). Text an agent controls (step keys, errors, results) is escaped before it reaches the
 * terminal.
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import { RUN_STATUSES, type RunStatus } from '../../runs/journal.js';
import type { RunInfo, RunListQuery, RunSummary } from '../../runs/run-engine.js';
import { compareRuns, type RunComparison } from '../../runs/run-outcomes.js';
import { EXIT } from '../exit-codes.js';
import type { DaemonClient } from '../client.js';
import { escapeControl } from '../../util/escape.js';
import {
  STORE_OPTION,
  daemon,
  opts,
  parseJsonOption,
  localPrincipal,
  parseLimit,
  print,
  viaStoreOrDaemon,
} from '../common.js';
import { formatTable, type CliContext } from '../output.js';

const clean = (text: string): string => escapeControl(text).replace(/[\n\t]/g, ' ');

function errorText(e: RunSummary['error']): string {
  return e === undefined ? '' : clean(`${e.name}: ${e.message}`).slice(0, 80);
}

function listRows(list: readonly RunSummary[]) {
  return {
    headers: ['id', 'agent', 'status', 'tenant', 'started', 'ended', 'from', 'error'],
    rows: list.map((r) => [
      r.id,
      clean(r.agent),
      r.status,
      clean(r.tenant ?? ''),
      r.startedAt,
      r.endedAt ?? '',
      r.forkOf !== undefined
        ? `fork of ${r.forkOf.runId} @ ${clean(r.forkOf.fromStep)}`
        : r.rerunOf !== undefined
          ? `rerun of ${r.rerunOf}`
          : '',
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
    ...(run.tenant === undefined ? [] : [`tenant   ${clean(run.tenant)}`]),
    ...(run.config === undefined ? [] : [`config   ${clean(JSON.stringify(run.config))}`]),
    ...(run.forkOf === undefined
      ? []
      : [`fork of  ${run.forkOf.runId} from step ${clean(run.forkOf.fromStep)}`]),
    ...(run.rerunOf === undefined ? [] : [`rerun of ${run.rerunOf}`]),
    ...(run.forks.length === 0 ? [] : [`forks    ${run.forks.join(', ')}`]),
    `usage    ${String(run.usage.tokens)} tokens, ${String(run.usage.costMicrodollars)} µ$; ${String(run.usage.stepsRan)} steps ran, ${String(run.usage.stepsCopied)} copied; ${String(run.durationMs)} ms`,
    `journal  ${String(run.journalLength)} records, ${String(run.steps.length)} steps`,
  ];
  for (const r of run.resumes) {
    lines.push(
      `resume ${String(r.n)}  ${r.at} by ${clean(r.by)}${r.reason === undefined ? '' : `: ${clean(r.reason)}`}${r.config === undefined ? '' : ` config ${clean(JSON.stringify(r.config)).slice(0, 80)}`}`,
      `         replayed ${r.replayed.length === 0 ? '-' : r.replayed.map(clean).join(', ')}; ran ${r.ran.length === 0 ? '-' : r.ran.map(clean).join(', ')}`,
    );
  }
  for (const s of run.steps) lines.push(stepLine(s));
  return lines.join('\n') + '\n';
}

function stepLine(s: RunInfo['steps'][number]): string {
  const detail =
    s.status === 'completed'
      ? clean(JSON.stringify(s.result) ?? '').slice(0, 60)
      : errorText(s.error);
  const mark = s.superseded === true ? '↻' : s.status === 'completed' ? '✓' : '✗';
  const notes = [
    s.copied === true ? 'copied' : s.resume > 0 ? `resume ${String(s.resume)}` : '',
    s.attempts > 1 ? `${String(s.attempts)} attempts` : '',
    s.durationMs === undefined ? '' : `${String(s.durationMs)} ms`,
    s.superseded === true ? 'ran again' : '',
  ].filter((n) => n !== '');
  return `  ${mark} ${clean(s.key)}${notes.length === 0 ? '' : ` (${notes.join(', ')})`}  ${detail}`;
}

function compareText(c: RunComparison): string {
  const metric = (name: string, f: (o: RunComparison['a']) => string): string[] => [
    name,
    f(c.a),
    f(c.b),
  ];
  const head = {
    headers: ['', c.a.id, c.b.id],
    rows: [
      metric('status', (o) => o.status),
      metric('duration', (o) => `${String(o.durationMs)} ms`),
      metric('tokens', (o) => String(o.tokens)),
      metric('cost', (o) => `${String(o.costMicrodollars)} µ$`),
      metric('steps ran', (o) => String(o.stepsRan)),
      metric('steps copied', (o) => String(o.stepsCopied)),
      ...c.steps.map((st) => {
        const side = (x: RunComparison['steps'][number]['a']): string =>
          x === undefined
            ? '-'
            : `${x.status === 'completed' ? '✓' : '✗'}${x.copied === true ? ' copied' : ''} ${clean(JSON.stringify(x.result) ?? '').slice(0, 40)}`;
        return [`${st.same ? '=' : '≠'} ${clean(st.key)}`, side(st.a), side(st.b)];
      }),
    ],
  };
  return formatTable(head.headers, head.rows) + `winner: ${c.winner ?? 'none'} (${c.reason})\n`;
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
    .option('--config <json>', 'the config the run sees as ctx.config (JSON)')
    .option('--tenant <id>', 'the tenant the run belongs to (tenant tokens see only theirs)')
    .option('--id <id>', 'the run id (starting the same id again is a no-op)')
    .option('--priority <n>', 'under a limit, higher priorities start first (default 0)')
    .option('--limit-key <key>', 'also take a slot on this limit key (e.g. openai)')
    .option('--json', 'print JSON')
    .action(async (agent: string, _o: unknown, cmd: Command) => {
      const o = opts<{
        input?: string;
        config?: string;
        tenant?: string;
        id?: string;
        priority?: string;
        limitKey?: string;
      }>(cmd);
      if (o.priority !== undefined && !/^-?\d{1,7}$/.test(o.priority)) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `--priority is a whole number (higher starts first), got ${JSON.stringify(o.priority)}`,
        );
      }
      const body = {
        agent,
        ...(o.input === undefined ? {} : { input: parseJsonOption(o.input, '--input') }),
        ...(o.config === undefined ? {} : { config: parseJsonOption(o.config, '--config') }),
        ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
        ...(o.id === undefined ? {} : { id: o.id }),
        ...(o.priority === undefined ? {} : { priority: Number(o.priority) }),
        ...(o.limitKey === undefined ? {} : { limitKey: o.limitKey }),
      };
      const r = await daemon(o).call((api) => api.runs.start(body));
      print(ctx, o, r, () => `${r.id}\n`);
    });
  runs
    .command('ls')
    .alias('list')
    .description('runs, newest first, a page at a time')
    .option('--agent <name>', 'only this agent')
    .option('--status <statuses>', 'comma-separated statuses')
    .option('--tenant <id>', 'only this tenant')
    .option('--since <time>', 'started at or after (RFC 3339 or epoch ms)')
    .option('--until <time>', 'started before (RFC 3339 or epoch ms)')
    .option('-q, --search <text>', 'text in the run id or agent name')
    .option('--cursor <id>', 'the next page (the cursor the previous page printed)')
    .option('--limit <n>', 'at most this many (default 100)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON (an array; the next page’s cursor goes to stderr)')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<ListOptions>(cmd);
      const limit = parseLimit(o.limit, 10_000) ?? 100;
      const page = await viaStoreOrDaemon(
        o,
        async (k) => {
          const got = k.runs.list({ ...listQuery(o), limit: limit + 1 });
          const more = got.length > limit;
          const list = more ? got.slice(0, limit) : got;
          return { runs: list, ...(more ? { nextCursor: list[list.length - 1]!.id } : {}) };
        },
        (d) => d.json<RunPage>('GET', `/api/runs?${listParams(o, limit)}`),
      );
      // --json prints the array (as `list` always did); the next page's cursor goes to stderr.
      print(ctx, o, page.runs, () => (page.runs.length === 0 ? 'no runs\n' : listRows(page.runs)));
      if (page.nextCursor !== undefined) ctx.io.stderr(`more: --cursor ${page.nextCursor}\n`);
    });
  runs
    .command('show <id>')
    .description('one run with its steps, resumes and forks')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      const run = await viaStoreOrDaemon(
        o,
        (k) => k.runs.get(id),
        (d) => getRun(d, id),
      );
      print(ctx, o, run, () => showText(run));
    });
  runs
    .command('compare <a> <b>')
    .description(
      'two runs side by side (a fork and its parent): outcome, cost, steps, and the winner (completed, then lower cost, then shorter)',
    )
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (a: string, b: string, _o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      const c = await viaStoreOrDaemon(
        o,
        async (k) => compareRuns(await k.runs.get(a), await k.runs.get(b)),
        async (d) => compareRuns(await getRun(d, a), await getRun(d, b)),
      );
      print(ctx, o, c, () => compareText(c));
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
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ reason?: string; store?: string }>(cmd);
      const r = await viaStoreOrDaemon(
        o,
        (k) => k.runs.cancel(id, o.reason),
        (d) =>
          d.json<RunSummary>(
            'POST',
            `/api/runs/${encodeURIComponent(id)}/cancel`,
            o.reason === undefined ? {} : { reason: o.reason },
          ),
      );
      print(ctx, o, r, () => `${r.id} ${r.status}\n`);
    });
  runs
    .command('resume <id>')
    .description(
      'resume a failed or cancelled run under its id: failed steps run again, completed ones replay',
    )
    .option('--config <json>', 'the config it continues with (ctx.config; default: the one it had)')
    .option('--reason <text>', 'why (recorded on the journal)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ config?: string; reason?: string; store?: string }>(cmd);
      const body = {
        ...(o.config === undefined ? {} : { config: parseJsonOption(o.config, '--config') }),
        ...(o.reason === undefined ? {} : { reason: o.reason }),
      };
      const r = await viaStoreOrDaemon(
        o,
        (k) => k.runs.resume(id, { ...body, by: localPrincipal() }),
        (d) => d.json<RunSummary>('POST', `/api/runs/${encodeURIComponent(id)}/resume`, body),
      );
      print(
        ctx,
        o,
        r,
        () =>
          `${r.id} resumed (resume ${String(r.resumeCount ?? 0)}); follow it: kerno runs tail ${r.id}\n`,
      );
    });
  runs
    .command('fork <id>')
    .description(
      'a new run that replays the steps before --from (not run again) and continues live from it',
    )
    .requiredOption(
      '--from <step>',
      'the first step to run live: its key (plan#1) or 0-based position',
    )
    .option('--config <json>', 'the fork’s config (default: the parent’s)')
    .option('--input <json>', 'the fork’s input (default: the parent’s)')
    .option('--id <id>', 'the fork’s run id')
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ from: string; config?: string; input?: string; id?: string }>(cmd);
      const body = {
        fromStep: /^\d+$/.test(o.from) ? Number(o.from) : o.from,
        ...(o.config === undefined ? {} : { config: parseJsonOption(o.config, '--config') }),
        ...(o.input === undefined ? {} : { input: parseJsonOption(o.input, '--input') }),
        ...(o.id === undefined ? {} : { id: o.id }),
      };
      const forked = await daemon(o).call((api) => api.runs.fork(id, body));
      const r = {
        ...forked,
        forkOf: forked.forkOf ?? { runId: id, fromStep: String(body.fromStep) },
      };
      print(
        ctx,
        o,
        r,
        () =>
          `${r.id}\n(fork of ${r.forkOf.runId} from step ${clean(r.forkOf.fromStep)}; compare: kerno runs compare ${r.id} ${r.forkOf.runId})\n`,
      );
    });
  runs
    .command('rerun <id>')
    .description('a fresh run of the same agent with the same input, config and tenant')
    .option('--id <id>', 'the new run’s id')
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ id?: string }>(cmd);
      const r = await daemon(o).call((api) =>
        api.runs.rerun(id, o.id === undefined ? {} : { id: o.id }),
      );
      print(ctx, o, r, () => `${r.id}\n`);
    });
  runs
    .command('tail <id>')
    .description(
      'follow a run’s journal until it ends; exit code 0 when it completed, 1 when it failed or was cancelled',
    )
    .option('--interval <ms>', 'how often to look (default 500)')
    .option('--json', 'print each new step as a JSON line')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ interval?: string }>(cmd);
      const interval = parseLimit(o.interval, 60_000) ?? 500;
      const client = daemon(o);
      let printed = 0;
      let status = '';
      for (;;) {
        const run = await getRun(client, id);
        if (printed === 0 && o.json !== true) {
          ctx.io.stdout(`run ${run.id}  ${clean(run.agent)}\n`);
        }
        for (const step of run.steps.slice(printed)) {
          ctx.io.stdout(o.json === true ? JSON.stringify(step) + '\n' : stepLine(step) + '\n');
        }
        printed = run.steps.length;
        if (run.status !== status && o.json !== true) {
          status = run.status;
          ctx.io.stdout(`  · ${run.status}${waitText(run)}\n`);
        }
        if (run.status === 'completed' || run.status === 'failed' || run.status === 'cancelled') {
          if (o.json === true) {
            ctx.io.stdout(
              JSON.stringify({
                id: run.id,
                status: run.status,
                ...(run.error === undefined ? {} : { error: run.error }),
              }) + '\n',
            );
          } else if (run.error !== undefined) {
            ctx.io.stdout(`  ${errorText(run.error)}\n`);
          }
          ctx.exitCode = run.status === 'completed' ? EXIT.OK : EXIT.FAILURE_FOUND;
          return;
        }
        await new Promise<void>((resolve) => setTimeout(resolve, interval));
      }
    });
}

interface ListOptions {
  agent?: string;
  status?: string;
  tenant?: string;
  since?: string;
  until?: string;
  search?: string;
  cursor?: string;
  limit?: string;
  store?: string;
}

interface RunPage {
  runs: RunSummary[];
  nextCursor?: string;
}

function getRun(d: DaemonClient, id: string): Promise<RunInfo> {
  return d.json<RunInfo>('GET', `/api/runs/${encodeURIComponent(id)}`);
}

function waitText(run: RunInfo): string {
  const w = run.waitingFor;
  if (w === undefined) return '';
  return w.kind === 'sleep'
    ? ` (sleep until ${w.until})`
    : w.kind === 'signal'
      ? ` (signal '${clean(w.name)}')`
      : ` (approval ${w.gate})`;
}

/** A time option as epoch ms (RFC 3339 or digits), with the API's error otherwise. */
function parseTime(text: string, what: string): number {
  const ms = /^\d+$/.test(text)
    ? Number(text)
    : /^\d{4}-\d{2}-\d{2}/.test(text)
      ? Date.parse(text)
      : NaN;
  if (Number.isNaN(ms)) {
    throw new KernelError(
      'INVALID_QUERY',
      `${what} is epoch milliseconds or an RFC 3339 time (2026-12-01T10:00:00Z), got ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  return ms;
}

function listQuery(o: ListOptions): RunListQuery {
  return {
    ...(o.agent === undefined ? {} : { agent: o.agent }),
    ...(o.status === undefined ? {} : { status: parseStatuses(o.status) }),
    ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
    ...(o.since === undefined ? {} : { sinceMs: parseTime(o.since, '--since') }),
    ...(o.until === undefined ? {} : { untilMs: parseTime(o.until, '--until') }),
    ...(o.search === undefined ? {} : { q: o.search }),
    ...(o.cursor === undefined ? {} : { before: o.cursor }),
  };
}

function listParams(o: ListOptions, limit: number): string {
  const q = new URLSearchParams();
  if (o.agent !== undefined) q.set('agent', o.agent);
  if (o.status !== undefined) q.set('status', o.status);
  if (o.tenant !== undefined) q.set('tenant', o.tenant);
  if (o.since !== undefined) q.set('since', String(parseTime(o.since, '--since')));
  if (o.until !== undefined) q.set('until', String(parseTime(o.until, '--until')));
  if (o.search !== undefined) q.set('q', o.search);
  if (o.cursor !== undefined) q.set('cursor', o.cursor);
  q.set('limit', String(limit));
  return q.toString();
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
