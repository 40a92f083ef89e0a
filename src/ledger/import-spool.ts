/**
 * A temporary file an import writes its validated lines to before anything is stored, so a
 * file of any size is checked whole without being held in memory (see `Ledger.importNdjson`).
 * Private to the owner (0600 in a 0700 folder) and removed when the import ends.
 *
 * @module
 */
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

/** A write-once, read-once spool file. */
export interface Spool {
  /** Appends text, waiting when the file stream is behind (back-pressure). */
  write(text: string): Promise<void>;
  /** Ends writing; resolves once everything is on disk. */
  close(): Promise<void>;
  /** The spooled bytes, from the start. */
  read(): AsyncIterable<Uint8Array>;
  /** Deletes the spool (idempotent). */
  remove(): Promise<void>;
}

/** Creates a spool in the system temporary folder. */
export async function createSpool(): Promise<Spool> {
  const dir = await mkdtemp(join(tmpdir(), 'kerno-import-'));
  const path = join(dir, 'spool.ndjson');
  const out: WriteStream = createWriteStream(path, { mode: 0o600 });
  let closed = false;
  const failed = once(out, 'error').then(([error]) => {
    throw error as Error;
  });
  failed.catch(() => undefined);
  return {
    async write(text) {
      if (!out.write(text)) await Promise.race([once(out, 'drain'), failed]);
    },
    async close() {
      if (closed) return;
      closed = true;
      out.end();
      await Promise.race([once(out, 'finish'), failed]);
    },
    read: () => createReadStream(path),
    async remove() {
      if (!closed) {
        closed = true;
        out.destroy();
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
