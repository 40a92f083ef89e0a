/**
 * oxide-k compatibility: kerno opens a SQLite database oxide-k wrote (built here by hand, with
 * oxide-k's schema, encodings and cipher), reads and updates it, and oxide-k can still read
 * everything kerno wrote.
 */
import { createDecipheriv, createHash } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { isKernelError, ManualClock } from '../../src/index.js';
import { resolveConfig } from '../../src/config.js';
import { openRegistry, type Registry, type RegistryOptions } from '../../src/registry/registry.js';
import { openStorage } from '../../src/storage/open-storage.js';
import type { Storage } from '../../src/storage/storage.js';
import { tempDir } from '../helpers/stores.js';
import {
  OXIDE_SCHEMA,
  OXIDE_SET_CONFIG,
  OXIDE_UPSERT_MODULE,
  oxideEncrypt,
} from '../helpers/oxide.js';
import { createAuditTrail } from '../../src/audit/audit-trail.js';
import { createMemoryBus } from '../../src/bus/memory-bus.js';
import { SQLITE_SCHEMA_VERSION } from '../../src/storage/sqlite/sqlite-migrations.js';

/** chrono `to_rfc3339()`: `+00:00`, fractional digits 0, 3, 6 or 9. */
const CHRONO_RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3}|\.\d{6}|\.\d{9})?\+00:00$/;

function oxideDecrypt(keyString: string, encoded: string): string {
  expect(encoded).toMatch(/^[A-Za-z0-9_-]*={0,2}$/);
  expect(encoded.length % 4).toBe(0);
  const blob = Buffer.from(encoded.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
  const key = createHash('sha256').update(keyString).digest();
  const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
  d.setAuthTag(blob.subarray(blob.length - 16));
  return Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]).toString('utf8');
}

