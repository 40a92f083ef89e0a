import { join } from 'node:path';
import { openStorage } from '../../src/storage/open-storage.js';
import { loadSqlite } from '../../src/storage/sqlite/sqlite-driver.js';
import { SqliteWriter, type SqliteWriterMode } from '../../src/storage/sqlite/sqlite-writer.js';
import { tempDir } from './stores.js';

/**
 * A migrated SQLite file in a temp folder and a writer of `mode` on it; what to undo goes on
 * `cleanups` (the writer's close, then the folder).
 */
export async function migratedSqliteWriter(
  mode: SqliteWriterMode,
  cleanups: (() => Promise<void> | void)[],
): Promise<{ writer: SqliteWriter; file: string }> {
  const { dir, cleanup } = tempDir();
  cleanups.push(cleanup);
  const file = join(dir, 'k.db');
  await (await openStorage(`sqlite:${file}`)).close();
  const writer = await SqliteWriter.start({
    file,
    busyTimeoutMs: 5000,
    mode,
    ...(mode === 'inline' ? { driver: await loadSqlite() } : {}),
  });
  cleanups.push(() => writer.close());
  return { writer, file };
}
