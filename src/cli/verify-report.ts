/**
 * How the CLI prints a chain verification (`kerno ledger verify`, `kerno audit verify`) and an
 * acceptance anchor (`kerno ledger repair`, `kerno audit repair`), and the options they share.
 *
 * @module
 */
import { userInfo } from 'node:os';
import { KernelError } from '../errors.js';
import type { ChainAcceptance, VerifyResult } from '../storage/log.js';
import type { Command } from 'commander';
import { daemon, opts, print, withStore } from './common.js';
import { EXIT } from './exit-codes.js';
import { escapeControl, type CliContext } from './output.js';

/** Prints `result` (every failure and every accepted break) and sets the exit code (1 when broken). */
export function reportVerify(
  ctx: CliContext,
  json: boolean | undefined,
  result: VerifyResult,
  noun = 'entries',
): void {
  print(ctx, { json: json ?? false }, result, () => {
    const lines: string[] = [];
    if (result.acceptanceProblem !== undefined) lines.push(`warning: ${result.acceptanceProblem}`);
    if (result.ok) {
      lines.push(
        `ok: ${result.verified} ${noun} verify; head ${result.head.seq} ${result.head.hash}`,
      );
    } else {
      lines.push(`BROKEN at seq ${result.seq}: ${result.message}`);
      for (const b of result.breaks.slice(1)) lines.push(`  also at seq ${b.seq}: ${b.message}`);
      if (result.breakCount > result.breaks.length)
        lines.push(`  … ${result.breakCount - result.breaks.length} more breaks`);
    }
    const a = result.acceptance;
    if (a !== undefined) {
      lines.push(
        `accepted through seq ${a.through.seq} by ${a.by} at ${a.at} (anchor ${a.anchorSeq}): ${a.reason}`,
      );
      for (const b of result.accepted ?? []) lines.push(`  accepted at seq ${b.seq}: ${b.message}`);
    }
    return lines.map(escapeControl).join('\n') + '\n';
  });
  ctx.exitCode = result.ok ? EXIT.OK : EXIT.FAILURE_FOUND;
}

/** Prints an acceptance anchor just appended. */
function reportAcceptance(
  ctx: CliContext,
  json: boolean | undefined,
  anchor: ChainAcceptance,
): void {
  print(ctx, { json: json ?? false }, anchor, () => {
    const lines = [
      `accepted ${anchor.stream} through seq ${anchor.through.seq} (${anchor.through.hash}) as anchor ${anchor.anchorSeq}, by ${anchor.by}: ${anchor.breaks.length} known ${anchor.breaks.length === 1 ? 'break' : 'breaks'}`,
      ...anchor.breaks.map((b) => `  seq ${b.seq}: ${b.reason}`),
    ];
    return lines.map(escapeControl).join('\n') + '\n';
  });
}

/** Parses `--accept-through`. */
function acceptThroughOption(value: string | undefined): number {
  if (value === undefined || !/^\d+$/.test(value) || Number(value) < 1) {
    throw new KernelError(
      'INVALID_ARGUMENT',
      `--accept-through needs the seq of the last record to accept (an integer ≥ 1), got ${JSON.stringify(value ?? '')}`,
    );
  }
  return Number(value);
}

/** Parses `--reason`. */
function reasonOption(value: string | undefined): string {
  if (value === undefined || value.trim() === '') {
    throw new KernelError(
      'INVALID_ARGUMENT',
      '--reason is required: say why the breaks are accepted (kept in the anchor and the audit trail)',
    );
  }
  return value;
}

/** Who accepts, with `--store`: `--by`, else the operating-system user. */
function acceptedBy(by: string | undefined): string {
  if (by !== undefined) return by;
  try {
    return `${userInfo().username} (cli --store)`;
  } catch {
    return 'cli --store';
  }
}

/**
 * Adds `<chain> repair --accept-through SEQ --reason R [--by] [--store] [--json]`: appends an
 * acceptance anchor (see `LogView.accept`) directly on a store or through the daemon.
 */
export function addRepairCommand(
  parent: Command,
  ctx: CliContext,
  chain: 'ledger' | 'audit',
  what: { readonly stream: string; readonly record: string },
): void {
  parent
    .command('repair')
    .description(
      `accept the ${what.stream} as it stands through a seq (an appended, audited anchor; nothing is rewritten): breaks at or before it are reported as accepted, later ones still fail`,
    )
    .option('--accept-through <seq>', `the last ${what.record} to accept`)
    .option('--reason <text>', 'why the breaks are accepted (required)')
    .option('--by <name>', 'who accepts (with --store; the daemon records the token label)')
    .option('--store <url>', 'repair this store directly instead of asking the daemon')
    .option('--json', 'print the anchor as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ acceptThrough?: string; reason?: string; by?: string; store?: string }>(cmd);
      const throughSeq = acceptThroughOption(o.acceptThrough);
      const reason = reasonOption(o.reason);
      const anchor =
        o.store !== undefined
          ? await withStore(o.store, (s) =>
              s.acceptChain(chain, { throughSeq, reason, by: acceptedBy(o.by) }),
            )
          : await daemon(o).json<ChainAcceptance>('POST', `/api/${chain}/repair`, {
              acceptThrough: throughSeq,
              reason,
            });
      reportAcceptance(ctx, o.json, anchor);
    });
}
