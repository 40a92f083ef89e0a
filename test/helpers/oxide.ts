/**
 * oxide-k databases for tests, built from oxide-k's definitions (its `migrate()` schema, its
 * statements, its cipher rules: SHA-256 key, AES-256-GCM without AAD, padded base64url of
 * nonce ‖ ciphertext ‖ tag) — written independently of kerno's code.
 */
import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import Database from 'better-sqlite3';

/** oxide-k's `migrate()`, verbatim. */
export const OXIDE_SCHEMA = `
  CREATE TABLE IF NOT EXISTS modules (
      id          TEXT PRIMARY KEY,
      name        TEXT NOT NULL,
      version     TEXT NOT NULL,
      kind        TEXT NOT NULL,
      state       TEXT NOT NULL,
      description TEXT,
      updated_at  TEXT NOT NULL
  );
  CREATE TABLE IF NOT EXISTS config (
      key        TEXT PRIMARY KEY,
      value      TEXT NOT NULL,
      updated_at TEXT NOT NULL
  );
`;
// oxide-k's statements (its `?1…?N` placeholders as plain `?`, which better-sqlite3 binds).
export const OXIDE_UPSERT_MODULE = `
  INSERT INTO modules (id, name, version, kind, state, description, updated_at)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT(id) DO UPDATE SET
      name = excluded.name, version = excluded.version, kind = excluded.kind,
      state = excluded.state, description = excluded.description, updated_at = excluded.updated_at`;
export const OXIDE_SET_CONFIG = `
  INSERT INTO config (key, value, updated_at) VALUES (?, ?, ?)
  ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at`;
/** oxide-k's RegistryCipher, written independently of kerno's code. */
export function oxideEncrypt(keyString: string, plaintext: string): string {
  const key = createHash('sha256').update(keyString).digest();
  const nonce = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  const body = Buffer.concat([c.update(plaintext, 'utf8'), c.final(), c.getAuthTag()]);
  // base64ct's Base64Url: URL-safe alphabet, WITH padding.
  return Buffer.concat([nonce, body]).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

/** A SQLite file as oxide-k leaves it: two modules and three config values, encrypted with `oxideKey`. */
export function writeOxideDatabase(file: string, oxideKey?: string): void {
  const db = new Database(file);
  db.exec(OXIDE_SCHEMA);
  db.prepare(OXIDE_UPSERT_MODULE).run(
    'mirror',
    'Module mirror',
    '0.1.0',
    '"native"',
    '"running"',
    'test module',
    '2026-05-14T10:00:00.123456789+00:00',
  );
  const set = db.prepare(OXIDE_SET_CONFIG);
  const value = (json: string) => (oxideKey === undefined ? json : oxideEncrypt(oxideKey, json));
  set.run('max_threads', value('8'), '2026-05-14T10:00:00.5+00:00');
  set.run('api_token', value('"my-super-secret-token"'), '2026-05-14T10:00:02+00:00');
  db.close();
}

/** Adds rows the way oxide-k wrote them before its encryption was turned on: plain JSON. */
export function addPlainOxideRows(file: string, rows: Record<string, string>): void {
  const db = new Database(file);
  const set = db.prepare(OXIDE_SET_CONFIG);
  for (const [key, json] of Object.entries(rows)) set.run(key, json, '2026-05-13T10:00:00+00:00');
  db.close();
}
