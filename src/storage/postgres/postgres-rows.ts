/**
 * Row ↔ record mapping shared by the PostgreSQL log's readers and writer.
 *
 * @module
 */
import type { LogRecord } from '../log.js';

/**
 * Columns of `log_records` as the readers select them (array row mode, in this order). Hashes
 * are stored as 32-byte `bytea` and turned into hex by the server.
 */
export const LOG_COLUMNS =
  "r.seq, r.time_ms, r.record_key, r.tenant, r.kind, r.subject, r.correlation, r.chain, r.body, encode(r.prev_hash, 'hex'), encode(r.hash, 'hex')";

/** Builds a record from an array row holding {@link LOG_COLUMNS} from index `at`. */
export function rowToRecord(stream: string, row: readonly unknown[], at = 0): LogRecord {
  return {
    stream,
    seq: row[at] as number,
    timeMs: row[at + 1] as number,
    body: row[at + 8] as string,
    key: (row[at + 2] as string | null) ?? undefined,
    tenant: (row[at + 3] as string | null) ?? undefined,
    kind: (row[at + 4] as string | null) ?? undefined,
    subject: (row[at + 5] as string | null) ?? undefined,
    correlation: (row[at + 6] as string | null) ?? undefined,
    chain: (row[at + 7] as string | null) ?? undefined,
    prevHash: row[at + 9] as string,
    hash: row[at + 10] as string,
  };
}
