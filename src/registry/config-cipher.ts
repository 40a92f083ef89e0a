/**
 * Encryption of config values at rest.
 *
 * - {@link ConfigCipher}: kerno's own. A 256-bit key derived with scrypt from the key string
 *   and a random per-registry salt; AES-256-GCM with the value's key name and the key version as
 *   associated data (a ciphertext copied onto another key does not decrypt); a check record so a
 *   wrong key fails when the registry opens. Stored as `$kerno1$<keyVersion>$<base64url>`.
 * - {@link OxideCipher}: oxide-k's format, for databases oxide-k shares: key = SHA-256 of the key
 *   string, AES-256-GCM without associated data, base64url with padding of nonce ‖ ciphertext ‖ tag.
 *
 * Keys live in memory as `KeyObject`s and are never logged or serialised.
 *
 * @example
 * const { cipher, meta } = await ConfigCipher.create('correct horse battery staple');
 * const stored = cipher.encrypt('api_token', '"s3cr3t"');
 * cipher.decrypt('api_token', stored); // '"s3cr3t"'
 *
 * @module
 */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  scrypt,
  type KeyObject,
} from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import { KernelError } from '../errors.js';
import { systemRandom, type Random } from '../util/random.js';

const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const KERNO_PREFIX = '$kerno1$';
const CHECK_PLAINTEXT = 'kerno-registry-key-check';
/**
 * The highest key version: a `$kerno1$<version>$` prefix holds at most ten digits, and a
 * registry rotated past this could not read back what it wrote.
 */
export const MAX_KEY_VERSION = 2 ** 32 - 1;
const B64URL = /^[A-Za-z0-9_-]+$/;
const B64URL_PADDED = /^[A-Za-z0-9_-]*={0,2}$/;

/** scrypt parameters, stored with the registry so they can be raised for new keys later. */
export interface ScryptParams {
  readonly name: 'scrypt';
  /** CPU/memory cost, a power of two. */
  readonly N: number;
  readonly r: number;
  readonly p: number;
}

/** The default: N = 2^15, r = 8, p = 1 (32 MiB, tens of milliseconds, off the event loop). */
export const DEFAULT_SCRYPT: ScryptParams = Object.freeze({
  name: 'scrypt',
  N: 2 ** 15,
  r: 8,
  p: 1,
});

/** What a registry stores about its key (never the key): the `cipher` metadata row. */
export interface CipherMeta {
  readonly v: 1;
  readonly kdf: ScryptParams;
  /** base64url of the 16-byte salt. */
  readonly salt: string;
  /** Increases by one with every rotation; each value carries the version it was written with. */
  readonly keyVersion: number;
  /** {@link CHECK_PLAINTEXT} encrypted with the key: proves a key right or wrong at open. */
  readonly check: string;
}

/** Options for {@link ConfigCipher.create}. */
export interface CreateCipherOptions {
  readonly random?: Random;
  /** scrypt cost N for the new key (default 2^15; lower it only in tests). */
  readonly cost?: number;
  /** Key version of the new key, an integer from 1 to {@link MAX_KEY_VERSION} (default 1). */
  readonly keyVersion?: number;
}

function decryptFailed(message: string, key?: string): KernelError {
  return new KernelError('DECRYPT_FAILED', message, key === undefined ? {} : { details: { key } });
}

function checkKeyString(keyString: string, what: string): void {
  if (typeof keyString !== 'string' || keyString.length === 0)
    throw new KernelError('KEY_REQUIRED', `${what} must be a non-empty string`);
}

function validKeyVersion(version: unknown): version is number {
  return (
    Number.isInteger(version) && (version as number) >= 1 && (version as number) <= MAX_KEY_VERSION
  );
}

function validScrypt(kdf: unknown): kdf is ScryptParams {
  if (typeof kdf !== 'object' || kdf === null) return false;
  const { name, N, r, p } = kdf as Record<string, unknown>;
  return (
    name === 'scrypt' &&
    Number.isInteger(N) &&
    (N as number) >= 2 ** 10 &&
    (N as number) <= 2 ** 20 &&
    ((N as number) & ((N as number) - 1)) === 0 &&
    Number.isInteger(r) &&
    (r as number) >= 1 &&
    (r as number) <= 32 &&
    Number.isInteger(p) &&
    (p as number) >= 1 &&
    (p as number) <= 16 &&
    // scrypt takes 128·N·r bytes: a tampered row must not make opening allocate more than 1 GiB.
    128 * (N as number) * (r as number) <= 2 ** 30
  );
}

