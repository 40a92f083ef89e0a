/**
 * Digests used across kerno: SHA-256 (kerno's chains, aivcs artifacts) and BLAKE3 (oxios audit
 * exports). Always lower-case hex.
 *
 * @module
 */
import { hash } from 'node:crypto';
import { blake3 } from '@noble/hashes/blake3.js';
import { bytesToHex } from '@noble/hashes/utils.js';

/** SHA-256 of a UTF-8 string or bytes, as 64 lower-case hex characters. */
export function sha256Hex(data: string | Uint8Array): string {
  return hash('sha256', data, 'hex');
}

/** BLAKE3 (32-byte output) of a UTF-8 string or bytes, as 64 lower-case hex characters. */
export function blake3Hex(data: string | Uint8Array): string {
  return bytesToHex(blake3(typeof data === 'string' ? new TextEncoder().encode(data) : data));
}

/** Constant-time comparison of two hex digests. */
export function digestsEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
