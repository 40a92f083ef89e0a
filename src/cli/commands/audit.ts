/**
 * `kerno audit verify|repair|export|import`: against the daemon, a store (--store), a kerno export
 * (--export) or an oxios export (--oxios); `import --oxios` takes oxios history into an empty
 * store's trail as its anchored prefix.
 *
 * @module
 */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import {
  verifyAuditExport,
  type AuditExport,
  type AuditVerifyResult,
} from '../../audit/audit-trail.js';
import { verifyOxiosExport } from '../../formats/oxios-audit-export.js';
import { readOxiosAuditFile } from '../../audit/oxios-import.js';
import type { AuditImportResult } from '../../audit/audit-trail.js';
import { KernelError } from '../../errors.js';
import { daemon, opts, print, readText, withStore } from '../common.js';
import { EXIT } from '../exit-codes.js';
import { createProgress, type CliContext } from '../output.js';
import { addRepairCommand, reportVerify } from '../verify-report.js';

function report(ctx: CliContext, json: boolean | undefined, result: AuditVerifyResult): void {
  reportVerify(ctx, json, result);
}

/** Registers the `audit` commands. */
export function registerAuditCommands(program: Command, ctx: CliContext): void {
  const audit = program
    .command('audit')
    .description('verify and export the hash-chained audit trail');
  audit
    .command('verify')
    .description('verify the audit trail (exit 1 when the chain is broken)')
    .option('--oxios <file>', 'verify an audit export written by oxios (JSON array, BLAKE3 chain)')
    .option('--export <file>', 'verify an audit export written by `kerno audit export`')
    .option('--store <url>', 'verify this store directly instead of asking the daemon')
    .option('--head <seq:hash>', 'a head recorded earlier: detects a truncated trail')
    .option('--json', 'print the result as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ oxios?: string; export?: string; store?: string; head?: string }>(cmd);
      let expectedHead: { seq: number; hash: string } | undefined;
      if (o.head !== undefined) {
        const m = /^(\d+):([0-9a-f]{64})$/.exec(o.head);
        if (m === null)
          throw new KernelError('INVALID_ARGUMENT', '--head must look like <seq>:<64 hex digits>');
        expectedHead = { seq: Number(m[1]), hash: m[2]! };
      }
      if (o.oxios !== undefined) {
        const result = verifyOxiosExport(await readText(o.oxios));
        print(ctx, o, result, () =>
          result.ok
            ? `ok: ${result.entries} oxios entries verify${result.trustedRoot ? ' (the first is a pruned root oxios trusts without proof)' : ''}\n`
            : `BROKEN at seq ${result.seq}: ${result.message}\n`,
        );
        ctx.exitCode = result.ok ? EXIT.OK : EXIT.FAILURE_FOUND;
        return;
      }
      if (o.export !== undefined) {
        report(
          ctx,
          o.json,
          verifyAuditExport(
            await readText(o.export),
            expectedHead === undefined ? {} : { expectedHead },
          ),
        );
        return;
      }
      if (o.store !== undefined) {
        const progress = createProgress(ctx.io, 'verifying');
        const result = await withStore(o.store, (s) =>
          s.audit.verify({
            expectedHead,
            onProgress: (done, total) => progress.update(done, total),
          }),
        );
        progress.done();
        report(ctx, o.json, result);
        return;
      }
      const q =
        expectedHead === undefined
          ? ''
          : `?headSeq=${expectedHead.seq}&headHash=${expectedHead.hash}`;
      report(ctx, o.json, await daemon(o).json<AuditVerifyResult>('GET', `/api/audit/verify${q}`));
    });
  audit
    .command('import')
    .description(
      'import oxios audit history (audit/trail.json or audit/access.jsonl) as the prefix of an empty trail; a trail is verified first (to the daemon, or a store with --store)',
    )
    .requiredOption(
      '--oxios <file>',
      'the oxios trail export (JSON array) or access log (JSON lines)',
    )
    .option('--store <url>', 'import into this store directly instead of the daemon')
    .option('--json', 'print the result as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ oxios: string; store?: string }>(cmd);
      const text = await readText(o.oxios);
      // Read and checked here first: a bad file is refused before the store or daemon is asked.
      const source = readOxiosAuditFile(text, o.oxios);
      const result =
        o.store !== undefined
          ? await withStore(o.store, (s) => s.audit.importOxios(source))
          : ((await (
              await daemon(o).request('POST', '/api/audit/import', {
                body: text,
                contentType: 'application/octet-stream',
              })
            ).json()) as AuditImportResult);
      print(
        ctx,
        o,
        result,
        () =>
          `imported ${result.imported} oxios ${result.format === 'oxios-trail' ? 'trail entries' : 'access events'} as seqs 1–${result.head.seq}; head ${result.head.seq} ${result.head.hash}` +
          (result.oxiosHead === null ? '' : `; oxios head ${result.oxiosHead}`) +
          (result.trustedRoot ? ' (the first is a pruned root oxios trusts without proof)' : '') +
          '\n',
      );
    });
  addRepairCommand(audit, ctx, 'audit', { stream: 'trail', record: 'entry' });
  audit
    .command('export')
    .description('write the whole trail as a verifiable JSON document')
    .option('--out <file>', 'write to this file (default: stdout)')
    .option('--store <url>', 'export this store directly instead of asking the daemon')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ out?: string; store?: string }>(cmd);
      const doc =
        o.store !== undefined
          ? await withStore(o.store, (s) => s.audit.export())
          : await daemon(o).json<AuditExport>('GET', '/api/audit/export');
      const text = JSON.stringify(doc, null, 2) + '\n';
      if (o.out === undefined) ctx.io.stdout(text);
      else {
        await writeFile(o.out, text);
        ctx.io.stderr(
          `exported ${doc.entries.length} entries to ${o.out}; head ${doc.head.seq} ${doc.head.hash}\n`,
        );
      }
    });
}
