/**
 * Known-answer vectors for the two config cipher formats, and the bounds of everything the
 * cipher parses. A registry written today must open with the same key forever: a change to the
 * key-check plaintext, an associated-data string, the prefix or the layout fails here, not in a
 * user's production database. The vectors were produced once with fixed salt and nonce bytes and
 * are re-derived below from the documented format with `node:crypto` alone.
 */
import { createCipheriv, createHash, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isKernelError, type KernelError } from '../../src/index.js';
import {
  ConfigCipher,
  OxideCipher,
  kernoKeyVersion,
  looksLikeOxideCiphertext,
  parseCipherMeta,
  type CipherMeta,
} from '../../src/registry/config-cipher.js';
import type { Random } from '../../src/util/random.js';

const KEY = 'correct horse battery staple';

/** Random bytes `start, start+1, …`: salt 00…0f, then the check's nonce 10…1b, then 1c…27. */
function counting(start: number): Random {
  let next = start;
  return {
    fill: (target) => {
      for (let i = 0; i < target.length; i++) target[i] = next++ & 0xff;
      return target;
    },
    float: () => 0,
  };
}

/** The registry metadata `ConfigCipher.create(KEY, { cost: 2 ** 10 })` writes with {@link counting}. */
const META_V1: CipherMeta = {
  v: 1,
  kdf: { name: 'scrypt', N: 1024, r: 8, p: 1 },
  salt: 'AAECAwQFBgcICQoLDA0ODw',
  keyVersion: 1,
  check: '$kerno1$1$EBESExQVFhcYGRobKjipII4NnUl5butLjLjIUR91z65WTwVZ6FaRVBosNg8vjHTFbvUIRQ',
};
/** `encrypt('api_token', '"s3cr3t"')` right after creating {@link META_V1}. */
const API_TOKEN_V1 = '$kerno1$1$HB0eHyAhIiMkJSYnMoJW6K10bMiY37r4gfLTl-bNXK770HIG';
/** The same key made as key version 7, and `encrypt('db.url', …)` with it. */
const META_V7: CipherMeta = {
  ...META_V1,
  keyVersion: 7,
  check: '$kerno1$7$EBESExQVFhcYGRobKjipII4NnUl5butLjLjIUR91z65WTwVZ7zjslEqnqC5E1_H9Mjgyng',
};
const DB_URL_V7 = '$kerno1$7$HB0eHyAhIiMkJSYna9MQ-bNlIshCbS1foT0sdwDgph4hzn3SCM1hrwHaEEnn0yCtNJg';
/** oxide-k: `new OxideCipher('s3cr3t-key', counting(0x40)).encrypt('{"a":1}')`. */
const OXIDE_VECTOR = 'QEFCQ0RFRkdISUpLmhieKLAoSxjRf8lqcJeOzlf0Q-wFclg=';

/** AES-256-GCM of `plaintext`, laid out as kerno and oxide-k store it: nonce ‖ ciphertext ‖ tag. */
function seal(key: Buffer, nonce: Buffer, plaintext: Buffer, aad?: string): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  if (aad !== undefined) c.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
}

const range = (from: number, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, (_, i) => from + i));

const registryKey = (): Buffer => scryptSync(KEY, range(0, 16), 32, { N: 1024, r: 8, p: 1 });

function failure(fn: () => unknown): KernelError {
  try {
    fn();
  } catch (error) {
    if (isKernelError(error)) return error;
    throw new Error(`expected a KernelError, got ${String(error)}`);
  }
  throw new Error('expected a KernelError, nothing was thrown');
}

async function asyncFailure(p: Promise<unknown>): Promise<KernelError> {
  try {
    await p;
  } catch (error) {
    if (isKernelError(error)) return error;
    throw new Error(`expected a KernelError, got ${String(error)}`);
  }
  throw new Error('expected a KernelError, nothing was thrown');
}