/** Parses the `cipher` metadata row; `CORRUPT_VALUE` when it is not one kerno wrote. */
export function parseCipherMeta(text: string): CipherMeta {
  let meta: unknown;
  try {
    meta = JSON.parse(text);
  } catch {
    meta = undefined;
  }
  const m = meta as Partial<CipherMeta> | undefined;
  if (
    m === undefined ||
    m === null ||
    m.v !== 1 ||
    !validScrypt(m.kdf) ||
    typeof m.salt !== 'string' ||
    !B64URL.test(m.salt) ||
    !validKeyVersion(m.keyVersion) ||
    typeof m.check !== 'string'
  ) {
    throw new KernelError(
      'CORRUPT_VALUE',
      'The registry’s encryption metadata (kerno_registry_meta, row "cipher") is damaged; restore the database from a backup',
    );
  }
  return m as CipherMeta;
}

/** Derives a 256-bit key with scrypt, in libuv's thread pool (the event loop keeps running). */
export function deriveKey(
  keyString: string,
  salt: Uint8Array,
  kdf: ScryptParams,
): Promise<KeyObject> {
  return new Promise((resolve, reject) => {
    scrypt(
      keyString,
      salt,
      32,
      { N: kdf.N, r: kdf.r, p: kdf.p, maxmem: 256 * kdf.N * kdf.r + 1024 * 1024 },
      (error, derived) => {
        if (error !== null) {
          reject(new KernelError('INTERNAL', `scrypt failed: ${error.message}`, { cause: error }));
          return;
        }
        const key = createSecretKey(derived);
        derived.fill(0);
        resolve(key);
      },
    );
  });
}

/** Whether a stored config value is kerno ciphertext. */
export function isKernoCiphertext(stored: string): boolean {
  return stored.startsWith(KERNO_PREFIX);
}

/** The key version a kerno ciphertext names, or undefined when `stored` is not one. */
export function kernoKeyVersion(stored: string): number | undefined {
  if (!stored.startsWith(KERNO_PREFIX)) return undefined;
  const end = stored.indexOf('$', KERNO_PREFIX.length);
  if (end === -1) return undefined;
  const text = stored.slice(KERNO_PREFIX.length, end);
  if (!/^[1-9][0-9]{0,9}$/.test(text)) return undefined;
  const version = Number(text);
  return version <= MAX_KEY_VERSION ? version : undefined;
}

/**
 * The bytes of a kerno ciphertext of key `version` (nonce ‖ ciphertext ‖ tag), or undefined when
 * `stored` is not one: another prefix, not canonical base64url (a stray character would
 * otherwise be skipped by the decoder and the value still accepted), or shorter than nonce and
 * tag.
 */
function kernoBody(stored: string, version: number): Buffer | undefined {
  const prefix = `${KERNO_PREFIX}${version}$`;
  if (!stored.startsWith(prefix)) return undefined;
  const body = stored.slice(prefix.length);
  const blob = Buffer.from(body, 'base64url');
  if (blob.toString('base64url') !== body || blob.length < NONCE_BYTES + TAG_BYTES)
    return undefined;
  return blob;
}

function gcmEncrypt(key: KeyObject, nonce: Uint8Array, plaintext: string, aad?: Buffer): Buffer {
  const c = createCipheriv('aes-256-gcm', key, nonce);
  if (aad !== undefined) c.setAAD(aad);
  const body = c.update(plaintext, 'utf8');
  const last = c.final();
  return Buffer.concat([nonce, body, last, c.getAuthTag()]);
}

/** Decrypts nonce ‖ ciphertext ‖ tag; undefined when it does not authenticate. */
function gcmDecrypt(key: KeyObject, blob: Buffer, aad?: Buffer): Buffer | undefined {
  const nonce = blob.subarray(0, NONCE_BYTES);
  const tag = blob.subarray(blob.length - TAG_BYTES);
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  if (aad !== undefined) d.setAAD(aad);
  d.setAuthTag(tag);
  const body = d.update(blob.subarray(NONCE_BYTES, blob.length - TAG_BYTES));
  try {
    const last = d.final(); // empty for GCM: the tag check is all it does
    return last.length === 0 ? body : Buffer.concat([body, last]);
  } catch {
    body.fill(0);
    return undefined;
  }
}

