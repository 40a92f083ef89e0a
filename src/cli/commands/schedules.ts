/**
 * `kerno schedules ls|add|rm|pause|resume`: durable cron and interval schedules (policy kind
 * `schedule`) against the daemon or a store with --store. `ls` shows each schedule's next fire
 * time on its own wall clock and in UTC. A schedule is a policy: every change is a new version,
 * audited (`kerno policies history schedule <name>`).
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import type { KernelCore } from '../../kernel.js';
import { parsePolicyName, type PolicyVersion } from '../../policies/policy-store.js';
import type { ScheduleInfo, ScheduleSpec } from '../../policies/schedules.js';
import { escapeControl } from '../../util/escape.js';
import type { DaemonClient } from '../client.js';
import {
  STORE_OPTION,
  localPrincipal,
  opts,
  parseJsonOption,
  print,
  viaStoreOrDaemon,
} from '../common.js';
import type { CliContext } from '../output.js';

interface Flags {
  store?: string;
  reason?: string;
}

const clean = (text: string): string => escapeControl(text).replace(/[\n\t]/g, ' ');

function path(name: string): string {
  return `/api/policies/schedule/${encodeURIComponent(name)}`;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--every 90s` / `5m` / `1h` / `60000` as milliseconds. */
export function parseEvery(text: string): number {
  const m = /^(\d+)(ms|s|m|h|d)?$/.exec(text.trim());
  if (m === null) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `--every is a duration such as 30s, 5m, 1h, 1d or a number of milliseconds, got ${JSON.stringify(text)}`,
    );
  }
  return Number(m[1]) * UNITS[m[2] ?? 'ms']!;
}

function timing(spec: ScheduleSpec): string {
  return spec.cron !== undefined ? `cron ${spec.cron}` : `every ${String(spec.everyMs)} ms`;
}

async function store(
  o: Flags & { home?: string },
  name: string,
  change: (current: PolicyVersion<ScheduleSpec> | undefined) => Record<string, unknown>,
): Promise<PolicyVersion<ScheduleSpec>> {
  const reason = o.reason === undefined ? {} : { reason: o.reason };
  return viaStoreOrDaemon(
    o,
    async (k: KernelCore) => {
      const current = k.policies.get<ScheduleSpec>('schedule', name);
      return k.policies.set<ScheduleSpec>('schedule', name, change(current), {
        by: localPrincipal(),
        expectedVersion: current?.version ?? 0,
        ...reason,
      });
    },
    async (d: DaemonClient) => {
      let current: PolicyVersion<ScheduleSpec> | undefined;
      try {
        current = await d.json<PolicyVersion<ScheduleSpec>>('GET', path(name));
      } catch (error) {
        if (!(error instanceof KernelError && error.code === 'NOT_FOUND')) throw error;
      }
      const q = o.reason === undefined ? '' : `?reason=${encodeURIComponent(o.reason)}`;
      const res = await d.request('PUT', path(name) + q, {
        json: change(current),
        headers: { 'if-match': `"${current?.version ?? 0}"` },
      });
      return (await res.json()) as PolicyVersion<ScheduleSpec>;
    },
  );
}

function existing(
  name: string,
  current: PolicyVersion<ScheduleSpec> | undefined,
): Record<string, unknown> {
  if (current === undefined) {
    throw new KernelError(
      'NOT_FOUND',
      `No schedule named ${JSON.stringify(name)}; list them with kerno schedules ls`,
    );
  }
  return { ...(current.spec as unknown as Record<string, unknown>) };
}

