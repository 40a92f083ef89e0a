/**
 * `kerno audit …`: verify and export audit trails.
 *
 * @module
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { verifyAuditExport } from '../../audit/audit-trail.js';
import { verifyOxiosExport } from '../../audit/oxios-export.js';
import { KernelError } from '../../errors.js';
import { EXIT } from '../exit-codes.js';
import type { CliContext } from '../output.js';

/** Registers the `audit` commands. */
export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .description('verify and export the hash-chained audit trail');
  audit
    .command('verify')
    .description('verify an audit trail: an oxios export (--oxios) or a kerno export (--export)')
    .option('--oxios <file>', 'an audit export written by oxios (JSON array, BLAKE3 chain)')
    .option('--export <file>', 'an audit export written by kerno (`kerno audit export`)')
    .option('--json', 'print the result as JSON')
    .action(async (opts: { oxios?: string; export?: string; json?: boolean }) => {
      const file = opts.oxios ?? opts.export;
      if (file === undefined) {
        throw new KernelError('INVALID_ARGUMENT', 'Give --oxios <file> or --export <file>');
      }
      const text = await readText(file);
      if (opts.oxios !== undefined) {
        const result = verifyOxiosExport(text);
        if (opts.json === true) ctx.io.stdout(JSON.stringify(result, null, 2) + '\n');
        else if (result.ok) {
          ctx.io.stdout(
            `ok: ${result.entries} oxios entries verify${result.trustedRoot ? ' (the first is a pruned root oxios trusts without proof)' : ''}\n`,
          );
        } else ctx.io.stdout(`BROKEN at seq ${result.seq}: ${result.message}\n`);
        ctx.exitCode = result.ok ? EXIT.OK : EXIT.FAILURE_FOUND;
        return;
      }
      const result = verifyAuditExport(text);
      if (opts.json === true) ctx.io.stdout(JSON.stringify(result, null, 2) + '\n');
      else if (result.ok)
        ctx.io.stdout(
          `ok: ${result.verified} entries verify; head ${result.head.seq} ${result.head.hash}\n`,
        );
      else ctx.io.stdout(`BROKEN at seq ${result.seq}: ${result.message}\n`);
      ctx.exitCode = result.ok ? EXIT.OK : EXIT.FAILURE_FOUND;
    });
}

async function readText(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new KernelError('INVALID_ARGUMENT', `Cannot read ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
