/**
 * Verification of audit exports written by oxios (a pretty-printed JSON array of entries with
 * snake_case fields), using oxios's own hash rule:
 *
 * BLAKE3 (lower-case hex) over, concatenated without separators: `oxios-audit-v1`; `seq` as 8
 * bytes big-endian; the timestamp as chrono's `to_rfc3339()` (`+00:00`, 0/3/6/9 fractional
 * digits); `actor`; the compact JSON of `action`; `prev_hash`; `resource`. `metadata` is not
 * hashed (one of the weaknesses kerno's own chain fixes). The first entry's `prev_hash` is
 * `genesis`, or `pruned` when older entries were dropped — then oxios trusts its stored hash.
 *
 * @module
 */
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { KernelError } from '../errors.js';
import { systemClock, type Clock } from '../util/clock.js';
import { formatChrono, parseRfc3339 } from '../util/time.js';
import { encodeAuditAction, parseAuditAction, type AuditAction } from './oxios-audit-action.js';

/** An entry of an oxios audit export. */
export interface OxiosAuditEntry {
  readonly seq: number;
  readonly timestamp: string;
  readonly actor: string;
  readonly action: AuditAction;
  readonly resource: string;
  readonly prev_hash: string;
  readonly hash: string;
  readonly metadata: unknown;
}

/** What {@link verifyOxiosExport} found. */
export type OxiosVerifyResult =
  | {
      readonly ok: true;
      readonly entries: number;
      /** True when the first entry is a pruned root whose hash oxios trusts without proof. */
      readonly trustedRoot: boolean;
    }
  | {
      readonly ok: false;
      readonly entries: number;
      /** The first seq that failed. */
      readonly seq: number;
      readonly reason: 'chain_broken' | 'invalid_timestamp';
      readonly expected?: string;
      readonly found?: string;
      readonly message: string;
    };

const TAG = new TextEncoder().encode('oxios-audit-v1');

/** Computes an entry's hash with oxios's rule. */
export function oxiosEntryHash(entry: Omit<OxiosAuditEntry, 'hash' | 'metadata'>): string {
  const instant = parseRfc3339(entry.timestamp);
  if (instant === undefined) {
    throw new KernelError(
      'INVALID_EXPORT',
      `Entry ${entry.seq} has an invalid timestamp "${entry.timestamp}"`,
    );
  }
  const enc = new TextEncoder();
  const seq = new Uint8Array(8);
  new DataView(seq.buffer).setBigUint64(0, BigInt(entry.seq));
  const parts = [
    TAG,
    seq,
    enc.encode(formatChrono(instant, '+00:00')),
    enc.encode(entry.actor),
    enc.encode(encodeAuditAction(entry.action)),
    enc.encode(entry.prev_hash),
    enc.encode(entry.resource),
  ];
  const h = blake3.create();
  for (const p of parts) h.update(p);
  return bytesToHex(h.digest());
}

/**
 * Verifies an oxios audit export (JSON text or the parsed array) and reports the first entry
 * whose chain link or hash is wrong, or whose timestamp lies in the future. Malformed input
 * throws `INVALID_EXPORT`.
 */
export function verifyOxiosExport(
  doc: unknown,
  options: { clock?: Clock } = {},
): OxiosVerifyResult {
  const now = (options.clock ?? systemClock).now();
  const entries = parseOxiosExport(doc);
  return verifyOxiosEntries(entries, now);
}

/**
 * Reads an oxios audit export (JSON text or the parsed array) into entries, checking each one's
 * shape (not the chain: see {@link verifyOxiosExport}). Malformed input throws `INVALID_EXPORT`.
 */
