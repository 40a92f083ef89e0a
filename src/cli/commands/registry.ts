/**
 * `kerno config get|set|delete|ls|rotate-key` and `kerno modules ls`.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveConfig } from '../../config.js';
import { KernelError } from '../../errors.js';
import { daemon, opts, print } from '../common.js';
import type { CliContext } from '../output.js';

interface ConfigValue {
  key: string;
  secret: boolean;
  updatedAt: string;
  value: unknown;
  revealed: boolean;
}

/** Registers `config` and `modules`. */
export function registerRegistryCommands(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description('read and change the registry config (secrets encrypted at rest)');
  config
    .command('ls')
    .description('list config keys (never values)')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const { config: list } = await daemon(o).json<{
        config: { key: string; secret: boolean; updatedAt: string }[];
      }>('GET', '/api/config');
      print(ctx, o, list, () => ({
        headers: ['key', 'secret', 'updated'],
        rows: list.map((c) => [c.key, c.secret ? 'yes' : '', c.updatedAt]),
      }));
    });
  config
    .command('get <key>')
    .description('print a value (a secret only with --reveal and a reveal-scope token)')
    .option('--reveal', 'show a secret value')
    .option('--json', 'print JSON')
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const o = opts<{ reveal?: boolean }>(cmd);
      const v = await daemon(o).json<ConfigValue>(
        'GET',
        `/api/config/${encodeURIComponent(key)}${o.reveal === true ? '?reveal=true' : ''}`,
      );
      print(ctx, o, v, () =>
        v.secret && !v.revealed
          ? `${key} is a secret (use --reveal with a reveal-scope token)\n`
          : JSON.stringify(v.value, null, 2) + '\n',
      );
    });
  config
    .command('set <key> [value]')
    .description('set a value: JSON (or plain text), from the argument, --file or stdin (-)')
    .option(
      '--secret',
      'encrypt it at rest (read it from --file or stdin so it stays out of your shell history)',
    )
    .option('--file <path>', 'read the value from a file')
    .action(async (key: string, value: string | undefined, _o: unknown, cmd: Command) => {
      const o = opts<{ secret?: boolean; file?: string }>(cmd);
      let text = value;
      if (o.file !== undefined) text = (await readFile(o.file, 'utf8')).replace(/\n$/, '');
      else if (value === '-' || value === undefined) text = (await readStdin()).replace(/\n$/, '');
      if (text === undefined)
        throw new KernelError(
          'INVALID_ARGUMENT',
          'Give the value as an argument, with --file, or on stdin',
        );
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        parsed = text; // plain text is stored as a JSON string
      }
      await daemon(o).request('PUT', `/api/config/${encodeURIComponent(key)}`, {
        json: { value: parsed, ...(o.secret === true ? { secret: true } : {}) },
      });
      ctx.io.stdout(`set ${key}${o.secret === true ? ' (secret)' : ''}\n`);
    });
  config
    .command('delete <key>')
    .description('delete a value (exit 1 when there was none)')
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const { deleted } = await daemon(o).json<{ deleted: boolean }>(
        'DELETE',
        `/api/config/${encodeURIComponent(key)}`,
      );
      ctx.io.stdout(deleted ? `deleted ${key}\n` : `no value ${key}\n`);
      if (!deleted) ctx.exitCode = 1;
    });
  config
    .command('rotate-key')
    .description(
      're-encrypt every secret under a new key, read from KERNO_NEW_REGISTRY_KEY or --new-key-file',
    )
    .option('--new-key-file <path>', 'a file holding the new key string')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ newKeyFile?: string }>(cmd);
      const newKey =
        o.newKeyFile !== undefined
          ? (await readFile(o.newKeyFile, 'utf8')).trim()
          : resolveConfig().newRegistryKey;
      if (newKey === undefined || newKey === '') {
        throw new KernelError(
          'INVALID_ARGUMENT',
          'Put the new key in KERNO_NEW_REGISTRY_KEY or a file given with --new-key-file (never on the command line)',
        );
      }
      const r = await daemon(o).json<{ reencrypted: number; keyVersion?: number }>(
        'POST',
        '/api/config/rotate-key',
        { newKey },
      );
      print(
        ctx,
        o,
        r,
        () =>
          `re-encrypted ${r.reencrypted} values (key version ${r.keyVersion ?? '?'}); restart other processes with the new KERNO_REGISTRY_KEY\n`,
      );
    });

  const modules = program
    .command('modules')
    .description('modules in the registry (every supervised agent is one)');
  modules
    .command('ls')
    .description('list modules and their lifecycle state')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const { modules: list } = await daemon(o).json<{
        modules: {
          id: string;
          name: string;
          version: string;
          kind: string;
          state: string;
          updatedAt?: string;
          updated_at?: string;
        }[];
      }>('GET', '/api/modules');
      print(ctx, o, list, () => ({
        headers: ['id', 'name', 'version', 'kind', 'state', 'updated'],
        rows: list.map((m) => [
          m.id,
          m.name,
          m.version,
          m.kind,
          m.state,
          m.updatedAt ?? m.updated_at ?? '',
        ]),
      }));
    });
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY)
    throw new KernelError(
      'INVALID_ARGUMENT',
      'Give the value as an argument, with --file, or pipe it on stdin',
    );
  let text = '';
  process.stdin.setEncoding('utf8');
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}
