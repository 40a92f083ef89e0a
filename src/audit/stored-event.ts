/**
 * The kernel event an audit record holds, taken from the stored body text without decoding it:
 * for consumers that only forward the event (the SSE feed). An audit body is kerno's canonical
 * form `{"action":A,"actor":S,"metadata":{"event":E},"resource":S}` (see `auditBody`), so the
 * event is the text of `E`, found by skipping `A` and the actor. A body of any other shape (a
 * plain audit entry, an entry from another writer, anything that is not strictly valid JSON
 * without whitespace) is decoded the slow way. Either way the result parses to the event
 * `auditedEvent(entry)` gives; the fast path keeps the stored text (sorted keys, numbers as
 * written), where `JSON.stringify` would put integer-like keys first.
 *
 * @module
 */

/** The kernel event of a stored audit body: its `type` and its JSON text. */
export interface StoredEvent {
  readonly type: string;
  readonly json: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const MINUS = 0x2d;
/** Deeper values are left to `JSON.parse` (the slow path). */
const MAX_DEPTH = 64;

const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39;
const isHex = (c: number): boolean =>
  isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
/** The characters JSON allows after a backslash: `" \ / b f n r t u`. */
const ESCAPES = new Set([0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74, 0x75]);

/**
 * The index just past the JSON string starting at `i` (a `"`), or -1 when it is not a valid
 * JSON string: a raw control character (a line break above all, which would end an SSE data
 * line), an escape JSON does not have, or no closing quote.
 */
function skipString(text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1;
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) return j + 1;
    if (c < 0x20) return -1;
    if (c === BACKSLASH) {
      const e = text.charCodeAt(++j);
      if (!ESCAPES.has(e)) return -1;
      if (e === 0x75) {
        for (let k = 1; k <= 4; k++) if (!isHex(text.charCodeAt(j + k))) return -1;
        j += 4;
      }
    }
  }
  return -1;
}

/** The index just past the JSON number at `i`, or -1. */
function skipNumber(text: string, i: number): number {
  let j = i;
  if (text.charCodeAt(j) === MINUS) j++;
  if (text.charCodeAt(j) === 0x30) j++;
  else if (isDigit(text.charCodeAt(j))) while (isDigit(text.charCodeAt(j))) j++;
  else return -1;
  if (text.charCodeAt(j) === 0x2e) {
    j++;
    if (!isDigit(text.charCodeAt(j))) return -1;
    while (isDigit(text.charCodeAt(j))) j++;
  }
  const e = text.charCodeAt(j);
  if (e === 0x65 || e === 0x45) {
    j++;
    const sign = text.charCodeAt(j);
    if (sign === 0x2b || sign === MINUS) j++;
    if (!isDigit(text.charCodeAt(j))) return -1;
    while (isDigit(text.charCodeAt(j))) j++;
  }
  return j;
}

/**
 * The index just past the JSON value starting at `i`, or -1 when the text there is not one
 * valid JSON value without whitespace (canonical JSON has none). So any body kerno did not
 * write in its canonical form takes the slow path, and what the fast path forwards is always
 * valid JSON.
 */
function skipValue(text: string, i: number, depth = 0): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return skipString(text, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    if (depth >= MAX_DEPTH) return -1;
    const object = c === OPEN_BRACE;
    const close = object ? CLOSE_BRACE : CLOSE_BRACKET;
    let j = i + 1;
    if (text.charCodeAt(j) === close) return j + 1;
    for (;;) {
      if (object) {
        j = skipString(text, j);
        if (j < 0 || text.charCodeAt(j) !== COLON) return -1;
        j++;
      }
      j = skipValue(text, j, depth + 1);
      if (j < 0) return -1;
      const next = text.charCodeAt(j);
      if (next === close) return j + 1;
      if (next !== COMMA) return -1;
      j++;
    }
  }
  if (c === MINUS || isDigit(c)) return skipNumber(text, i);
  for (const literal of ['true', 'false', 'null'])
    if (text.startsWith(literal, i)) return i + literal.length;
  return -1;
}

/** `text` has `literal` at `i`. */
function at(text: string, i: number, literal: string): boolean {
  return text.startsWith(literal, i);
}

/**
 * The JSON object starting at `i` (a `{`), read key by key: where it ends and its top-level
 * `"type"` string, or undefined when it is not a canonical object with one plain string type
 * (an escaped key could spell `type` too: such objects take the slow path).
 */
function eventObject(text: string, i: number): { end: number; type: string } | undefined {
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  let type: string | undefined;
  let k = i + 1;
  for (;;) {
    const keyEnd = skipString(text, k);
    if (keyEnd < 0 || text.charCodeAt(keyEnd) !== COLON) return undefined;
    for (let x = k + 1; x < keyEnd - 1; x++) if (text.charCodeAt(x) === BACKSLASH) return undefined;
    const valueEnd = skipValue(text, keyEnd + 1, 1);
    if (valueEnd < 0) return undefined;
    if (keyEnd - k === 6 && at(text, k, '"type"')) {
      // Event types are plain identifiers; an escaped one, one that is not a string, or a
      // second `type` key takes the slow path.
      if (type !== undefined || text.charCodeAt(keyEnd + 1) !== QUOTE) return undefined;
      const raw = text.slice(keyEnd + 2, valueEnd - 1);
      if (raw === '' || raw.includes('\\')) return undefined;
      type = raw;
    }
    const next = text.charCodeAt(valueEnd);
    if (next === CLOSE_BRACE) return type === undefined ? undefined : { end: valueEnd + 1, type };
    if (next !== COMMA) return undefined;
    k = valueEnd + 1;
  }
}

/** The fast path: the event's text located in kerno's canonical body, or undefined. */
function locate(body: string): StoredEvent | undefined {
  if (!at(body, 0, '{"action":')) return undefined;
  const actionEnd = skipValue(body, 10);
  if (actionEnd < 0 || !at(body, actionEnd, ',"actor":')) return undefined;
  const actorEnd = skipString(body, actionEnd + 9);
  if (actorEnd < 0 || !at(body, actorEnd, ',"metadata":{"event":')) return undefined;
  const start = actorEnd + 21;
  const event = eventObject(body, start);
  // The metadata holds the event alone, and the body ends with the resource string.
  if (event === undefined || !at(body, event.end, '},"resource":')) return undefined;
  if (skipString(body, event.end + 13) !== body.length - 1) return undefined;
  if (body.charCodeAt(body.length - 1) !== CLOSE_BRACE) return undefined;
  return { type: event.type, json: body.slice(start, event.end) };
}

/** The slow path: decode the body and re-encode its event, as the typed reader does. */
function decode(body: string): StoredEvent | undefined {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return undefined;
  }
  const event = (parsed as { metadata?: { event?: { type?: unknown } } | null } | null)?.metadata
    ?.event;
  if (typeof event !== 'object' || event === null || typeof event.type !== 'string')
    return undefined;
  // The type becomes the SSE `event:` line: a control character in it would break the frame.
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f]/.test(event.type)) return undefined;
  return { type: event.type, json: JSON.stringify(event) };
}

/**
 * The kernel event a stored audit body records, as `{ type, json }`, or undefined for a plain
 * entry (or a body that is not JSON). `json` is the stored text itself when the body has kerno's
 * canonical layout, so forwarding it costs no parse and no re-encoding.
 */
export function storedAuditEvent(body: string): StoredEvent | undefined {
  return locate(body) ?? decode(body);
}