export function parseOxiosExport(doc: unknown): OxiosAuditEntry[] {
  let value: unknown = doc;
  if (typeof doc === 'string') {
    try {
      value = JSON.parse(doc);
    } catch (error) {
      throw new KernelError('INVALID_EXPORT', 'The oxios audit export is not valid JSON', {
        cause: error,
      });
    }
  }
  if (!Array.isArray(value)) {
    throw new KernelError('INVALID_EXPORT', 'An oxios audit export is a JSON array of entries');
  }
  return value.map((raw, i) => readEntry(raw, i));
}

/**
 * Verifies entries already read (see {@link verifyOxiosExport}) against `nowMs` for the
 * future-timestamp rule.
 */
export function verifyOxiosEntries(
  entries: readonly OxiosAuditEntry[],
  nowMs: number,
): OxiosVerifyResult {
  const now = nowMs;
  let prevHash: string | undefined;
  let trustedRoot = false;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i]!;
    const fail = (
      reason: 'chain_broken' | 'invalid_timestamp',
      message: string,
      expected?: string,
      found?: string,
    ): OxiosVerifyResult => ({
      ok: false,
      entries: entries.length,
      seq: e.seq,
      reason,
      message,
      ...(expected === undefined ? {} : { expected }),
      ...(found === undefined ? {} : { found }),
    });
    const instant = parseRfc3339(e.timestamp)!;
    if (instant.ms > now)
      return fail(
        'invalid_timestamp',
        `entry ${e.seq} is timestamped in the future (${e.timestamp})`,
      );
    if (i === 0) {
      if (e.prev_hash === 'pruned') {
        trustedRoot = true;
        prevHash = e.hash;
        continue;
      }
      if (e.prev_hash !== 'genesis') {
        return fail(
          'chain_broken',
          `entry ${e.seq} should start the chain with prev_hash "genesis"`,
          'genesis',
          e.prev_hash,
        );
      }
    } else {
      const prev = entries[i - 1]!;
      if (e.seq !== prev.seq + 1) {
        return fail(
          'chain_broken',
          `entry ${e.seq} follows entry ${prev.seq}: entries are missing or reordered`,
          String(prev.seq + 1),
          String(e.seq),
        );
      }
      if (e.prev_hash !== prevHash) {
        return fail(
          'chain_broken',
          `entry ${e.seq} does not link to entry ${prev.seq}`,
          prevHash,
          e.prev_hash,
        );
      }
    }
    const computed = oxiosEntryHash(e);
    if (computed !== e.hash) {
      return fail(
        'chain_broken',
        `entry ${e.seq} was altered: its hash does not match its content`,
        computed,
        e.hash,
      );
    }
    prevHash = e.hash;
  }
  return { ok: true, entries: entries.length, trustedRoot };
}

function readEntry(raw: unknown, index: number): OxiosAuditEntry {
  const bad = (what: string): never => {
    throw new KernelError('INVALID_EXPORT', `Entry #${index + 1} of the oxios export: ${what}`);
  };
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) bad('not an object');
  const r = raw as Record<string, unknown>;
  if (!Number.isSafeInteger(r['seq']) || (r['seq'] as number) < 1)
    bad('seq must be a positive integer');
  for (const f of ['timestamp', 'actor', 'resource', 'prev_hash', 'hash']) {
    if (typeof r[f] !== 'string') bad(`${f} must be a string`);
  }
  if (parseRfc3339(r['timestamp'] as string) === undefined)
    bad(`timestamp "${String(r['timestamp'])}" is not RFC 3339`);
  let action: AuditAction;
  try {
    action = parseAuditAction(r['action']);
  } catch (error) {
    throw new KernelError(
      'INVALID_EXPORT',
      `Entry #${index + 1} of the oxios export: ${(error as Error).message}`,
      {
        cause: error,
      },
    );
  }
  return {
    seq: r['seq'] as number,
    timestamp: r['timestamp'] as string,
    actor: r['actor'] as string,
    action,
    resource: r['resource'] as string,
    prev_hash: r['prev_hash'] as string,
    hash: r['hash'] as string,
    metadata: r['metadata'] ?? null,
  };
}
