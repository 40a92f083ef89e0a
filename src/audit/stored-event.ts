/**
 * The kernel event an audit record holds, taken from the stored body text without decoding it:
 * for consumers that only forward the event (the SSE feed). An audit body is kerno's canonical
 * form `{"action":A,"actor":S,"metadata":{"event":E},"resource":S}` (see `auditBody`), so the
 * event is the text of `E`, found by skipping `A` and the actor. A body of any other shape (a
 * plain audit entry, an entry from another writer) is decoded the slow way, so the result is
 * always what `JSON.stringify(auditedEvent(entry))` would name.
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
/** Space and the control characters: never outside a string in canonical JSON, never raw inside one. */
const SPACE = 0x20;

/**
 * The index just past the JSON string starting at `i` (a `"`), or -1. A raw control character
 * (a line break above all: it would end an SSE data line) makes it -1, as JSON forbids them.
 */
function skipString(text: string, i: number): number {
  if (text.charCodeAt(i) !== QUOTE) return -1;
  for (let j = i + 1; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) return j + 1;
    if (c === BACKSLASH) j++;
    else if (c < SPACE) return -1;
  }
  return -1;
}

/**
 * The index just past the JSON value starting at `i`, or -1. Strings and nesting are tracked,
 * and whitespace or control characters outside strings give -1 (canonical JSON has none), so
 * any body kerno did not write in its canonical form takes the slow path. Numbers and literals
 * are not checked further: the log's bodies are kerno's own, covered by the hash chain.
 */
function skipValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === QUOTE) return skipString(text, i);
  if (first !== OPEN_BRACE && first !== OPEN_BRACKET) {
    // A number, true, false or null: up to the next delimiter.
    let j = i;
    for (; j < text.length; j++) {
      const c = text.charCodeAt(j);
      if (c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET) break;
      if (c <= SPACE || c === QUOTE || c === COLON || c === OPEN_BRACE || c === OPEN_BRACKET)
        return -1;
    }
    return j === i ? -1 : j;
  }
  let depth = 0;
  for (let j = i; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (c === QUOTE) {
      j = skipString(text, j) - 1;
      if (j < 0) return -1;
    } else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (--depth === 0) return j + 1;
    } else if (c <= SPACE) return -1;
  }
  return -1;
}

/** `text` has `literal` at `i`. */
function at(text: string, i: number, literal: string): boolean {
  return text.startsWith(literal, i);
}

/**
 * The JSON object starting at `i` (a `{`), read key by key: where it ends and its top-level
 * `"type"` string (the last one counts, as in `JSON.parse`), or undefined when it is not a
 * canonical object with a plain string type.
 */
function eventObject(text: string, i: number): { end: number; type: string } | undefined {
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  let type: string | undefined;
  let k = i + 1;
  for (;;) {
    const keyEnd = skipString(text, k);
    if (keyEnd < 0 || text.charCodeAt(keyEnd) !== COLON) return undefined;
    const valueEnd = skipValue(text, keyEnd + 1);
    if (valueEnd < 0) return undefined;
    if (keyEnd - k === 6 && at(text, k, '"type"')) {
      // Event types are plain identifiers; an escaped one (or one that is not a string) takes
      // the slow path.
      if (text.charCodeAt(keyEnd + 1) !== QUOTE) return undefined;
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

const RESOURCE = '},"resource":"';

/** The fast path: the event's text located in kerno's canonical body, or undefined. */
function locate(body: string): StoredEvent | undefined {
  if (!at(body, 0, '{"action":')) return undefined;
  const actionEnd = skipValue(body, 10);
  if (actionEnd < 0 || !at(body, actionEnd, ',"actor":')) return undefined;
  const actorEnd = skipString(body, actionEnd + 9);
  if (actorEnd < 0 || !at(body, actorEnd, ',"metadata":{"event":')) return undefined;
  const start = actorEnd + 21;
  const event = eventObject(body, start);
  if (event === undefined) return undefined;
  // The metadata holds the event alone and the body ends with the resource string. A bare
  // `},"resource":"` cannot occur inside a JSON string (its quotes would be escaped), so the
  // last one in the body is the real one.
  if (!at(body, event.end, RESOURCE) || body.lastIndexOf(RESOURCE) !== event.end) return undefined;
  if (!body.endsWith('"}') || body.length < event.end + RESOURCE.length + 2) return undefined;
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
