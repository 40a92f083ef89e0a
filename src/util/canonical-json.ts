/**
 * Canonical JSON: object keys sorted by UTF-16 code units, no whitespace, numbers as
 * `JSON.stringify` writes them. Two equal values always give the same text, so the text can be
 * hashed. Non-finite numbers, `bigint`, functions and cycles are rejected.
 *
 * @module
 */
import { KernelError } from '../errors.js';

/** Serialises `value` canonically. `undefined` object members are dropped, as JSON does. */
export function canonicalJson(value: unknown): string {
  return write(value, 0);
}

const MAX_DEPTH = 512;

function write(value: unknown, depth: number): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      if (!Number.isFinite(value)) {
        throw new KernelError('INVALID_ARGUMENT', `JSON cannot hold the number ${value}`);
      }
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'object': {
      if (value === null) return 'null';
      if (depth > MAX_DEPTH) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          `JSON value is nested deeper than ${MAX_DEPTH} levels (or has a cycle)`,
        );
      }
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const v: unknown = value[i];
          if (i > 0) out += ',';
          out +=
            v === undefined || typeof v === 'function' || typeof v === 'symbol'
              ? 'null'
              : write(v, depth + 1);
        }
        return out + ']';
      }
      const maybeJson = value as { toJSON?: () => unknown };
      if (typeof maybeJson.toJSON === 'function') return write(maybeJson.toJSON(), depth + 1);
      const keys = Object.keys(value).sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const v = (value as Record<string, unknown>)[key];
        if (v === undefined || typeof v === 'function' || typeof v === 'symbol') continue;
        out += (first ? '' : ',') + JSON.stringify(key) + ':' + write(v, depth + 1);
        first = false;
      }
      return out + '}';
    }
    default:
      throw new KernelError('INVALID_ARGUMENT', `JSON cannot hold a value of type ${typeof value}`);
  }
}

/** Whether `value` is a plain JSON object (not an array, not null). */
export function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Any JSON value. */
export type JsonValue =
  null | boolean | number | string | readonly JsonValue[] | { readonly [key: string]: JsonValue };