/** The UTF-8 text of decrypted bytes, or undefined when they are not UTF-8. Wipes the bytes. */
function text(bytes: Buffer): string | undefined {
  const result = isUtf8(bytes) ? bytes.toString('utf8') : undefined;
  bytes.fill(0);
  return result;
}

/** kerno's config cipher (see the module comment). */
export class ConfigCipher {
  readonly #key: KeyObject;
  readonly #random: Random;
  readonly #version: string;
  /** The `cipher` metadata this key belongs to. */
  readonly meta: CipherMeta;

  private constructor(key: KeyObject, meta: CipherMeta, random: Random) {
    this.#key = key;
    this.meta = meta;
    this.#random = random;
    this.#version = String(meta.keyVersion);
  }

  /** The key version new values are written with. */
  get keyVersion(): number {
    return this.meta.keyVersion;
  }

  /** Makes a new key from `keyString` with a fresh random salt, and its metadata. */
  static async create(keyString: string, options: CreateCipherOptions = {}): Promise<ConfigCipher> {
    checkKeyString(keyString, 'The registry key');
    const random = options.random ?? systemRandom;
    const kdf: ScryptParams = { ...DEFAULT_SCRYPT, N: options.cost ?? DEFAULT_SCRYPT.N };
    if (!validScrypt(kdf))
      throw new KernelError(
        'INVALID_ARGUMENT',
        'scrypt cost must be a power of two from 2^10 to 2^20',
      );
    const keyVersion = options.keyVersion ?? 1;
    if (!validKeyVersion(keyVersion))
      throw new KernelError(
        'INVALID_ARGUMENT',
        `keyVersion must be an integer from 1 to ${MAX_KEY_VERSION}, got ${String(keyVersion)}`,
      );
    const salt = Buffer.from(random.fill(new Uint8Array(16)));
    const key = await deriveKey(keyString, salt, kdf);
    const draft = { v: 1 as const, kdf, salt: salt.toString('base64url'), keyVersion, check: '' };
    const check = kernoSeal(key, random, keyVersion, checkAad(draft), CHECK_PLAINTEXT);
    return new ConfigCipher(key, { ...draft, check }, random);
  }

  /** Derives the key for stored metadata; `WRONG_KEY` when `keyString` is not the one it was made with. */
  static async open(
    keyString: string,
    meta: CipherMeta,
    random: Random = systemRandom,
  ): Promise<ConfigCipher> {
    checkKeyString(keyString, 'The registry key');
    const key = await deriveKey(keyString, Buffer.from(meta.salt, 'base64url'), meta.kdf);
    const check = kernoOpen(key, meta.keyVersion, checkAad(meta), meta.check);
    if (!check.ok || check.text !== CHECK_PLAINTEXT) {
      throw new KernelError(
        'WRONG_KEY',
        `The registry key does not match this registry (key version ${meta.keyVersion}); ` +
          'pass the key it was created or last rotated with (KERNO_REGISTRY_KEY or the key option)',
        { details: { keyVersion: meta.keyVersion } },
      );
    }
    return new ConfigCipher(key, meta, random);
  }

