/**
 * Secrets never reach the database file, the WAL, the writer worker's messages, events, audit
 * entries, log lines or error messages; the audit trail records every registry change.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  createAuditTrail,
  createMemoryBus,
  createMemoryLogger,
  isKernelError,
  type KernelEvent,
} from '../../src/index.js';
import { ConfigCipher, parseCipherMeta } from '../../src/registry/config-cipher.js';
import { openRegistry } from '../../src/registry/registry.js';
import { openStorage } from '../../src/storage/open-storage.js';
import { tempDir } from '../helpers/stores.js';

const SECRET = 'PLAINTEXT-SECRET-7f3a9c41';
const SECRET_2 = 'PLAINTEXT-SECRET-second-b2e8';
const PLAIN = 'plain-value-visible-5d1e';

function contains(file: string, needle: string): boolean {
  return existsSync(file) && readFileSync(file).includes(Buffer.from(needle, 'utf8'));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('secrets at rest', () => {
  it('no plaintext secret in the database, the WAL, worker messages, events, audit or logs', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const file = join(dir, 'kerno.db');
      const sent: string[] = [];
      // eslint-disable-next-line @typescript-eslint/unbound-method -- re-bound with .call below
      const post = Worker.prototype.postMessage;
      vi.spyOn(Worker.prototype, 'postMessage').mockImplementation(function (
        this: Worker,
        message: unknown,
        ...rest: unknown[]
      ) {
        sent.push(JSON.stringify(message));
        return (post as (...a: unknown[]) => void).call(this, message, ...rest);
      });
      const storage = await openStorage(`sqlite:${file}`);
      const bus = createMemoryBus();
      const events: KernelEvent[] = [];
      bus.on('*', (e) => events.push(e));
      const logger = createMemoryLogger();
      const audit = createAuditTrail({ log: storage.log, logger });
      audit.attach(bus);
      const reg = await openRegistry({ storage, bus, key: 'k1', scryptCost: 2 ** 10 });

      await reg.setConfig('api_token', SECRET, { secret: true });
      await reg.setConfig('nested', { token: SECRET_2, list: [SECRET_2] }, { secret: true });
      await reg.setConfig('api_token', SECRET + '-v2'); // sticky: still secret
      await reg.setConfig('visible', PLAIN);
      await reg.rotateKey('k2');
      await reg.setConfig('later', SECRET, { secret: true });
      expect(await reg.deleteConfig('later')).toBe(true);
      expect(await reg.getConfig('api_token')).toBe(SECRET + '-v2');
      expect(await reg.getConfig('nested')).toEqual({ token: SECRET_2, list: [SECRET_2] });

      // A damaged secret: the error must not quote the decrypted text.
      const meta = parseCipherMeta((await storage.registry.getMeta()).cipher!);
      const cipher = await ConfigCipher.open('k2', meta);
      await storage.registry.setConfig({
        key: 'damaged',
        value: cipher.encrypt('damaged', `${SECRET} is not JSON`),
        updatedAt: '2026-05-14T10:00:00+00:00',
      });
      let error: unknown;
      try {
        await reg.getConfig('damaged');
      } catch (e) {
        error = e;
      }
      expect(isKernelError(error, 'CORRUPT_VALUE')).toBe(true);
      const errorText = `${String(error)} ${JSON.stringify(error)} ${String((error as Error).cause)}`;

      await audit.flush();
      const entries = await audit.entries();
      expect(entries.length).toBeGreaterThan(0);

      // While open: the WAL holds the recent writes.
      expect(contains(file + '-wal', PLAIN)).toBe(true); // the grep itself works
      for (const needle of [SECRET, SECRET_2]) {
        expect(contains(file, needle)).toBe(false);
        expect(contains(file + '-wal', needle)).toBe(false);
        expect(sent.some((m) => m.includes(needle))).toBe(false);
        expect(JSON.stringify(events)).not.toContain(needle);
        expect(JSON.stringify(entries)).not.toContain(needle);
        expect(JSON.stringify(logger.lines)).not.toContain(needle);
        expect(errorText).not.toContain(needle);
      }
      expect(sent.some((m) => m.includes(PLAIN))).toBe(true);
      await reg.close();
      await storage.close();
      // After close the WAL is checkpointed into the file.
      expect(contains(file, PLAIN)).toBe(true);
      for (const needle of [SECRET, SECRET_2]) {
        expect(contains(file, needle)).toBe(false);
        expect(contains(file + '-wal', needle)).toBe(false);
      }
    } finally {
      cleanup();
    }
  });
});

describe('audit', () => {
  it('records every config and module change from the bus, without values', async () => {
    const storage = await openStorage('memory:');
    const bus = createMemoryBus();
    const audit = createAuditTrail({ log: storage.log });
    audit.attach(bus);
    const reg = await openRegistry({ storage, bus, key: 'k', scryptCost: 2 ** 10 });
    await reg.setConfig('api_token', SECRET, { secret: true });
    await reg.setConfig('max_threads', PLAIN);
    await reg.deleteConfig('max_threads');
    await reg.rotateKey('k2');
    await reg.upsertModule({ id: 'mirror', name: 'M', version: '1', kind: 'native' }, 'loaded');
    await reg.setModuleState('mirror', 'running');
    await audit.flush();
    const entries = await audit.entries();
    expect(entries.map((e) => e.action)).toEqual([
      { type: 'ConfigChange', data: { key: 'api_token' } },
      { type: 'ConfigChange', data: { key: 'max_threads' } },
      { type: 'ConfigChange', data: { key: 'max_threads' } },
      { type: 'ConfigChange', data: { key: 'api_token' } },
      { type: 'Other', data: { detail: 'module_state:mirror:none->loaded' } },
      { type: 'Other', data: { detail: 'module_state:mirror:loaded->running' } },
    ]);
    expect(entries.map((e) => (e.metadata as { event: { change?: string } }).event.change)).toEqual(
      ['set', 'set', 'delete', 'rotate', undefined, undefined],
    );
    expect(entries[4]!.actor).toBe('module:mirror');
    expect(JSON.stringify(entries)).not.toContain(SECRET);
    expect(JSON.stringify(entries)).not.toContain(PLAIN);
    expect((await audit.verify()).ok).toBe(true);
    await reg.close();
    await storage.close();
  });
});
