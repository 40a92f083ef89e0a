/**
 * `kerno tokens create|ls|revoke`: extra API tokens (tenant-scoped, or admin with secret reveal).
 *
 * @module
 */
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import { resolveConfig } from '../../config.js';
import { createToken, readTokens, revokeToken, tokenId } from '../../server/auth.js';
import { opts, print } from '../common.js';
import type { CliContext } from '../output.js';

/** Registers the `tokens` commands. */
export function registerTokenCommands(program: Command, ctx: CliContext): void {
  const tokens = program
    .command('tokens')
    .description('create API tokens for tenants or secret reveal');
  tokens
    .command('create')
    .description('create a token; it is printed once and stored only as a hash')
    .option('--tenant <id>', 'a tenant token: only this tenant’s ledger records and runs')
    .option('--reveal', 'an admin token that may also read secret config values')
    .option('--label <text>', 'a name for the token')
    .option('--json', 'print JSON')
    .action((_o: unknown, cmd: Command) => {
      const o = opts<{ tenant?: string; reveal?: boolean; label?: string }>(cmd);
      if (o.tenant !== undefined && o.reveal === true) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          'A token is either --tenant <id> or --reveal, not both',
        );
      }
      const scope = o.tenant !== undefined ? 'tenant' : o.reveal === true ? 'reveal' : 'admin';
      const { token, record } = createToken(resolveConfig(o).home, {
        scope,
        ...(o.tenant === undefined ? {} : { tenant: o.tenant }),
        ...(o.label === undefined ? {} : { label: o.label }),
      });
      print(
        ctx,
        o,
        { token, ...record },
        () => `${token}\n(${record.label}; store it now: kerno keeps only its hash)\n`,
      );
    });
  tokens
    .command('ls')
    .description('list stored tokens (labels and scopes, never the tokens)')
    .option('--json', 'print JSON')
    .action((_o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const list = readTokens(resolveConfig(o).home).map(({ sha256: _h, ...rest }) => ({
        id: tokenId({ sha256: _h, ...rest }),
        ...rest,
      }));
      print(ctx, o, list, () => ({
        headers: ['id', 'label', 'scope', 'tenant', 'created'],
        rows: list.map((t) => [t.id, t.label, t.scope, t.tenant ?? '', t.created_at]),
      }));
    });
  tokens
    .command('revoke <id|label>')
    .description(
      'revoke a stored token by its id (kerno tokens ls) or label; the daemon refuses it at once',
    )
    .option('--json', 'print JSON')
    .action((ref: string, _o: unknown, cmd: Command) => {
      const o = opts(cmd);
      const { sha256, ...record } = revokeToken(resolveConfig(o).home, ref);
      const shown = { id: tokenId({ sha256, ...record }), ...record, revoked: true };
      print(ctx, o, shown, () => `revoked ${shown.id} (${record.label})\n`);
    });
}