  /** Encrypts the JSON text of the value of config `name`. */
  encrypt(name: string, json: string): string {
    return kernoSeal(
      this.#key,
      this.#random,
      this.meta.keyVersion,
      valueAad(this.#version, name),
      json,
    );
  }

  /** Decrypts a stored value of config `name`; `DECRYPT_FAILED` when it does not authenticate. */
  decrypt(name: string, stored: string): string {
    const version = kernoKeyVersion(stored);
    if (version === undefined)
      throw decryptFailed(
        `The stored value of "${name}" is not a valid kerno ciphertext (damaged); set it again`,
        name,
      );
    if (version !== this.meta.keyVersion) {
      throw decryptFailed(
        `The stored value of "${name}" was encrypted with key version ${version}, but this registry’s key is version ${this.meta.keyVersion}; ` +
          'it was restored or copied from elsewhere: set it again',
        name,
      );
    }
    const opened = kernoOpen(this.#key, version, valueAad(this.#version, name), stored);
    if (!opened.ok) {
      throw decryptFailed(
        opened.reason === 'malformed'
          ? `The stored value of "${name}" is not a valid kerno ciphertext (damaged); set it again`
          : `The stored value of "${name}" does not authenticate: it was damaged, tampered with, or copied from another key; set it again`,
        name,
      );
    }
    return opened.text;
  }
}

function valueAad(version: string, name: string): Buffer {
  return Buffer.from(`kerno.registry.value.v1\u0000${version}\u0000${name}`, 'utf8');
}

function checkAad(meta: Pick<CipherMeta, 'salt' | 'keyVersion'>): Buffer {
  return Buffer.from(`kerno.registry.check.v1\u0000${meta.keyVersion}\u0000${meta.salt}`, 'utf8');
}

function kernoSeal(
  key: KeyObject,
  random: Random,
  version: number,
  aad: Buffer,
  plaintext: string,
): string {
  const nonce = random.fill(new Uint8Array(NONCE_BYTES));
  return `${KERNO_PREFIX}${version}$${gcmEncrypt(key, nonce, plaintext, aad).toString('base64url')}`;
}

/** What {@link kernoOpen} found: the text, or why there is none. */
type Opened =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: 'malformed' | 'unauthentic' };

/** Opens a kerno ciphertext of key `version`: `malformed` when it is not one, `unauthentic` when it does not decrypt to UTF-8 text. */
function kernoOpen(key: KeyObject, version: number, aad: Buffer, stored: string): Opened {
  const blob = kernoBody(stored, version);
  if (blob === undefined) return { ok: false, reason: 'malformed' };
  const bytes = gcmDecrypt(key, blob, aad);
  const plaintext = bytes === undefined ? undefined : text(bytes);
  return plaintext === undefined
    ? { ok: false, reason: 'unauthentic' }
    : { ok: true, text: plaintext };
}

/** Whether `stored` has the shape of an oxide-k ciphertext (padded base64url, long enough). */
export function looksLikeOxideCiphertext(stored: string): boolean {
  return (
    stored.length % 4 === 0 &&
    stored.length >= Math.ceil((NONCE_BYTES + TAG_BYTES) / 3) * 4 &&
    B64URL_PADDED.test(stored)
  );
}

/** oxide-k's config cipher (see the module comment): every value of an encrypted oxide-k registry. */
export class OxideCipher {
  readonly #key: KeyObject;
  readonly #random: Random;

  constructor(keyString: string, random: Random = systemRandom) {
    checkKeyString(keyString, 'The oxide-k registry key');
    const digest = createHash('sha256').update(keyString, 'utf8').digest();
    this.#key = createSecretKey(digest);
    digest.fill(0);
    this.#random = random;
  }

  /** Encrypts JSON text the way oxide-k does. */
  encrypt(json: string): string {
    const nonce = this.#random.fill(new Uint8Array(NONCE_BYTES));
    const encoded = gcmEncrypt(this.#key, nonce, json).toString('base64url');
    return encoded + '='.repeat((4 - (encoded.length % 4)) % 4);
  }

  /** Decrypts an oxide-k value of config `name`; `DECRYPT_FAILED` when malformed or not authentic. */
  decrypt(name: string, stored: string): string {
    if (stored.length % 4 !== 0 || !B64URL_PADDED.test(stored))
      throw decryptFailed(
        `The stored value of "${name}" is not padded base64url (truncated or damaged)`,
        name,
      );
    const blob = Buffer.from(stored, 'base64url');
    if (blob.length < NONCE_BYTES + TAG_BYTES)
      throw decryptFailed(
        `The stored value of "${name}" is too short to be an oxide-k ciphertext`,
        name,
      );
    const bytes = gcmDecrypt(this.#key, blob);
    const plaintext = bytes === undefined ? undefined : text(bytes);
    if (plaintext === undefined) {
      throw decryptFailed(
        `The stored value of "${name}" does not decrypt with the oxide-k key: wrong OXIDE_REGISTRY_KEY, or the value was damaged`,
        name,
      );
    }
    return plaintext;
  }
}
