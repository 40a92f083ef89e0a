/**
 * `kerno config get|set|delete|ls|rotate-key|encrypt` and `kerno modules ls`: against the daemon,
 * or a store with --store (keys from KERNO_REGISTRY_KEY / OXIDE_REGISTRY_KEY).
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { resolveConfig } from '../../config.js';
import { KernelError } from '../../errors.js';
import type {
  ConfigInfo,
  ConfigView,
  EncryptPlainResult,
  JsonValue,
  ModuleRecord,
  RekeyResult,
} from '../../client/index.js';
import { STORE_OPTION, opts, print, readStdin, viaStoreOrDaemon } from '../common.js';
import type { CliContext } from '../output.js';

interface StoreOption {
  store?: string;
}

/** Registers `config` and `modules`. */
export function registerRegistryCommands(program: Command, ctx: CliContext): void {
  const config = program
    .command('config')
    .description('read and change the registry config (secrets encrypted at rest)');
  config
    .command('ls')
    .description('list config keys (never values)')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<StoreOption>(cmd);
      const list = await viaStoreOrDaemon(
        o,
        (k) => k.registry.listConfig(),
        (d): Promise<readonly ConfigInfo[]> => d.call((api) => api.config.list()),
      );
      print(ctx, o, list, () => ({
        headers: ['key', 'secret', 'updated'],
        rows: list.map((c) => [c.key, c.secret ? 'yes' : '', c.updatedAt]),
      }));
    });
  config
    .command('get <key>')
    .description(
      'print a value (a secret only with --reveal: a reveal-scope token, or the key with --store)',
    )
    .option('--reveal', 'show a secret value')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const o = opts<StoreOption & { reveal?: boolean }>(cmd);
      const reveal = o.reveal === true;
      const v = await viaStoreOrDaemon(
        o,
        (k) => k.registry.viewConfig(key, { reveal }),
        (d): Promise<ConfigView> => d.call((api) => api.config.get(key, { reveal })),
      );
      print(ctx, o, v, () =>
        v.secret && !v.revealed
          ? `${key} is a secret (use --reveal: with a reveal-scope token, or with --store and the key)\n`
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
    .option(...STORE_OPTION)
    .action(async (key: string, value: string | undefined, _o: unknown, cmd: Command) => {
      const o = opts<StoreOption & { secret?: boolean; file?: string }>(cmd);
      let text = value;
      if (o.file !== undefined) text = (await readFile(o.file, 'utf8')).replace(/\n$/, '');
      else if (value === '-' || value === undefined)
        text = (
          await readStdin('Give the value as an argument, with --file, or pipe it on stdin')
        ).replace(/\n$/, '');
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
      const secret = o.secret === true ? { secret: true } : {};
      await viaStoreOrDaemon(
        o,
        (k) => k.registry.setConfig(key, parsed, secret),
        (d) => d.call((api) => api.config.set(key, parsed as JsonValue, secret)),
      );
      ctx.io.stdout(`set ${key}${o.secret === true ? ' (secret)' : ''}\n`);
    });
  config
    .command('delete <key>')
    .description('delete a value (exit 1 when there was none)')
    .option(...STORE_OPTION)
    .action(async (key: string, _o: unknown, cmd: Command) => {
      const o = opts<StoreOption>(cmd);
      const deleted = await viaStoreOrDaemon(
        o,
        (k) => k.registry.deleteConfig(key),
        (d) => d.call((api) => api.config.delete(key)),
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
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<StoreOption & { newKeyFile?: string }>(cmd);
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
      const r = await viaStoreOrDaemon(
        o,
        (k) => k.registry.rotateKey(newKey),
        (d): Promise<RekeyResult> => d.call((api) => api.config.rotateKey(newKey)),
      );
      print(
        ctx,
        o,
        r,
        () =>
          `re-encrypted ${r.reencrypted} values (key version ${r.keyVersion ?? '?'}); restart other processes with the new KERNO_REGISTRY_KEY\n`,
      );
    });
  config
    .command('encrypt [keys...]')
    .description(
      'encrypt plain values in place with the registry key, in one transaction (e.g. rows of an oxide-k database written before its encryption was turned on)',
    )
    .option('--all-plain', 'every plain value')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (keys: string[], _o: unknown, cmd: Command) => {
      const o = opts<StoreOption & { allPlain?: boolean }>(cmd);
      if ((o.allPlain === true) === keys.length > 0) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          'Name the keys to encrypt, or pass --all-plain for every plain value (not both)',
        );
      }
      const chosen = o.allPlain === true ? undefined : keys;
      const r = await viaStoreOrDaemon(
        o,
        (k) => k.registry.encryptPlain(chosen),
        (d): Promise<EncryptPlainResult> => d.call((api) => api.config.encrypt(chosen)),
      );
      print(ctx, o, r, () =>
        r.encrypted === 0
          ? 'no plain values to encrypt\n'
          : `encrypted ${r.encrypted} value(s): ${r.keys.join(', ')}\n`,
      );
    });

  const modules = program
    .command('modules')
    .description('modules in the registry (every supervised agent is one)');
  modules
    .command('ls')
    .description('list modules and their lifecycle state')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<StoreOption>(cmd);
      const list = await viaStoreOrDaemon(
        o,
        (k) => k.registry.listModules(),
        (d): Promise<readonly ModuleRecord[]> => d.call((api) => api.modules.list()),
      );
      print(ctx, o, list, () => ({
        headers: ['id', 'name', 'version', 'kind', 'state', 'updated'],
        rows: list.map((m) => [m.id, m.name, m.version, m.kind, m.state, m.updatedAt]),
      }));
    });
}
