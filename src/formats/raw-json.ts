/**
 * Raw JSON members: the top-level members of a JSON object with each value's text as written, so
 * a codec can keep what it does not understand byte for byte (number spellings like `1.0`,
 * key order, nested objects) instead of re-serialising a parsed copy.
 *
 * @example
 * objectMembers('{"a":1.0,"b":{"c":[1,2]}}'); // [['a', '1.0'], ['b', '{"c":[1,2]}']]
 *
 * @module
 */

/**
 * The members of the JSON object `text` (already known to be valid JSON, e.g. checked with
 * `JSON.parse`), in order, each value compacted (insignificant whitespace removed, nothing
 * else changed). Returns `undefined` when `text` is not an object.
 */
export function objectMembers(text: string): [key: string, raw: string][] | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== '{') return undefined;
  i = skipWs(text, i + 1);
  const out: [string, string][] = [];
  if (text[i] === '}') return out;
  for (;;) {
    const keyEnd = stringEnd(text, i);
    const key = JSON.parse(text.slice(i, keyEnd)) as string;
    i = skipWs(text, keyEnd);
    i = skipWs(text, i + 1); // ':'
    const end = valueEnd(text, i);
    out.push([key, compactJson(text.slice(i, end))]);
    i = skipWs(text, end);
    if (text[i] === ',') {
      i = skipWs(text, i + 1);
      continue;
    }
    return out;
  }
}

/** The elements of the JSON array `text` (valid JSON), each compacted; `undefined` when not an array. */
export function arrayElements(text: string): string[] | undefined {
  let i = skipWs(text, 0);
  if (text[i] !== '[') return undefined;
  i = skipWs(text, i + 1);
  const out: string[] = [];
  if (text[i] === ']') return out;
  for (;;) {
    const end = valueEnd(text, i);
    out.push(compactJson(text.slice(i, end)));
    i = skipWs(text, end);
    if (text[i] !== ',') return out;
    i = skipWs(text, i + 1);
  }
}

/** Valid JSON text without insignificant whitespace; strings and number spellings untouched. */
export function compactJson(raw: string): string {
  if (!/\s/.test(raw)) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (c === '"') {
      const end = stringEnd(raw, i);
      out += raw.slice(i, end);
      i = end - 1;
    } else if (c !== ' ' && c !== '\n' && c !== '\r' && c !== '\t') out += c;
  }
  return out;
}

function skipWs(text: string, i: number): number {
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

/** The index just past the string that starts at `i` (a `"`). */
function stringEnd(text: string, i: number): number {
  for (let j = i + 1; j < text.length; j++) {
    const c = text[j];
    if (c === '\\') j++;
    else if (c === '"') return j + 1;
  }
  return text.length;
}

/** The index just past the JSON value that starts at `i`. */
function valueEnd(text: string, i: number): number {
  const c = text[i];
  if (c === '"') return stringEnd(text, i);
  if (c === '{' || c === '[') {
    let depth = 0;
    for (let j = i; j < text.length; j++) {
      const d = text[j];
      if (d === '"') j = stringEnd(text, j) - 1;
      else if (d === '{' || d === '[') depth++;
      else if (d === '}' || d === ']') {
        depth--;
        if (depth === 0) return j + 1;
      }
    }
    return text.length;
  }
  let j = i;
  while (j < text.length && !/[\s,}\]]/.test(text[j]!)) j++;
  return j;
}