async function expectCode(p: Promise<unknown>, code: string): Promise<Error> {
  let thrown: unknown;
  try {
    await p;
  } catch (error) {
    thrown = error;
  }
  expect(isKernelError(thrown), `expected KernelError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  return thrown as Error;
}

const cleanups: (() => void)[] = [];
const registries: Registry[] = [];
const storages: Storage[] = [];
afterEach(async () => {
  await closeAll();
  for (const c of cleanups.splice(0)) c();
});

/** A database as oxide-k leaves it: its two tables, user_version 0, no kerno table. */
function oxideDatabase(oxideKey?: string): string {
  const { dir, cleanup } = tempDir('kerno-oxide-');
  cleanups.push(cleanup);
  const file = join(dir, 'oxide.db');
  const db = new Database(file);
  db.exec(OXIDE_SCHEMA);
  const upsert = db.prepare(OXIDE_UPSERT_MODULE);
  upsert.run(
    'compress',
    'Compressor',
    '1.2.0',
    '"wasm"',
    '"stopped"',
    null,
    '2026-05-14T09:00:00+00:00',
  );
  upsert.run(
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
  set.run(
    'endpoint',
    value('{"url":"https://example.com","retries":3}'),
    '2026-05-14T10:00:01+00:00',
  );
  set.run('api_token', value('"my-super-secret-token"'), '2026-05-14T10:00:02+00:00');
  expect(db.pragma('user_version', { simple: true })).toBe(0);
  db.close();
  return file;
}

async function open(file: string, options: Partial<RegistryOptions> = {}): Promise<Registry> {
  const storage = await openStorage(`sqlite:${file}`);
  storages.push(storage);
  const r = await openRegistry({
    storage,
    clock: new ManualClock(Date.UTC(2026, 4, 15, 8, 30, 0, 250)),
    scryptCost: 2 ** 10,
    ...options,
  });
  registries.push(r);
  return r;
}

async function closeAll(): Promise<void> {
  for (const r of registries.splice(0)) await r.close();
  for (const s of storages.splice(0)) await s.close();
}

/** Reads the file the way oxide-k does: its statements, its decoding. */
function readAsOxide(file: string, oxideKey?: string) {
  const db = new Database(file);
  db.exec(OXIDE_SCHEMA); // oxide-k's migrate() runs on every open
  const modules = (
    db
      .prepare(
        'SELECT id, name, version, kind, state, description, updated_at FROM modules ORDER BY id',
      )
      .all() as Record<string, string | null>[]
  ).map((r): Record<string, unknown> => {
    expect(r.updated_at).toMatch(CHRONO_RFC3339);
    return {
      ...r,
      kind: JSON.parse(r.kind!) as unknown,
      state: JSON.parse(r.state!) as unknown,
    };
  });
  const config = Object.fromEntries(
    (db.prepare('SELECT key, value FROM config').all() as { key: string; value: string }[]).map(
      (r) => [
        r.key,
        JSON.parse(oxideKey === undefined ? r.value : oxideDecrypt(oxideKey, r.value)) as unknown,
      ],
    ),
  );
  return { db, modules, config };
}

describe('an unencrypted oxide-k database', () => {
  it('is migrated in place and read: modules, nanosecond times, JSON config', async () => {
    const file = oxideDatabase();
    const reg = await open(file);
    expect(reg.info()).toEqual({ format: 'oxide-k', encryption: 'none' });
    expect(await reg.listModules()).toEqual([
      {
        id: 'compress',
        name: 'Compressor',
        version: '1.2.0',
        kind: 'wasm',
        state: 'stopped',
        description: null,
        updatedAt: '2026-05-14T09:00:00+00:00',
      },
      {
        id: 'mirror',
        name: 'Module mirror',
        version: '0.1.0',
        kind: 'native',
        state: 'running',
        description: 'test module',
        updatedAt: '2026-05-14T10:00:00.123456789+00:00',
      },
    ]);
    expect(await reg.getConfig('max_threads')).toBe(8);
    expect(await reg.getConfig('endpoint')).toEqual({ url: 'https://example.com', retries: 3 });
    expect((await reg.listConfig()).every((c) => !c.secret)).toBe(true);
  });

  it('stays readable by oxide-k after kerno updates it', async () => {
    const file = oxideDatabase();
    const reg = await open(file);
    await reg.setModuleState('mirror', 'stopping');
    await reg.upsertModule(
      { id: 'new', name: 'New', version: '2.0.0', kind: 'wasm', description: 'added by kerno' },
      'loaded',
    );
    await reg.setConfig('max_threads', 16);
    await reg.setConfig('flags', { fast: true, list: [1, 2] });
    expect(await reg.deleteConfig('endpoint')).toBe(true);
    await expectCode(reg.setConfig('api_token', 'x', { secret: true }), 'KEY_REQUIRED');
    await closeAll();

    const { db, modules, config } = readAsOxide(file);
    expect(db.pragma('user_version', { simple: true })).toBe(SQLITE_SCHEMA_VERSION);
    const raw = db.prepare("SELECT kind, state, updated_at FROM modules WHERE id = 'new'").get();
    expect(raw).toEqual({
      kind: '"wasm"',
      state: '"loaded"',
      updated_at: '2026-05-15T08:30:00.250+00:00',
    });
    expect(modules.find((m) => m.id === 'mirror')).toMatchObject({
      state: 'stopping',
      name: 'Module mirror',
      description: 'test module',
    });
    expect(config).toEqual({
      max_threads: 16,
      flags: { fast: true, list: [1, 2] },
      api_token: 'my-super-secret-token',
    });
    // oxide-k keeps writing with its own statements; kerno reads what it wrote.
    db.prepare(OXIDE_SET_CONFIG).run('max_threads', '32', '2026-05-16T00:00:00+00:00');
    db.prepare(OXIDE_UPSERT_MODULE).run(
      'mirror',
      'Module mirror',
      '0.1.1',
      '"native"',
      '"failed"',
      null,
      '2026-05-16T00:00:00+00:00',
    );
    db.close();
    const again = await open(file);
    expect(await again.getConfig('max_threads')).toBe(32);
    expect(await again.getModule('mirror')).toMatchObject({ state: 'failed', version: '0.1.1' });
  });

  it('refuses an oxide key that does not decrypt it, and reports damaged rows', async () => {
    const file = oxideDatabase();
    const e = await expectCode(open(file, { oxideKey: 'some-key' }), 'WRONG_KEY');
    expect(e.message).toMatch(/OXIDE_REGISTRY_KEY/);
    const db = new Database(file);
    db.prepare("UPDATE modules SET kind = 'native' WHERE id = 'mirror'").run(); // not JSON text
    db.prepare(OXIDE_SET_CONFIG).run('broken', '{"unterminated', '2026-05-16T00:00:00+00:00');
    db.close();
    const reg = await open(file);
    await expectCode(reg.getModule('mirror'), 'CORRUPT_VALUE');
    await expectCode(reg.getConfig('broken'), 'CORRUPT_VALUE');
    expect(await reg.getConfig('max_threads')).toBe(8);
  });
});

describe('an encrypted oxide-k database', () => {
  const KEY = 's3cr3t-key';

  it('is read with OXIDE_REGISTRY_KEY; kerno writes oxide-k ciphertext oxide-k decrypts', async () => {
    const file = oxideDatabase(KEY);
    const reg = await open(file, {
      oxideKey: resolveConfig({ env: { OXIDE_REGISTRY_KEY: KEY } }).oxideRegistryKey,
    });
    expect(reg.info()).toEqual({ format: 'oxide-k', encryption: 'oxide-k' });
    expect(await reg.getConfig('api_token')).toBe('my-super-secret-token');
    expect(await reg.getConfig('endpoint')).toEqual({ url: 'https://example.com', retries: 3 });
    expect((await reg.listConfig()).every((c) => c.secret)).toBe(true);
    await reg.setConfig('api_token', 'rotated-token');
    await reg.setConfig('max_threads', 12, { secret: false }); // oxide-k reads every value through its cipher
    await closeAll();
    const { db, config } = readAsOxide(file, KEY);
    expect(config).toEqual({
      max_threads: 12,
      endpoint: { url: 'https://example.com', retries: 3 },
      api_token: 'rotated-token',
    });
    const stored = db.prepare("SELECT value FROM config WHERE key = 'api_token'").pluck().get();
    expect(stored).not.toMatch(/rotated-token/);
    db.close();
  });

  it('gives typed errors: wrong key, missing key, truncated, corrupt, non-JSON', async () => {
    const file = oxideDatabase(KEY);
    await expectCode(open(file, { oxideKey: 'not-the-key' }), 'WRONG_KEY');
    const keyless = await open(file);
    expect(keyless.info().encryption).toBe('none');
    const e = await expectCode(keyless.getConfig('api_token'), 'KEY_REQUIRED');
    expect(e.message).toMatch(/OXIDE_REGISTRY_KEY/);
    expect((await keyless.listConfig()).every((c) => c.secret)).toBe(true);
    await closeAll();

    const db = new Database(file);
    const good = db
      .prepare("SELECT value FROM config WHERE key = 'endpoint'")
      .pluck()
      .get() as string;
    const set = db.prepare(OXIDE_SET_CONFIG);
    const at = '2026-05-16T00:00:00+00:00';
    set.run('truncated', good.slice(0, good.length - 2), at);
    set.run('short', 'AAAA', at);
    const i = 20;
    set.run('corrupt', good.slice(0, i) + (good[i] === 'A' ? 'B' : 'A') + good.slice(i + 1), at);
    set.run('not_json', oxideEncrypt(KEY, 'plain words'), at);
    db.close();
    const reg = await open(file, { oxideKey: KEY });
    for (const k of ['truncated', 'short', 'corrupt'])
      await expectCode(reg.getConfig(k), 'DECRYPT_FAILED');
    const nj = await expectCode(reg.getConfig('not_json'), 'CORRUPT_VALUE');
    expect(nj.message).not.toMatch(/plain words/);
  });

  it('rotates oxide-k’s key: oxide-k reads everything with the new key', async () => {
    const file = oxideDatabase(KEY);
    const reg = await open(file, { oxideKey: KEY });
    expect(await reg.rotateKey('next-key')).toEqual({ reencrypted: 3 });
    expect(await reg.getConfig('api_token')).toBe('my-super-secret-token');
    await closeAll();
    const { db, config } = readAsOxide(file, 'next-key');
    expect(config.api_token).toBe('my-super-secret-token');
    db.close();
    await expectCode(open(file, { oxideKey: KEY }), 'WRONG_KEY');
  });

  it('upgrades to kerno’s encryption only when asked', async () => {
    const file = oxideDatabase(KEY);
    const reg = await open(file, { oxideKey: KEY, key: 'kerno-key' });
    expect(reg.info().format).toBe('oxide-k');
    expect(await reg.upgradeEncryption()).toEqual({ reencrypted: 3, keyVersion: 1 });
    expect(reg.info()).toEqual({ format: 'kerno', encryption: 'kerno', keyVersion: 1 });
    await reg.setConfig('plain_now', 1, { secret: false });
    expect(await reg.getConfig('api_token')).toBe('my-super-secret-token');
    await closeAll();
    const db = new Database(file);
    const rows = db.prepare('SELECT key, value FROM config ORDER BY key').all() as {
      key: string;
      value: string;
    }[];
    expect(rows.filter((r) => r.value.startsWith('$kerno1$1$')).map((r) => r.key)).toEqual([
      'api_token',
      'endpoint',
      'max_threads',
    ]);
    expect(rows.find((r) => r.key === 'plain_now')?.value).toBe('1');
    db.close();
    // Now a kerno registry: oxide-k's key opens nothing secret any more.
    const oxideOnly = await open(file, { oxideKey: KEY });
    expect(oxideOnly.info()).toEqual({ format: 'kerno', encryption: 'none', keyVersion: 1 });
    await expectCode(oxideOnly.getConfig('api_token'), 'KEY_REQUIRED');
    const again = await open(file, { key: 'kerno-key' });
    expect(await again.getConfig('endpoint')).toEqual({ url: 'https://example.com', retries: 3 });
  });

  it('an unencrypted oxide-k registry upgrades keeping plain values plain', async () => {
    const file = oxideDatabase();
    const reg = await open(file);
    await expectCode(reg.upgradeEncryption(), 'KEY_REQUIRED');
    expect(await reg.upgradeEncryption('kerno-key')).toEqual({ reencrypted: 0, keyVersion: 1 });
    await reg.setConfig('api_token', 'now-secret', { secret: true });
    await closeAll();
    const db = new Database(file);
    const value = (k: string) =>
      db.prepare('SELECT value FROM config WHERE key = ?').pluck().get(k);
    expect(value('max_threads')).toBe('8');
    expect(value('api_token')).toMatch(/^\$kerno1\$1\$/);
    db.close();
  });
});

describe('an oxide-k database mixing plain and encrypted rows (issue 15)', () => {
  const KEY = 's3cr3t-key';

  /** An encrypted oxide-k database with two rows written before encryption was turned on. */
  function mixedDatabase(): string {
    const file = oxideDatabase(KEY);
    const db = new Database(file);
    const set = db.prepare(OXIDE_SET_CONFIG);
    set.run('legacy_threads', '4', '2026-05-13T10:00:00+00:00');
    set.run('legacy_name', '"before-encryption"', '2026-05-13T10:00:01+00:00');
    db.close();
    return file;
  }

  function rawValues(file: string): Record<string, string> {
    const db = new Database(file, { readonly: true });
    const rows = db.prepare('SELECT key, value FROM config ORDER BY key').all() as {
      key: string;
      value: string;
    }[];
    db.close();
    return Object.fromEntries(rows.map((r) => [r.key, r.value]));
  }

  it('without its key is read-only for config: set and delete fail, nothing is overwritten', async () => {
    const file = oxideDatabase(KEY);
    const before = rawValues(file);
    const reg = await open(file);
    for (const write of [
      () => reg.setConfig('api_token', 'plain-over-cipher'),
      () => reg.setConfig('brand_new', 1),
      () => reg.setConfig('brand_new', 'x', { secret: true }),
      () => reg.deleteConfig('endpoint'),
    ]) {
      const e = await expectCode(write(), 'KEY_REQUIRED');
      expect(e.message).toMatch(/OXIDE_REGISTRY_KEY/);
      expect(e.message).toMatch(/read-only/);
    }
    // Reads: plain ones work, secret ones name the key to provide; listing is unchanged.
    const read = await expectCode(reg.getConfig('api_token'), 'KEY_REQUIRED');
    expect(read.message).toMatch(/OXIDE_REGISTRY_KEY/);
    expect((await reg.listConfig()).map((c) => c.secret)).toEqual([true, true, true]);
    // Modules are not config: they stay writable (oxide-k keeps them plain).
    await reg.setModuleState('mirror', 'stopping');
    await closeAll();
    expect(rawValues(file)).toEqual(before);
    const { db, config } = readAsOxide(file, KEY);
    db.close();
    expect(config.api_token).toBe('my-super-secret-token');
  });

  it('an unencrypted oxide-k database stays writable without a key', async () => {
    const reg = await open(oxideDatabase());
    await reg.setConfig('max_threads', 9);
    expect(await reg.deleteConfig('endpoint')).toBe(true);
    expect(await reg.getConfig('max_threads')).toBe(9);
  });

  it('reads plain rows as plain (secret: false) with the key, and never DECRYPT_FAILED', async () => {
    const file = mixedDatabase();
    const reg = await open(file, { oxideKey: KEY });
    expect(await reg.getConfig('legacy_threads')).toBe(4);
    expect(await reg.getConfig('legacy_name')).toBe('before-encryption');
    expect(await reg.getConfig('api_token')).toBe('my-super-secret-token');
    expect(Object.fromEntries((await reg.listConfig()).map((c) => [c.key, c.secret]))).toEqual({
      api_token: true,
      endpoint: true,
      legacy_name: false,
      legacy_threads: false,
      max_threads: true,
    });
    // Rotating re-encrypts the ciphertext and leaves the plain rows plain.
    expect(await reg.rotateKey('next-key')).toEqual({ reencrypted: 3 });
    expect(await reg.getConfig('legacy_threads')).toBe(4);
    // Without the key the plain rows read too, and the database is still read-only.
    const keyless = await open(file);
    expect(await keyless.getConfig('legacy_name')).toBe('before-encryption');
    await expectCode(keyless.setConfig('legacy_name', 'x'), 'KEY_REQUIRED');
  });

  it('encryptPlain encrypts them in place, atomically, audited, idempotently', async () => {
    const file = mixedDatabase();
    const before = rawValues(file);
    const keyless = await open(file);
    await expectCode(keyless.encryptPlain(), 'KEY_REQUIRED');
    await closeAll();

    const bus = createMemoryBus();
    const events: unknown[] = [];
    bus.on('ConfigChanged', (e) => events.push(e));
    const auditStorage = await openStorage('memory:');
    storages.push(auditStorage);
    const audit = createAuditTrail({ log: auditStorage.log });
    audit.attach(bus);
    const reg = await open(file, { oxideKey: KEY, bus });
    await expectCode(reg.encryptPlain(['legacy_name', 'missing']), 'CONFIG_NOT_FOUND');
    expect(rawValues(file)).toEqual(before); // all or nothing
    expect(await reg.encryptPlain()).toEqual({
      encrypted: 2,
      keys: ['legacy_name', 'legacy_threads'],
    });
    expect(await reg.encryptPlain()).toEqual({ encrypted: 0, keys: [] });
    expect(events).toEqual([
      { type: 'ConfigChanged', key: 'legacy_name', change: 'encrypt', secret: true },
      { type: 'ConfigChanged', key: 'legacy_threads', change: 'encrypt', secret: true },
    ]);
    expect((await reg.listConfig()).every((c) => c.secret)).toBe(true);
    await audit.flush();
    const entries = await audit.entries();
    expect(entries.map((e) => e.action)).toEqual([
      { type: 'ConfigChange', data: { key: 'legacy_name' } },
      { type: 'ConfigChange', data: { key: 'legacy_threads' } },
    ]);
    expect(JSON.stringify(entries)).not.toContain('before-encryption');
    await closeAll();
    const after = rawValues(file);
    expect(after.api_token).toBe(before.api_token); // ciphertext untouched
    expect(after.legacy_threads).not.toBe('4');
    // oxide-k now reads every value through its cipher again.
    const { db, config } = readAsOxide(file, KEY);
    db.close();
    expect(config).toMatchObject({ legacy_threads: 4, legacy_name: 'before-encryption' });
  });

  it('encryptPlain in kerno format makes the chosen plain values kerno secrets', async () => {
    const storage = await openStorage('memory:');
    storages.push(storage);
    const reg = await openRegistry({ storage, key: 'kerno-key', scryptCost: 2 ** 10 });
    registries.push(reg);
    await reg.setConfig('a', 1);
    await reg.setConfig('b', 'two');
    expect(await reg.encryptPlain(['b'])).toEqual({ encrypted: 1, keys: ['b'] });
    expect(Object.fromEntries((await reg.listConfig()).map((c) => [c.key, c.secret]))).toEqual({
      a: false,
      b: true,
    });
    expect(await reg.getConfig('b')).toBe('two');
  });
});