describe('kerno cipher format: known answers', () => {
  it('creates exactly the pinned metadata and ciphertext from fixed salt and nonce bytes', async () => {
    const v1 = await ConfigCipher.create(KEY, { cost: 2 ** 10, random: counting(0) });
    expect(v1.meta).toEqual(META_V1);
    expect(v1.keyVersion).toBe(1);
    expect(v1.encrypt('api_token', '"s3cr3t"')).toBe(API_TOKEN_V1);
    const v7 = await ConfigCipher.create(KEY, {
      cost: 2 ** 10,
      random: counting(0),
      keyVersion: 7,
    });
    expect(v7.meta).toEqual(META_V7);
    expect(v7.encrypt('db.url', '{"url":"postgres://x"}')).toBe(DB_URL_V7);
  });

  it('the vectors are the documented format: scrypt key, GCM, check and value AAD', () => {
    const key = registryKey();
    const check = seal(
      key,
      range(0x10, 12),
      Buffer.from('kerno-registry-key-check'),
      `kerno.registry.check.v1\u00001\u0000${META_V1.salt}`,
    );
    expect(`$kerno1$1$${check.toString('base64url')}`).toBe(META_V1.check);
    const value = seal(
      key,
      range(0x1c, 12),
      Buffer.from('"s3cr3t"'),
      'kerno.registry.value.v1\u00001\u0000api_token',
    );
    expect(`$kerno1$1$${value.toString('base64url')}`).toBe(API_TOKEN_V1);
    const v7 = seal(
      key,
      range(0x1c, 12),
      Buffer.from('{"url":"postgres://x"}'),
      'kerno.registry.value.v1\u00007\u0000db.url',
    );
    expect(`$kerno1$7$${v7.toString('base64url')}`).toBe(DB_URL_V7);
  });

  it('opens a registry written with the pinned format and reads its values', async () => {
    const v1 = await ConfigCipher.open(KEY, META_V1);
    expect(v1.decrypt('api_token', API_TOKEN_V1)).toBe('"s3cr3t"');
    const v7 = await ConfigCipher.open(KEY, META_V7);
    expect(v7.keyVersion).toBe(7);
    expect(v7.decrypt('db.url', DB_URL_V7)).toBe('{"url":"postgres://x"}');
    const wrong = await asyncFailure(ConfigCipher.open('correct horse battery stapler', META_V1));
    expect(wrong.code).toBe('WRONG_KEY');
    expect(wrong.message).toContain('key version 1');
    expect(wrong.details).toEqual({ keyVersion: 1 });
  });

  it('refuses a check record bound to another salt or key version', async () => {
    // The check's AAD names the salt and key version: moving it onto other metadata fails.
    expect(
      (await asyncFailure(ConfigCipher.open(KEY, { ...META_V1, check: META_V7.check }))).code,
    ).toBe('WRONG_KEY');
    const otherSalt = { ...META_V1, salt: 'AAECAwQFBgcICQoLDA0OEA' };
    expect((await asyncFailure(ConfigCipher.open(KEY, otherSalt))).code).toBe('WRONG_KEY');
    // A check that decrypts, but to other text, is refused too.
    const key = registryKey();
    const aad = `kerno.registry.check.v1\u00001\u0000${META_V1.salt}`;
    for (const plaintext of ['', 'kerno-registry-key-chec', 'kerno-registry-key-check '])
      expect(
        (
          await asyncFailure(
            ConfigCipher.open(KEY, {
              ...META_V1,
              check: `$kerno1$1$${seal(key, range(0, 12), Buffer.from(plaintext), aad).toString('base64url')}`,
            }),
          )
        ).code,
      ).toBe('WRONG_KEY');
  });
});

describe('kerno ciphertext parsing', () => {
  it('reads the key version only from a well-formed prefix', () => {
    expect(kernoKeyVersion(API_TOKEN_V1)).toBe(1);
    expect(kernoKeyVersion(DB_URL_V7)).toBe(7);
    expect(kernoKeyVersion('$kerno1$4294967295$AAAA')).toBe(4_294_967_295);
    for (const stored of [
      '$kerno1$',
      '$kerno1$1',
      '$kerno1$$AAAA',
      '$kerno1$0$AAAA',
      '$kerno1$01$AAAA',
      '$kerno1$x1$AAAA',
      '$kerno1$1x$AAAA',
      '$kerno1$12345678901$AAAA',
      '$kerno2$1$AAAA',
      '"$kerno1$1$AAAA"',
    ])
      expect(kernoKeyVersion(stored)).toBeUndefined();
  });

  it('says what is wrong with a value that cannot be decrypted, and which config it is', async () => {
    const cipher = await ConfigCipher.open(KEY, META_V1);
    const damaged = failure(() => cipher.decrypt('api_token', '$kerno1$x$AAAA'));
    expect(damaged.code).toBe('DECRYPT_FAILED');
    expect(damaged.message).toBe(
      'The stored value of "api_token" is not a valid kerno ciphertext (damaged); set it again',
    );
    expect(damaged.details).toEqual({ key: 'api_token' });
    const otherVersion = failure(() => cipher.decrypt('db.url', DB_URL_V7));
    expect(otherVersion.code).toBe('DECRYPT_FAILED');
    expect(otherVersion.message).toContain('encrypted with key version 7');
    expect(otherVersion.message).toContain('key is version 1');
    const moved = failure(() => cipher.decrypt('other_name', API_TOKEN_V1));
    expect(moved.code).toBe('DECRYPT_FAILED');
    expect(moved.message).toContain('does not authenticate');
    expect(moved.details).toEqual({ key: 'other_name' });
  });

  it('refuses a body shorter than nonce and tag with DECRYPT_FAILED, and accepts exactly that', async () => {
    const cipher = await ConfigCipher.open(KEY, META_V1);
    const key = registryKey();
    const aad = 'kerno.registry.value.v1\u00001\u0000k';
    const empty = seal(key, range(0x80, 12), Buffer.alloc(0), aad); // 28 bytes
    expect(empty.length).toBe(28);
    expect(cipher.decrypt('k', `$kerno1$1$${empty.toString('base64url')}`)).toBe('');
    const short = `$kerno1$1$${empty.subarray(0, 27).toString('base64url')}`;
    expect(failure(() => cipher.decrypt('k', short)).code).toBe('DECRYPT_FAILED');
    expect(failure(() => cipher.decrypt('k', '$kerno1$1$')).code).toBe('DECRYPT_FAILED');
  });

  it('refuses authentic bytes that are not UTF-8 text', async () => {
    const cipher = await ConfigCipher.open(KEY, META_V1);
    const bytes = seal(
      registryKey(),
      range(0x90, 12),
      Buffer.from([0x22, 0xc3, 0x22]),
      'kerno.registry.value.v1\u00001\u0000k',
    );
    expect(
      failure(() => cipher.decrypt('k', `$kerno1$1$${bytes.toString('base64url')}`)).code,
    ).toBe('DECRYPT_FAILED');
  });

  it('round-trips multi-byte text and an empty value', async () => {
    const cipher = await ConfigCipher.create(KEY, { cost: 2 ** 10 });
    for (const json of ['""', '"grüße, 世界 🎉"', ''])
      expect(cipher.decrypt('k', cipher.encrypt('k', json))).toBe(json);
  });
});

