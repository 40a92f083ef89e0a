/**
 * What a user reads when a config value or a registry key is refused: each refusal names the
 * config, says what happened and what to do, word for word — the text is the interface of a
 * failure nobody can debug from a stack trace. Also the edges of the oxide-k reader. Found by
 * mutation testing (docs/testing.md).
 */
import { createCipheriv, createHash, scryptSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isKernelError, type KernelError } from '../../src/index.js';
import {
  ConfigCipher,
  OxideCipher,
  isKernoCiphertext,
  parseCipherMeta,
  type CipherMeta,
} from '../../src/registry/config-cipher.js';

const KEY = 'correct horse battery staple';
/** The pinned metadata of test/registry/cipher-vectors.test.ts (salt 00…0f, cost 2^10). */
const META_V1: CipherMeta = {
  v: 1,
  kdf: { name: 'scrypt', N: 1024, r: 8, p: 1 },
  salt: 'AAECAwQFBgcICQoLDA0ODw',
  keyVersion: 1,
  check: '$kerno1$1$EBESExQVFhcYGRobKjipII4NnUl5butLjLjIUR91z65WTwVZ6FaRVBosNg8vjHTFbvUIRQ',
};
const API_TOKEN_V1 = '$kerno1$1$HB0eHyAhIiMkJSYnMoJW6K10bMiY37r4gfLTl-bNXK770HIG';
const DB_URL_V7 = '$kerno1$7$HB0eHyAhIiMkJSYna9MQ-bNlIshCbS1foT0sdwDgph4hzn3SCM1hrwHaEEnn0yCtNJg';

function failure(fn: () => unknown): KernelError {
  try {
    fn();
  } catch (error) {
    if (isKernelError(error)) return error;
    throw new Error(`expected a KernelError, got ${String(error)}`);
  }
  throw new Error('expected a KernelError, nothing was thrown');
}

function sealed(key: Buffer, plaintext: Buffer, aad?: string): Buffer {
  const nonce = Buffer.alloc(12, 7);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  if (aad !== undefined) c.setAAD(Buffer.from(aad, 'utf8'));
  return Buffer.concat([nonce, c.update(plaintext), c.final(), c.getAuthTag()]);
}

describe('kerno cipher: refusal messages', () => {
  it('a wrong key names the key version and the two places a key comes from', async () => {
    let error: unknown;
    try {
      await ConfigCipher.open('not the key', META_V1);
    } catch (e) {
      error = e;
    }
    expect(isKernelError(error, 'WRONG_KEY')).toBe(true);
    expect((error as KernelError).message).toBe(
      'The registry key does not match this registry (key version 1); pass the key it was created or last rotated with (KERNO_REGISTRY_KEY or the key option)',
    );
  });

  it('a value of another key version says it was restored or copied, and to set it again', async () => {
    const cipher = await ConfigCipher.open(KEY, META_V1);
    const error = failure(() => cipher.decrypt('db.url', DB_URL_V7));
    expect(error.code).toBe('DECRYPT_FAILED');
    expect(error.message).toBe(
      'The stored value of "db.url" was encrypted with key version 7, but this registry’s key is version 1; it was restored or copied from elsewhere: set it again',
    );
    expect(error.details).toEqual({ key: 'db.url' });
  });

  it('a value that does not authenticate says damaged, tampered with or copied, and to set it again', async () => {
    const cipher = await ConfigCipher.open(KEY, META_V1);
    const error = failure(() => cipher.decrypt('other', API_TOKEN_V1));
    expect(error.message).toBe(
      'The stored value of "other" does not authenticate: it was damaged, tampered with, or copied from another key; set it again',
    );
    expect(error.details).toEqual({ key: 'other' });
    // Authentic bytes that are not UTF-8 text get the same message (not "damaged").
    const key = scryptSync(KEY, Buffer.from(META_V1.salt, 'base64url'), 32, {
      N: 1024,
      r: 8,
      p: 1,
    });
    const bytes = sealed(key, Buffer.from([0xff]), 'kerno.registry.value.v1\u00001\u0000k');
    expect(
      failure(() => cipher.decrypt('k', `$kerno1$1$${bytes.toString('base64url')}`)).message,
    ).toBe(
      'The stored value of "k" does not authenticate: it was damaged, tampered with, or copied from another key; set it again',
    );
  });

  it('a right prefix with a body too short or not canonical is "damaged", not "does not authenticate"', async () => {
    const cipher = await ConfigCipher.open(KEY, META_V1);
    for (const stored of ['$kerno1$1$', '$kerno1$1$AAAA', `${API_TOKEN_V1}=`]) {
      const error = failure(() => cipher.decrypt('api_token', stored));
      expect(error.code).toBe('DECRYPT_FAILED');
      expect(error.message).toBe(
        'The stored value of "api_token" is not a valid kerno ciphertext (damaged); set it again',
      );
    }
  });

  it('tells kerno ciphertext only by its exact prefix', () => {
    expect(isKernoCiphertext(API_TOKEN_V1)).toBe(true);
    expect(isKernoCiphertext('$kerno1')).toBe(false);
    expect(isKernoCiphertext(' $kerno1$1$AAAA')).toBe(false);
    expect(isKernoCiphertext('"$kerno1$1$"')).toBe(false);
  });
});

