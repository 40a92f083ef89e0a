/**
 * The registry contract: the registry on every storage backend must pass this suite unchanged,
 * through the domain API (`Registry`) and the port (`RegistryStore`).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isKernelError, ManualClock, createMemoryBus } from '../index.js';
import type { KernelEvent } from '../model/kernel-event.js';
import { resolveConfig } from '../config.js';
import { openRegistry, type Registry, type RegistryOptions } from '../registry/registry.js';
import type { BackendHarness } from './harness.js';

const T0 = Date.UTC(2026, 4, 14, 10);
/** Cheap scrypt for tests (the default cost is tested in test/registry). */
const COST = 2 ** 10;

async function expectCode(p: Promise<unknown> | (() => unknown), code: string): Promise<Error> {
  let thrown: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (error) {
    thrown = error;
  }
  expect(isKernelError(thrown), `expected KernelError ${code}, got ${String(thrown)}`).toBe(true);
  expect((thrown as { code: string }).code).toBe(code);
  return thrown as Error;
}

const mirror = {
  id: 'mirror',
  name: 'Module mirror',
  version: '0.1.0',
  kind: 'native',
  description: 'test module',
} as const;

/** Runs the registry contract against `open()`; `durable` backends also get the reopen tests. */
export function registryContract(
  name: string,
  open: () => Promise<BackendHarness>,
  options: { durable: boolean },
): void {
  describe(`registry contract: ${name}`, () => {
    let h: BackendHarness;
    let clock: ManualClock;
    const opened: Registry[] = [];
    const events: KernelEvent[] = [];

    async function registry(extra: Partial<RegistryOptions> = {}): Promise<Registry> {
      const bus = createMemoryBus();
      bus.on('*', (e) => events.push(e));
      const r = await openRegistry({
        storage: h.storage,
        bus,
        clock,
        scryptCost: COST,
        ...extra,
      });
      opened.push(r);
      return r;
    }

    async function setup(): Promise<void> {
      h = await open();
      clock = new ManualClock(T0);
      events.length = 0;
    }

    afterEach(async () => {
      for (const r of opened.splice(0)) await r.close();
      await h.close();
    });

    describe('modules', () => {
      it('upserts, gets and lists modules ordered by id (UTF-8 byte order)', async () => {
        await setup();
        const reg = await registry();
        const rec = await reg.upsertModule(mirror, 'loaded');
        expect(rec).toEqual({ ...mirror, state: 'loaded', updatedAt: '2026-05-14T10:00:00+00:00' });
        expect(await reg.getModule('mirror')).toEqual(rec);
        expect(await reg.getModule('missing')).toBeUndefined();
        for (const id of ['b', 'Z', '\u{1F600}', '\uFFFD', 'a'])
          await reg.upsertModule({ ...mirror, id, kind: 'wasm', description: null }, 'stopped');
        expect((await reg.listModules()).map((m) => m.id)).toEqual([
          'Z',
          'a',
          'b',
          'mirror',
          '\uFFFD',
          '\u{1F600}',
        ]);
      });

      it('upsert replaces every field, setModuleState only the state and time', async () => {
        await setup();
        const reg = await registry();
        await reg.upsertModule(mirror, 'loaded');
        clock.advance(123);
        await reg.upsertModule(
          { id: 'mirror', name: 'Mirror 2', version: '0.2.0', kind: 'wasm' },
          'running',
        );
        expect(await reg.getModule('mirror')).toEqual({
          id: 'mirror',
          name: 'Mirror 2',
          version: '0.2.0',
          kind: 'wasm',
          state: 'running',
          description: null,
          updatedAt: '2026-05-14T10:00:00.123+00:00',
        });
        clock.advance(1000);
        await reg.setModuleState('mirror', 'stopping');
        expect(await reg.getModule('mirror')).toMatchObject({
          name: 'Mirror 2',
          version: '0.2.0',
          kind: 'wasm',
          state: 'stopping',
          updatedAt: '2026-05-14T10:00:01.123+00:00',
        });
      });

      it('refuses a state change for an unknown module and bad input, typed', async () => {
        await setup();
        const reg = await registry();
        const e = await expectCode(reg.setModuleState('missing', 'running'), 'UNKNOWN_MODULE');
        expect(e.message).toMatch(/upsertModule/);
        await expectCode(
          reg.upsertModule({ ...mirror, kind: 'python' as never }, 'loaded'),
          'INVALID_ARGUMENT',
        );
        await expectCode(reg.upsertModule(mirror, 'dancing' as never), 'INVALID_ARGUMENT');
        await expectCode(reg.upsertModule({ ...mirror, id: '' }, 'loaded'), 'INVALID_ARGUMENT');
        await reg.upsertModule(mirror, 'loaded');
        await expectCode(reg.setModuleState('mirror', 'gone' as never), 'INVALID_ARGUMENT');
        expect((await reg.getModule('mirror'))?.state).toBe('loaded');
      });

      it('publishes every state change (from → to), and nothing when the state stays', async () => {
        await setup();
        const reg = await registry();
        await reg.upsertModule(mirror, 'loaded');
        await reg.setModuleState('mirror', 'starting');
        await reg.setModuleState('mirror', 'starting');
        await reg.upsertModule({ ...mirror, version: '0.1.1' }, 'starting');
        await reg.upsertModule(mirror, 'failed');
        expect(events).toEqual([
          { type: 'ModuleStateChanged', moduleId: 'mirror', from: null, to: 'loaded' },
          { type: 'ModuleStateChanged', moduleId: 'mirror', from: 'loaded', to: 'starting' },
          { type: 'ModuleStateChanged', moduleId: 'mirror', from: 'starting', to: 'failed' },
        ]);
      });
    });

    describe('config', () => {
      it('round-trips any JSON value, overwrites, and reports missing keys', async () => {
        await setup();
        const reg = await registry();
        const values = {
          max_threads: 8,
          ratio: 0.9,
          name: 'ünïcödé ✓ \u{1F600}',
          on: true,
          nothing: null,
          list: [1, 'two', { three: 3 }],
          endpoint: { url: 'https://example.com', retries: 3, tags: [] },
        };
        for (const [k, v] of Object.entries(values)) await reg.setConfig(k, v);
        for (const [k, v] of Object.entries(values)) expect(await reg.getConfig(k)).toEqual(v);
        await reg.setConfig('max_threads', 16);
        expect(await reg.getConfig<number>('max_threads')).toBe(16);
        const e = await expectCode(reg.getConfig('missing'), 'CONFIG_NOT_FOUND');
        expect(e.message).toMatch(/setConfig/);
        expect(await reg.tryGetConfig('missing')).toBeUndefined();
        expect(await reg.tryGetConfig('nothing')).toBeNull();
      });

      it('delete answers whether a row was removed', async () => {
        await setup();
        const reg = await registry();
        await reg.setConfig('key', 'value');
        expect(await reg.deleteConfig('key')).toBe(true);
        expect(await reg.deleteConfig('key')).toBe(false);
        await expectCode(reg.getConfig('key'), 'CONFIG_NOT_FOUND');
      });

      it('refuses values that are not JSON and bad keys, without echoing the value', async () => {
        await setup();
        const reg = await registry();
        const e = await expectCode(reg.setConfig('k', 12345678901234567890n), 'INVALID_ARGUMENT');
        expect(e.message).not.toMatch(/12345678901234567890/);
        await expectCode(reg.setConfig('k', undefined), 'INVALID_ARGUMENT');
        await expectCode(reg.setConfig('', 1), 'INVALID_ARGUMENT');
        await expectCode(reg.getConfig(42 as never), 'INVALID_ARGUMENT');
        await expectCode(reg.getConfig('k'), 'CONFIG_NOT_FOUND');
      });

      it('lists keys ordered, with secret flag and time, never values', async () => {
        await setup();
        const reg = await registry({ key: 'k1' });
        await reg.setConfig('b', 'plain-b');
        clock.advance(5);
        await reg.setConfig('a', 'hidden-a', { secret: true });
        const list = await reg.listConfig();
        expect(list).toEqual([
          { key: 'a', secret: true, updatedAt: '2026-05-14T10:00:00.005+00:00' },
          { key: 'b', secret: false, updatedAt: '2026-05-14T10:00:00+00:00' },
        ]);
        expect(JSON.stringify(list)).not.toMatch(/plain-b|hidden-a/);
      });

      it('keeps secrets and plain values side by side; a secret stays secret until told', async () => {
        await setup();
        const reg = await registry({ key: 'k1' });
        await reg.setConfig('api_token', 'tok-1', { secret: true });
        await reg.setConfig('max_threads', 8);
        expect(await reg.getConfig('api_token')).toBe('tok-1');
        await reg.setConfig('api_token', 'tok-2'); // no option: stays secret
        expect(await reg.getConfig('api_token')).toBe('tok-2');
        const secretFlag = async (k: string) =>
          (await reg.listConfig()).find((c) => c.key === k)?.secret;
        expect(await secretFlag('api_token')).toBe(true);
        expect(await secretFlag('max_threads')).toBe(false);
        await reg.setConfig('api_token', 'public-now', { secret: false });
        expect(await secretFlag('api_token')).toBe(false);
        expect(await reg.getConfig('api_token')).toBe('public-now');
        expect(reg.info()).toEqual({ format: 'kerno', encryption: 'kerno', keyVersion: 1 });
      });

      it('publishes set and delete with the secret flag, never the value', async () => {
        await setup();
        const reg = await registry({ key: 'k1' });
        await reg.setConfig('api_token', 'tok-xyz', { secret: true });
        await reg.setConfig('max_threads', 8);
        await reg.deleteConfig('api_token');
        await reg.deleteConfig('api_token');
        expect(events).toEqual([
          { type: 'ConfigChanged', key: 'api_token', change: 'set', secret: true },
          { type: 'ConfigChanged', key: 'max_threads', change: 'set', secret: false },
          { type: 'ConfigChanged', key: 'api_token', change: 'delete', secret: true },
        ]);
      });
    });

    describe('keys', () => {
      it('refuses to store or read a secret without a key (KEY_REQUIRED)', async () => {
        await setup();
        const plain = await registry();
        expect(plain.info().encryption).toBe('none');
        const e = await expectCode(
          plain.setConfig('api_token', 'x', { secret: true }),
          'KEY_REQUIRED',
        );
        expect(e.message).toMatch(/KERNO_REGISTRY_KEY/);
        await expectCode(plain.getConfig('api_token'), 'CONFIG_NOT_FOUND');
        const keyed = await registry({ key: 'k1' });
        await keyed.setConfig('api_token', 'x', { secret: true });
        await keyed.setConfig('max_threads', 8);
        const other = await registry();
        await expectCode(other.getConfig('api_token'), 'KEY_REQUIRED');
        expect(await other.getConfig('max_threads')).toBe(8); // plain values stay readable
        await expectCode(other.setConfig('api_token', 'y'), 'KEY_REQUIRED'); // sticky secret
      });

      it('fails at open with WRONG_KEY when the key is not the registry’s', async () => {
        await setup();
        const reg = await registry({ key: 'right' });
        await reg.setConfig('api_token', 'x', { secret: true });
        const e = await expectCode(registry({ key: 'wrong' }), 'WRONG_KEY');
        expect(e.message).toMatch(/KERNO_REGISTRY_KEY/);
        const { registryKey } = resolveConfig({ env: { KERNO_REGISTRY_KEY: 'right' } });
        const env = await registry({ key: registryKey });
        expect(await env.getConfig('api_token')).toBe('x');
      });

      it('binds each ciphertext to its key name: copied onto another key it fails', async () => {
        await setup();
        const reg = await registry({ key: 'k1' });
        await reg.setConfig('a', 'secret-a', { secret: true });
        await reg.setConfig('b', 'secret-b', { secret: true });
        const store = h.storage.registry;
        const a = (await store.getConfig('a'))!;
        await store.setConfig({ key: 'b', value: a.value, updatedAt: a.updatedAt });
        const e = await expectCode(reg.getConfig('b'), 'DECRYPT_FAILED');
        expect(e.message).toMatch(/copied from another key/);
        expect(await reg.getConfig('a')).toBe('secret-a');
      });

      it('gives DECRYPT_FAILED for corrupt or truncated ciphertext, CORRUPT_VALUE for non-JSON', async () => {
        await setup();
        const reg = await registry({ key: 'k1' });
        await reg.setConfig('s', { token: 'abc' }, { secret: true });
        const store = h.storage.registry;
        const stored = (await store.getConfig('s'))!;
        const flip = (c: string) => (c === 'A' ? 'B' : 'A');
        const i = stored.value.length - 5;
        const cases = {
          flipped: stored.value.slice(0, i) + flip(stored.value[i]!) + stored.value.slice(i + 1),
          truncated: stored.value.slice(0, stored.value.length - 7),
          short: stored.value.slice(0, 20),
          badBase64: stored.value.slice(0, -3) + '!!!',
          noVersion: '$kerno1$x$' + 'A'.repeat(60),
        };
        for (const [k, v] of Object.entries(cases)) {
          await store.setConfig({ key: k, value: v, updatedAt: stored.updatedAt });
          await expectCode(reg.getConfig(k), 'DECRYPT_FAILED');
        }
        await store.setConfig({ key: 'plain', value: '{"not json', updatedAt: stored.updatedAt });
        const e = await expectCode(reg.getConfig('plain'), 'CORRUPT_VALUE');
        expect(e.message).not.toMatch(/not json/);
      });

      it('rotates the key: every secret re-encrypted at once, old key refused, events sent', async () => {
        await setup();
        const reg = await registry({ key: 'old' });
        await reg.setConfig('a', 'secret-a', { secret: true });
        await reg.setConfig('b', ['secret-b'], { secret: true });
        await reg.setConfig('plain', 1);
        const before = await h.storage.registry.listConfig();
        events.length = 0;
        expect(await reg.rotateKey('new')).toEqual({ reencrypted: 2, keyVersion: 2 });
        const after = await h.storage.registry.listConfig();
        expect(after.find((c) => c.key === 'plain')).toEqual(before.find((c) => c.key === 'plain'));
        for (const k of ['a', 'b'])
          expect(after.find((c) => c.key === k)?.value).not.toBe(
            before.find((c) => c.key === k)?.value,
          );
        expect(await reg.getConfig('a')).toBe('secret-a');
        expect(reg.info().keyVersion).toBe(2);
        expect(events).toEqual([
          { type: 'ConfigChanged', key: 'a', change: 'rotate', secret: true },
          { type: 'ConfigChanged', key: 'b', change: 'rotate', secret: true },
        ]);
        await expectCode(registry({ key: 'old' }), 'WRONG_KEY');
        const fresh = await registry({ key: 'new' });
        expect(await fresh.getConfig('b')).toEqual(['secret-b']);
        await reg.setConfig('c', 'secret-c', { secret: true });
        expect(await fresh.getConfig('c')).toBe('secret-c');
      });

      it('rotation is all or nothing: one bad value leaves every value and the key as they were', async () => {
        await setup();
        const reg = await registry({ key: 'old' });
        await reg.setConfig('a', 'secret-a', { secret: true });
        await reg.setConfig('b', 'secret-b', { secret: true });
        const store = h.storage.registry;
        const a = (await store.getConfig('a'))!;
        await store.setConfig({ key: 'b', value: a.value, updatedAt: a.updatedAt });
        const before = await store.listConfig();
        const metaBefore = await store.getMeta();
        await expectCode(reg.rotateKey('new'), 'DECRYPT_FAILED');
        expect(await store.listConfig()).toEqual(before);
        expect(await store.getMeta()).toEqual(metaBefore);
        expect(await reg.getConfig('a')).toBe('secret-a');
        await expectCode(registry({ key: 'new' }), 'WRONG_KEY');
      });

      it('a handle left on the old key gets WRONG_KEY after another rotates', async () => {
        await setup();
        const one = await registry({ key: 'old' });
        const two = await registry({ key: 'old' });
        await one.setConfig('a', 'secret-a', { secret: true });
        await one.rotateKey('new');
        await expectCode(two.getConfig('a'), 'WRONG_KEY');
        await expectCode(two.setConfig('b', 'x', { secret: true }), 'WRONG_KEY');
        expect(await one.tryGetConfig('b')).toBeUndefined();
      });

      it('never serves a stale secret: changes and rotations by another handle are seen', async () => {
        await setup();
        const reader = await registry({ key: 'old' });
        const writer = await registry({ key: 'old' });
        await writer.setConfig('a', 'v1', { secret: true });
        expect(await reader.getConfig('a')).toBe('v1');
        expect(await reader.getConfig('a')).toBe('v1'); // decrypted once, then memoized
        await writer.setConfig('a', 'v2');
        expect(await reader.getConfig('a')).toBe('v2');
        await writer.setConfig('a', 'v2'); // same plaintext, new ciphertext
        expect(await reader.getConfig('a')).toBe('v2');
        await writer.deleteConfig('a');
        await expectCode(reader.getConfig('a'), 'CONFIG_NOT_FOUND');
        await writer.setConfig('a', 'v3', { secret: true });
        expect(await reader.getConfig('a')).toBe('v3');
        await writer.rotateKey('new');
        await expectCode(reader.getConfig('a'), 'WRONG_KEY');
      });

      it('writes issued during a rotation land under the new key', async () => {
        await setup();
        const reg = await registry({ key: 'old' });
        await reg.setConfig('a', 'secret-a', { secret: true });
        const rotation = reg.rotateKey('new');
        const writes = Array.from({ length: 20 }, (_, i) =>
          reg.setConfig(`w${i}`, `secret-${i}`, { secret: true }),
        );
        await Promise.all([rotation, ...writes]);
        const fresh = await registry({ key: 'new' });
        for (let i = 0; i < 20; i++) expect(await fresh.getConfig(`w${i}`)).toBe(`secret-${i}`);
        expect(await fresh.getConfig('a')).toBe('secret-a');
      });
    });

    describe('port', () => {
      it('commit is a compare-and-set: a failed expectation writes nothing', async () => {
        await setup();
        const store = h.storage.registry;
        const at = '2026-05-14T10:00:00+00:00';
        expect(
          await store.commit({
            expectMeta: [{ name: 'x', value: null }],
            expectConfig: [],
            setMeta: [{ name: 'x', value: '1' }],
            setConfig: [{ key: 'k', value: '1', updatedAt: at }],
          }),
        ).toEqual({ ok: true });
        const stale = {
          expectMeta: [{ name: 'x', value: null }],
          setMeta: [{ name: 'y', value: '2' }],
          setConfig: [{ key: 'k2', value: '2', updatedAt: at }],
        };
        expect(await store.commit(stale)).toEqual({ ok: false, reason: 'conflict' });
        expect(
          await store.commit({
            expectConfig: [],
            setConfig: [{ key: 'k2', value: '2', updatedAt: at }],
          }),
        ).toEqual({ ok: false, reason: 'conflict' });
        expect(
          await store.commit({
            expectConfig: [{ key: 'k', value: '2' }],
            setMeta: [{ name: 'y', value: '2' }],
          }),
        ).toEqual({ ok: false, reason: 'conflict' });
        expect(await store.getMeta()).toEqual({ x: '1' });
        expect(await store.listConfig()).toEqual([{ key: 'k', value: '1', updatedAt: at }]);
        expect(
          await store.setConfig({ key: 'k', value: '3', updatedAt: at }, { name: 'x', value: '0' }),
        ).toEqual({ ok: false, reason: 'conflict' });
        expect(await store.getConfigValue('k')).toBe('1');
        expect(
          await store.commit({
            expectMeta: [{ name: 'x', value: '1' }],
            setMeta: [{ name: 'x', value: null }],
          }),
        ).toEqual({ ok: true });
        expect(await store.getMeta()).toEqual({});
        expect(await store.deleteConfig('k')).toEqual({ key: 'k', value: '1', updatedAt: at });
        expect(await store.deleteConfig('k')).toBeUndefined();
      });
    });

    if (options.durable) {
      it('keeps modules, config, secrets and the key across a reopen', async () => {
        await setup();
        const reg = await registry({ key: 'k1' });
        await reg.upsertModule(mirror, 'running');
        await reg.setConfig('api_token', 'tok', { secret: true });
        await reg.setConfig('max_threads', 8);
        await reg.rotateKey('k2');
        for (const r of opened.splice(0)) await r.close();
        await h.reopen!();
        const again = await registry({ key: 'k2' });
        expect(await again.getModule('mirror')).toMatchObject({ state: 'running', kind: 'native' });
        expect(await again.getConfig('api_token')).toBe('tok');
        expect(await again.getConfig('max_threads')).toBe(8);
        expect(again.info()).toEqual({ format: 'kerno', encryption: 'kerno', keyVersion: 2 });
        await expectCode(registry({ key: 'k1' }), 'WRONG_KEY');
      });
    }
  });
}