/** Registers `schedules`. */
export function registerScheduleCommands(program: Command, ctx: CliContext): void {
  const schedules = program
    .command('schedules')
    .description('durable cron and interval schedules that start runs of a defined agent');
  schedules
    .command('ls')
    .description('the schedules with their next fire time (their time zone, and UTC)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<Flags>(cmd);
      const list = await viaStoreOrDaemon(
        o,
        async (k) => k.schedules.list(),
        async (d) =>
          (await d.json<{ schedules: ScheduleInfo[] }>('GET', '/api/schedules')).schedules,
      );
      print(ctx, o, list, () =>
        list.length === 0
          ? 'no schedules (add one with kerno schedules add <name> --agent <agent> --cron "0 2 * * *")\n'
          : {
              headers: [
                'name',
                'agent',
                'when',
                'zone',
                'next (local)',
                'next (UTC)',
                'missed',
                'last run',
              ],
              rows: list.map((s) => [
                s.name,
                clean(s.spec.agent),
                clean(timing(s.spec)),
                s.spec.timeZone,
                s.spec.paused ? 'paused' : (s.nextFireLocal?.slice(0, 19) ?? 'never'),
                s.spec.paused ? 'paused' : (s.nextFireAt ?? 'never'),
                s.spec.missed === 'all' ? `all (≤ ${s.spec.maxMissed})` : s.spec.missed,
                s.lastRunId ?? '',
              ]),
            },
      );
    });
  schedules
    .command('add <name>')
    .description('add or replace a schedule (give --cron or --every)')
    .requiredOption('--agent <name>', 'the defined agent each firing starts a run of')
    .option('--cron <expression>', 'cron: 5 fields, 6 with seconds, or @hourly, @daily, …')
    .option('--every <duration>', 'an interval: 30s, 5m, 1h, 1d, or milliseconds')
    .option('--start-at <iso>', 'an interval counts from this time (default: the Unix epoch)')
    .option('--tz <zone>', 'IANA time zone of the cron expression (default UTC)')
    .option('--input <json>', 'the run input (JSON)')
    .option('--missed <policy>', 'after downtime: skip (default), once, or all')
    .option('--max-missed <n>', 'with --missed all: at most this many runs (default 10)')
    .option('--paused', 'add it paused')
    .option('--reason <text>', 'why (recorded with the version and in the audit trail)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = opts<
        Flags & {
          agent: string;
          cron?: string;
          every?: string;
          startAt?: string;
          tz?: string;
          input?: string;
          missed?: string;
          maxMissed?: string;
          paused?: boolean;
        }
      >(cmd);
      parsePolicyName(name);
      if ((o.cron === undefined) === (o.every === undefined)) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          'Give exactly one of --cron "<expression>" and --every <duration>',
        );
      }
      let maxMissed: number | undefined;
      if (o.maxMissed !== undefined) {
        maxMissed = /^\d{1,4}$/.test(o.maxMissed) ? Number(o.maxMissed) : Number.NaN;
        if (Number.isNaN(maxMissed)) {
          throw new KernelError(
            'INVALID_ARGUMENT',
            `--max-missed is a whole number, got ${JSON.stringify(o.maxMissed)}`,
          );
        }
      }
      const spec = {
        agent: o.agent,
        ...(o.cron === undefined ? { everyMs: parseEvery(o.every!) } : { cron: o.cron }),
        ...(o.startAt === undefined ? {} : { startAt: o.startAt }),
        ...(o.tz === undefined ? {} : { timeZone: o.tz }),
        input: o.input === undefined ? null : parseJsonOption(o.input, '--input'),
        ...(o.missed === undefined ? {} : { missed: o.missed }),
        ...(maxMissed === undefined ? {} : { maxMissed }),
        ...(o.paused === true ? { paused: true } : {}),
      };
      const stored = await store(o, name, () => spec);
      print(ctx, o, stored, () => `schedule ${name} is at version ${stored.version}\n`);
    });
  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    schedules
      .command(`${verb} <name>`)
      .description(
        paused
          ? 'pause a schedule (nothing fires until it is resumed)'
          : 'resume a paused schedule (it goes on from now; the time it was paused is not caught up)',
      )
      .option('--reason <text>', 'why')
      .option(...STORE_OPTION)
      .option('--json', 'print JSON')
      .action(async (name: string, _o: unknown, cmd: Command) => {
        const o = opts<Flags>(cmd);
        parsePolicyName(name);
        const stored = await store(o, name, (current) => ({ ...existing(name, current), paused }));
        print(
          ctx,
          o,
          stored,
          () => `schedule ${name} ${paused ? 'paused' : 'resumed'} (version ${stored.version})\n`,
        );
      });
  }
  schedules
    .command('rm <name>')
    .description('delete a schedule (its history stays in kerno policies history)')
    .option('--reason <text>', 'why')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (name: string, _o: unknown, cmd: Command) => {
      const o = opts<Flags>(cmd);
      parsePolicyName(name);
      const reason = o.reason === undefined ? {} : { reason: o.reason };
      const gone = await viaStoreOrDaemon(
        o,
        (k) => k.policies.delete('schedule', name, { by: localPrincipal(), ...reason }),
        async (d) => {
          const q = o.reason === undefined ? '' : `?reason=${encodeURIComponent(o.reason)}`;
          const res = await d.request('DELETE', path(name) + q);
          return (await res.json()) as PolicyVersion;
        },
      );
      print(ctx, o, gone, () => `deleted schedule ${name} (version ${gone.version})\n`);
    });
}