describe('oxide-k cipher: refusal messages and edges', () => {
  const oxide = new OxideCipher('s3cr3t-key');

  it('reads a value of exactly nonce and tag (an empty plaintext)', () => {
    const stored = oxide.encrypt('');
    expect(Buffer.from(stored, 'base64url').length).toBe(28);
    expect(oxide.decrypt('k', stored)).toBe('');
  });

  it('says which config, and what is wrong, for each refusal', () => {
    const unpadded = failure(() => oxide.decrypt('token', 'AAA'));
    expect(unpadded.message).toBe(
      'The stored value of "token" is not padded base64url (truncated or damaged)',
    );
    expect(unpadded.details).toEqual({ key: 'token' });
    const short = failure(() => oxide.decrypt('token', Buffer.alloc(27).toString('base64url')));
    expect(short.code).toBe('DECRYPT_FAILED');
    expect(short.message).toBe(
      'The stored value of "token" is too short to be an oxide-k ciphertext',
    );
    expect(short.details).toEqual({ key: 'token' });
    const wrong = failure(() => new OxideCipher('other').decrypt('token', oxide.encrypt('1')));
    expect(wrong.code).toBe('DECRYPT_FAILED');
    expect(wrong.message).toBe(
      'The stored value of "token" does not decrypt with the oxide-k key: wrong OXIDE_REGISTRY_KEY, or the value was damaged',
    );
    expect(wrong.details).toEqual({ key: 'token' });
  });

  it('refuses authentic bytes that are not UTF-8 like a wrong key', () => {
    const bytes = sealed(createHash('sha256').update('s3cr3t-key').digest(), Buffer.from([0xc3]));
    const body = bytes.toString('base64url');
    const stored = body + '='.repeat((4 - (body.length % 4)) % 4);
    expect(failure(() => oxide.decrypt('token', stored)).message).toBe(
      'The stored value of "token" does not decrypt with the oxide-k key: wrong OXIDE_REGISTRY_KEY, or the value was damaged',
    );
  });
});

describe('cipher metadata: salt', () => {
  it('refuses a salt that is not wholly base64url as damaged metadata', () => {
    for (const salt of ['!AECAwQFBgcICQoLDA0ODw', 'AAECAwQFBgcICQoLDA0OD!', ''])
      expect(failure(() => parseCipherMeta(JSON.stringify({ ...META_V1, salt }))).code).toBe(
        'CORRUPT_VALUE',
      );
    expect(parseCipherMeta(JSON.stringify(META_V1))).toEqual(META_V1);
  });
});
