import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeOxiosEmbedding, readOxiosMemory } from '../../src/formats/oxios-memory.js';
import { isKernelError } from '../../src/errors.js';
import { PATTERN_ROWS, f32le, writeMemoryDb, type PatternRow } from '../helpers/oxios.js';
import { tempDir } from '../helpers/stores.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

function dbFile(rows?: readonly PatternRow[]): string {
  const { dir, cleanup } = tempDir('kerno-oxios-mem-');
  cleanups.push(cleanup);
  const file = join(dir, 'memory.db');
  writeMemoryDb(file, rows);
  return file;
}

function read(file: string) {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return readOxiosMemory(db, file);
  } finally {
    db.close();
  }
}

function failure(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (error) {
    if (isKernelError(error)) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error('expected a failure');
}

describe('oxios memory.db patterns', () => {
  it('maps every row of the upstream patterns table to a kerno pattern', () => {
    const result = read(dbFile());
    expect(result.patterns).toEqual([
      {
        id: 'sona-1',
        strategy: 'retry flaky network tests with backoff',
        embedding_weights: {},
        success_rate: 0.75,
        use_count: 4,
        domain: 'ci',
        quality: 0.85,
        is_long_term: true,
        last_used: '2026-05-14T10:00:00.500Z',
      },
      {
        id: 'sona-2',
        strategy: 'pin the toolchain version before bisecting',
        embedding_weights: { toolchain: 0.7, bisect: 0.3 },
        success_rate: 0,
        use_count: 0,
        domain: '',
        quality: 0.5,
        is_long_term: false,
        last_used: '2026-05-02T09:00:00Z',
      },
    ]);
    expect(result.embeddingsDropped).toBe(1);
    expect(result.weightsKept).toBe(1);
  });

  it('decodes embeddings as little-endian f32 and refuses a partial one', () => {
    expect([...decodeOxiosEmbedding(f32le([0.25, -1.5, 3]))]).toEqual([0.25, -1.5, 3]);
    expect(failure(() => decodeOxiosEmbedding(new Uint8Array(5))).code).toBe(
      'INVALID_UPSTREAM_FILE',
    );
    const bad = { ...PATTERN_ROWS[0]!, embedding: Buffer.alloc(6) };
    expect(failure(() => read(dbFile([bad]))).message).toMatch(
      /pattern row 1 \(id "sona-1"\): An embedding of 6 bytes/,
    );
    const nan = { ...PATTERN_ROWS[0]!, embedding: f32le([Number.NaN]) };
    expect(failure(() => read(dbFile([nan]))).message).toContain('non-finite');
  });

  it('fails the whole read on one bad row, naming it', () => {
    const rows = [PATTERN_ROWS[0]!, { ...PATTERN_ROWS[1]!, use_count: -1 }];
    const f = failure(() => read(dbFile(rows)));
    expect(f.code).toBe('INVALID_UPSTREAM_FILE');
    expect(f.message).toContain('pattern row 2 (id "sona-2"): `use_count` must be an integer');
    expect(f.message).toContain('nothing was imported');
    const badData = failure(() => read(dbFile([{ ...PATTERN_ROWS[0]!, data: '{nope' }])));
    expect(badData.message).toContain('`data` is not valid JSON');
    const badTime = failure(() =>
      read(dbFile([{ ...PATTERN_ROWS[0]!, created_at: 'yesterday', updated_at: 'today' }])),
    );
    expect(badTime.message).toContain('neither `updated_at` nor `created_at`');
    const outOfRange = failure(() => read(dbFile([{ ...PATTERN_ROWS[0]!, quality: 1e300 }])));
    expect(outOfRange.message).toContain('quality');
  });

  it('says what was expected of a database without the table or its columns, or not SQLite', () => {
    const { dir, cleanup } = tempDir('kerno-oxios-mem-');
    cleanups.push(cleanup);
    const empty = join(dir, 'empty.db');
    new Database(empty).exec('CREATE TABLE other (x)');
    const noTable = failure(() => read(empty));
    expect(noTable.code).toBe('INVALID_UPSTREAM_FILE');
    expect(noTable.message).toContain('is not an oxios memory.db: it has no `patterns` table');
    expect(noTable.message).toContain('id, strategy, domain, quality');

    const partial = join(dir, 'partial.db');
    new Database(partial).exec('CREATE TABLE patterns (id TEXT, strategy TEXT)');
    expect(failure(() => read(partial)).message).toContain(
      'lacks the column(s) domain, quality, use_count, success_rate, is_long_term, embedding, data, created_at, updated_at',
    );

    const text = join(dir, 'not.db');
    writeFileSync(text, 'this is not a database, just some text long enough to fail the header');
    const notDb = failure(() => read(text));
    expect(notDb.code).toBe('INVALID_UPSTREAM_FILE');
    expect(notDb.message).toContain('could not be read as SQLite');
  });
});
