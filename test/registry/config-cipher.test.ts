import { createDecipheriv, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isKernelError } from '../../src/index.js';
import {
  ConfigCipher,
  DEFAULT_SCRYPT,
  OxideCipher,
  deriveKey,
  isKernoCiphertext,
  parseCipherMeta,
} from '../../src/registry/config-cipher.js';
import { openRegistry } from '../../src/registry/registry.js';
import { openStorage } from '../../src/storage/open-storage.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return isKernelError(error) ? error.code : `not a KernelError: ${String(error)}`;
  }
  return undefined;
}

async function asyncCodeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
  } catch (error) {
    return isKernelError(error) ? error.code : `not a KernelError: ${String(error)}`;
  }
  return undefined;
}

const cost = 2 ** 10;

describe('kerno config cipher', () => {
  it('derives with scrypt off the event loop (the default cost)', async () => {
    expect(DEFAULT_SCRYPT).toEqual({ name: 'scrypt', N: 2 ** 15, r: 8, p: 1 });
    let turned = false;
    const derived = deriveKey('key', Buffer.alloc(16, 7), DEFAULT_SCRYPT);
    setImmediate(() => (turned = true));
    await derived;
    expect(turned).toBe(true);
  });

  it('writes the documented format: scrypt(key, salt), AES-256-GCM, key name and version as AAD', async () => {
    const cipher = await ConfigCipher.create('correct horse', { cost });
    const stored = cipher.encrypt('api_token', '"tok"');
    expect(stored).toMatch(/^\$kerno1\$1\$[A-Za-z0-9_-]+$/);
    const meta = cipher.meta;
    expect(meta).toMatchObject({
      v: 1,
      kdf: { name: 'scrypt', N: cost, r: 8, p: 1 },
      keyVersion: 1,
    });
    const key = scryptSync('correct horse', Buffer.from(meta.salt, 'base64url'), 32, {
      N: cost,
      r: 8,
      p: 1,
    });
    const blob = Buffer.from(stored.slice('$kerno1$1$'.length), 'base64url');
    const d = createDecipheriv('aes-256-gcm', key, blob.subarray(0, 12));
    d.setAAD(Buffer.from('kerno.registry.value.v1\u00001\u0000api_token'));
    d.setAuthTag(blob.subarray(blob.length - 16));
    const plain = Buffer.concat([d.update(blob.subarray(12, blob.length - 16)), d.final()]);
    expect(plain.toString()).toBe('"tok"');
  });

  it('uses a fresh salt per registry and a fresh nonce per value', async () => {
    const a = await ConfigCipher.create('same key', { cost });
    const b = await ConfigCipher.create('same key', { cost });
    expect(a.meta.salt).not.toBe(b.meta.salt);
    expect(a.encrypt('k', '1')).not.toBe(a.encrypt('k', '1'));
    expect(codeOf(() => b.decrypt('k', a.encrypt('k', '1')))).toBe('DECRYPT_FAILED');
  });

  it('binds the key version: a value relabelled with another version does not decrypt', async () => {
    const v1 = await ConfigCipher.create('key', { cost });
    const stored = v1.encrypt('k', '"x"');
    expect(codeOf(() => v1.decrypt('k', stored.replace('$kerno1$1$', '$kerno1$2$')))).toBe(
      'DECRYPT_FAILED',
    );
    const v2 = await ConfigCipher.open('key', v1.meta);
    expect(v2.decrypt('k', stored)).toBe('"x"');
  });

  it('proves the key at open with the check record', async () => {
    const c = await ConfigCipher.create('right', { cost });
    expect(await asyncCodeOf(ConfigCipher.open('wrong', c.meta))).toBe('WRONG_KEY');
    expect(await asyncCodeOf(ConfigCipher.open('', c.meta))).toBe('KEY_REQUIRED');
    const forged = { ...c.meta, check: c.encrypt('x', '"kerno-registry-key-check"') };
    expect(await asyncCodeOf(ConfigCipher.open('right', forged))).toBe('WRONG_KEY');
  });

  it('refuses damaged or hostile metadata (no 1 GiB scrypt from a tampered file)', async () => {
    const c = await ConfigCipher.create('k', { cost });
    const good = JSON.stringify(c.meta);
    expect(parseCipherMeta(good)).toEqual(c.meta);
    for (const bad of [
      '{',
      'null',
      JSON.stringify({ ...c.meta, v: 2 }),
      JSON.stringify({ ...c.meta, kdf: { ...c.meta.kdf, N: 2 ** 30 } }),
      JSON.stringify({ ...c.meta, kdf: { ...c.meta.kdf, N: 3000 } }),
      JSON.stringify({ ...c.meta, keyVersion: 0 }),
      JSON.stringify({ ...c.meta, salt: 'not base64!' }),
    ])
      expect(codeOf(() => parseCipherMeta(bad))).toBe('CORRUPT_VALUE');

    const storage = await openStorage('memory:');
    await storage.registry.commit({ setMeta: [{ name: 'cipher', value: '{"v":1}' }] });
    expect(await asyncCodeOf(openRegistry({ storage, key: 'k' }))).toBe('CORRUPT_VALUE');
    await storage.close();
  });

  it('tells kerno ciphertext from plain JSON text', () => {
    expect(isKernoCiphertext('$kerno1$1$AAAA')).toBe(true);
    for (const json of ['"$kerno1$1$AAAA"', '1', 'null', '{}'])
      expect(isKernoCiphertext(json)).toBe(false);
  });
});

describe('oxide-k config cipher', () => {
  it('writes padded base64url of nonce ‖ ciphertext ‖ tag and reads it back', () => {
    const oxide = new OxideCipher('s3cr3t-key');
    for (const json of ['1', '"ab"', '{"url":"https://example.com"}']) {
      const stored = oxide.encrypt(json);
      expect(stored.length % 4).toBe(0);
      expect(stored).toMatch(/^[A-Za-z0-9_-]+={0,2}$/);
      expect(Buffer.from(stored, 'base64url').length).toBe(12 + Buffer.byteLength(json) + 16);
      expect(oxide.decrypt('k', stored)).toBe(json);
    }
    expect(new OxideCipher('s3cr3t-key').encrypt('1')).toMatch(/=$/); // 29 bytes → padding
    expect(codeOf(() => new OxideCipher('other').decrypt('k', oxide.encrypt('1')))).toBe(
      'DECRYPT_FAILED',
    );
    expect(codeOf(() => oxide.decrypt('k', oxide.encrypt('1').replace(/=+$/, '')))).toBe(
      'DECRYPT_FAILED',
    );
    expect(codeOf(() => new OxideCipher(''))).toBe('KEY_REQUIRED');
  });
});
