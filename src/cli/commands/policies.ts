/**
 * `kerno policies ls|get|set|rm|history`: kernel policies (budgets, approval rules, schedules,
 * limits) as versioned documents, against the daemon or a store with --store.
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import {
  parsePolicyKind,
  parsePolicyName,
  POLICY_KINDS,
  type PolicyChangeOptions,
  type PolicyVersion,
} from '../../policies/policy-store.js';
import {
  STORE_OPTION,
  localPrincipal,
  opts,
  parseJsonOption,
  print,
  readStdin,
  readText,
  viaStoreOrDaemon,
} from '../common.js';
import type { CliContext } from '../output.js';

interface StoreOption {
  store?: string;
}

interface ChangeFlags extends StoreOption {
  reason?: string;
  ifVersion?: string;
}

const KINDS = POLICY_KINDS.join('|');

function path(kind: string, name: string): string {
  return `/api/policies/${encodeURIComponent(kind)}/${encodeURIComponent(name)}`;
}

function when(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function expected(o: ChangeFlags): number | undefined {
  if (o.ifVersion === undefined) return undefined;
  if (!/^\d{1,9}$/.test(o.ifVersion))
    throw new KernelError(
      'INVALID_ARGUMENT',
      `--if-version must be the version you read (0: does not exist yet), got ${JSON.stringify(o.ifVersion)}`,
    );
  return Number(o.ifVersion);
}

function changeQuery(o: ChangeFlags): { query: string; headers: Record<string, string> } {
  const v = expected(o);
  return {
    query: o.reason === undefined ? '' : `?reason=${encodeURIComponent(o.reason)}`,
    headers: v === undefined ? {} : { 'if-match': `"${v}"` },
  };
}

function changeOptions(o: ChangeFlags): PolicyChangeOptions {
  const v = expected(o);
  return {
    by: localPrincipal(),
    ...(o.reason === undefined ? {} : { reason: o.reason }),
    ...(v === undefined ? {} : { expectedVersion: v }),
  };
}

function summary(spec: unknown): string {
  const text = JSON.stringify(spec);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

/** Registers `policies`. */
export function registerPolicyCommands(program: Command, ctx: CliContext): void {
  const policies = program
    .command('policies')
    .description(`kernel policies (${KINDS}): versioned, audited on every change`);
  policies
    .command('ls [kind]')
    .description('list the current policies (of one kind)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (kind: string | undefined, _o: unknown, cmd: Command) => {
      const o = opts<StoreOption>(cmd);
      const k = kind === undefined ? undefined : parsePolicyKind(kind);
      const list = await viaStoreOrDaemon(
        o,
        async (kernel) => kernel.policies.list(k),
        async (d) =>
          (
            await d.json<{ policies: PolicyVersion[] }>(
              'GET',
              `/api/policies${k === undefined ? '' : `?kind=${k}`}`,
            )
          ).policies,
      );
      print(ctx, o, list, () => ({
        headers: ['kind', 'name', 'version', 'updated', 'by', 'policy'],
        rows: list.map((p) => [
          p.kind,
          p.name,
          p.version,
          when(p.updatedAt),
          p.updatedBy,
          summary(p.spec),
        ]),
      }));
    });
  policies
    .command('get <kind> <name>')
    .description('print the current version of a policy')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON (the version record)')
    .action(async (kind: string, name: string, _o: unknown, cmd: Command) => {
      const o = opts<StoreOption>(cmd);
      const k = parsePolicyKind(kind);
      parsePolicyName(name);
      const p = await viaStoreOrDaemon(
        o,
        async (kernel) => {
          const found = kernel.policies.get(k, name);
          if (found === undefined)
            throw new KernelError('NOT_FOUND', `No ${k} policy named ${JSON.stringify(name)}`);
          return found;
        },
        (d) => d.json<PolicyVersion>('GET', path(k, name)),
      );
      print(
        ctx,
        o,
        p,
        () =>
          `# ${p.kind}/${p.name} version ${p.version}, ${when(p.updatedAt)} by ${p.updatedBy}\n` +
          JSON.stringify(p.spec, null, 2) +
          '\n',
      );
    });
  policies
    .command('set <kind> <name>')
    .description('store a new version of a policy from --file, --spec or stdin (JSON)')
    .option('--file <path>', 'read the policy (JSON) from a file')
    .option('--spec <json>', 'the policy as a JSON argument')
    .option('--reason <text>', 'why (recorded with the version and in the audit trail)')
    .option('--if-version <n>', 'refuse unless the policy is at version n now (0: new)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (kind: string, name: string, _o: unknown, cmd: Command) => {
      const o = opts<ChangeFlags & { file?: string; spec?: string }>(cmd);
      const k = parsePolicyKind(kind);
      parsePolicyName(name);
      let text = o.spec;
      if (o.file !== undefined) text = await readText(o.file);
      else if (text === undefined)
        text = await readStdin('Give the policy with --file <path>, --spec <json>, or on stdin');
      const spec = parseJsonOption(text, 'the policy');
      const stored = await viaStoreOrDaemon(
        o,
        (kernel) => kernel.policies.set(k, name, spec, changeOptions(o)),
        async (d) => {
          const q = changeQuery(o);
          const res = await d.request('PUT', path(k, name) + q.query, {
            json: spec,
            headers: q.headers,
          });
          return (await res.json()) as PolicyVersion;
        },
      );
      print(ctx, o, stored, () => `${k}/${name} is now at version ${stored.version}\n`);
    });
  policies
    .command('rm <kind> <name>')
    .description('delete a policy (its history stays; exit 1 when there is none)')
    .option('--reason <text>', 'why')
    .option('--if-version <n>', 'refuse unless the policy is at version n now')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (kind: string, name: string, _o: unknown, cmd: Command) => {
      const o = opts<ChangeFlags>(cmd);
      const k = parsePolicyKind(kind);
      parsePolicyName(name);
      const gone = await viaStoreOrDaemon(
        o,
        (kernel) => kernel.policies.delete(k, name, changeOptions(o)),
        async (d) => {
          const q = changeQuery(o);
          const res = await d.request('DELETE', path(k, name) + q.query, { headers: q.headers });
          return (await res.json()) as PolicyVersion;
        },
      );
      print(ctx, o, gone, () => `deleted ${k}/${name} (version ${gone.version})\n`);
    });
  policies
    .command('history <kind> <name>')
    .description('every version of a policy, oldest first')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (kind: string, name: string, _o: unknown, cmd: Command) => {
      const o = opts<StoreOption>(cmd);
      const k = parsePolicyKind(kind);
      parsePolicyName(name);
      const versions = await viaStoreOrDaemon(
        o,
        async (kernel) => {
          const all = await kernel.policies.history(k, name);
          if (all.length === 0)
            throw new KernelError('NOT_FOUND', `No ${k} policy named ${JSON.stringify(name)}`);
          return all;
        },
        async (d) =>
          (await d.json<{ versions: PolicyVersion[] }>('GET', `${path(k, name)}/history`)).versions,
      );
      print(ctx, o, versions, () => ({
        headers: ['version', 'updated', 'by', 'reason', 'policy'],
        rows: versions.map((v) => [
          v.version,
          when(v.updatedAt),
          v.updatedBy,
          v.reason ?? '',
          v.spec === null ? '(deleted)' : summary(v.spec),
        ]),
      }));
    });
}