describe('cipher metadata and options bounds', () => {
  const meta = (patch: Record<string, unknown>): string => JSON.stringify({ ...META_V1, ...patch });
  const kdf = (patch: Record<string, unknown>): string =>
    meta({ kdf: { ...META_V1.kdf, ...patch } });

  it('accepts the scrypt bounds: N 2^10…2^20, r 1…32, p 1…16, at most 1 GiB of memory', () => {
    for (const text of [
      kdf({ N: 2 ** 10 }),
      kdf({ N: 2 ** 20 }),
      kdf({ N: 2 ** 18, r: 32 }),
      kdf({ r: 1 }),
      kdf({ r: 32 }),
      kdf({ p: 1 }),
      kdf({ p: 16 }),
      meta({ keyVersion: 1 }),
      meta({ keyVersion: 2 ** 31 }),
    ])
      expect(parseCipherMeta(text)).toEqual(JSON.parse(text));
  });

  it('refuses metadata outside those bounds or of the wrong shape as CORRUPT_VALUE', () => {
    for (const text of [
      kdf({ N: 2 ** 9 }),
      kdf({ N: 2 ** 21 }),
      kdf({ N: 2 ** 20, r: 16 }),
      kdf({ N: 2 ** 19, r: 32 }),
      kdf({ N: 2 ** 10 + 2 }),
      kdf({ N: 1536 }),
      kdf({ N: 1024.5 }),
      kdf({ N: '1024' }),
      kdf({ r: 0 }),
      kdf({ r: 33 }),
      kdf({ r: 1.5 }),
      kdf({ p: 0 }),
      kdf({ p: 17 }),
      kdf({ p: 1.5 }),
      kdf({ name: 'argon2' }),
      meta({ kdf: null }),
      meta({ kdf: 'scrypt' }),
      meta({ v: undefined }),
      meta({ salt: 1 }),
      meta({ salt: '' }),
      meta({ keyVersion: 1.5 }),
      meta({ keyVersion: '1' }),
      meta({ keyVersion: -1 }),
      meta({ check: 7 }),
      '"cipher"',
    ]) {
      const error = failure(() => parseCipherMeta(text));
      expect(error.code, text).toBe('CORRUPT_VALUE');
      expect(error.message).toContain('restore the database from a backup');
    }
  });

  it('rejects a scrypt cost outside 2^10…2^20 or not a power of two when creating a key', async () => {
    for (const cost of [2 ** 9, 2 ** 21, 3_000, 0]) {
      const error = await asyncFailure(ConfigCipher.create(KEY, { cost }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe('scrypt cost must be a power of two from 2^10 to 2^20');
    }
  });

  it('requires a non-empty key string', async () => {
    for (const key of ['', undefined, 42]) {
      const error = await asyncFailure(ConfigCipher.create(key as unknown as string));
      expect(error.code).toBe('KEY_REQUIRED');
      expect(error.message).toBe('The registry key must be a non-empty string');
      expect((await asyncFailure(ConfigCipher.open(key as unknown as string, META_V1))).code).toBe(
        'KEY_REQUIRED',
      );
    }
    expect(failure(() => new OxideCipher(undefined as unknown as string)).message).toBe(
      'The oxide-k registry key must be a non-empty string',
    );
  });
});

describe('oxide-k cipher format: known answers', () => {
  it('encrypts exactly as oxide-k: SHA-256 key, no AAD, padded base64url', () => {
    expect(new OxideCipher('s3cr3t-key', counting(0x40)).encrypt('{"a":1}')).toBe(OXIDE_VECTOR);
    const key = createHash('sha256').update('s3cr3t-key').digest();
    const blob = seal(key, range(0x40, 12), Buffer.from('{"a":1}'));
    expect(blob.toString('base64').replaceAll('+', '-').replaceAll('/', '_')).toBe(OXIDE_VECTOR);
    expect(new OxideCipher('s3cr3t-key').decrypt('k', OXIDE_VECTOR)).toBe('{"a":1}');
  });

  it('pads to a multiple of four for every plaintext length', () => {
    const oxide = new OxideCipher('k', counting(0));
    for (const json of ['1', '12', '123', '1234']) {
      const stored = oxide.encrypt(json);
      const padding = stored.length - stored.replace(/=+$/, '').length;
      expect(stored.length % 4).toBe(0);
      expect(padding).toBe((3 - ((28 + json.length) % 3)) % 3);
      expect(oxide.decrypt('k', stored)).toBe(json);
    }
  });

  it('says why a value is refused: not padded, too short, or not decrypting', () => {
    const oxide = new OxideCipher('s3cr3t-key');
    const unpadded = failure(() => oxide.decrypt('token', OXIDE_VECTOR.slice(0, -1)));
    expect(unpadded.code).toBe('DECRYPT_FAILED');
    expect(unpadded.message).toContain('is not padded base64url');
    expect(unpadded.details).toEqual({ key: 'token' });
    expect(failure(() => oxide.decrypt('token', 'AAAA!AAA')).message).toContain(
      'is not padded base64url',
    );
    const short = failure(() => oxide.decrypt('token', Buffer.alloc(27).toString('base64url')));
    expect(short.message).toContain('too short to be an oxide-k ciphertext');
    const wrong = failure(() => new OxideCipher('other').decrypt('token', OXIDE_VECTOR));
    expect(wrong.message).toContain('wrong OXIDE_REGISTRY_KEY');
  });

  it('tells an oxide-k ciphertext by its shape: padded base64url of at least 28 bytes', () => {
    const smallest = Buffer.alloc(28).toString('base64url'); // 38 chars, padded to 40
    const padded = smallest + '='.repeat((4 - (smallest.length % 4)) % 4);
    expect(padded.length).toBe(40);
    expect(looksLikeOxideCiphertext(padded)).toBe(true);
    expect(looksLikeOxideCiphertext(OXIDE_VECTOR)).toBe(true);
    expect(looksLikeOxideCiphertext('A'.repeat(36))).toBe(false);
    expect(looksLikeOxideCiphertext('A'.repeat(41))).toBe(false);
    expect(looksLikeOxideCiphertext(`${'A'.repeat(38)}!=`)).toBe(false);
    expect(looksLikeOxideCiphertext('{"url":"https://example.com/a/b"}1234567')).toBe(false);
  });
});

describe('tightened parsing (mutation testing)', () => {
  it('refuses a stored value with a stray character the base64url decoder would skip', async () => {
    const cipher = await ConfigCipher.open(KEY, META_V1);
    expect(cipher.decrypt('api_token', API_TOKEN_V1)).toBe('"s3cr3t"');
    for (const stored of [
      `${API_TOKEN_V1}!`,
      `${API_TOKEN_V1} `,
      API_TOKEN_V1.replace('$1$', '$1$ '),
    ]) {
      const error = failure(() => cipher.decrypt('api_token', stored));
      expect(error.code).toBe('DECRYPT_FAILED');
      expect(error.message).toContain('is not a valid kerno ciphertext (damaged)');
    }
  });

  it('refuses a key version above 2^32 − 1 or not a positive integer', async () => {
    expect(kernoKeyVersion('$kerno1$4294967296$AAAA')).toBeUndefined();
    expect(
      failure(() => parseCipherMeta(JSON.stringify({ ...META_V1, keyVersion: 2 ** 32 }))).code,
    ).toBe('CORRUPT_VALUE');
    for (const keyVersion of [0, -1, 1.5, 2 ** 32]) {
      const error = await asyncFailure(ConfigCipher.create(KEY, { cost: 2 ** 10, keyVersion }));
      expect(error.code).toBe('INVALID_ARGUMENT');
      expect(error.message).toBe(
        `keyVersion must be an integer from 1 to 4294967295, got ${keyVersion}`,
      );
    }
  });
});
