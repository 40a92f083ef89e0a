/**
 * oxios audit history imported as the anchored prefix of kerno's trail.
 *
 * Each imported entry becomes one kerno entry with oxios's actor, action and resource, the
 * original time, and metadata `{ "import": … }` that keeps what kerno's fields do not: for a
 * trail export (`audit/trail.json`) the oxios `seq`, exact `timestamp`, `prev_hash`, `hash` and
 * `metadata`; for `audit/access.jsonl` the line number and the event as written. kerno's chain
 * then covers them like any entry, and the first entry kerno writes afterwards links to the last
 * imported one. {@link checkImportedPrefix} re-checks the upstream rule over the prefix (the
 * oxios BLAKE3 chain; for access events, that each entry still says what its event says), so
 * `audit verify` reports an imported entry rewritten even when kerno's chain was recomputed.
 *
 * @module
 */
import { KernelError } from '../errors.js';
import {
  oxiosEntryHash,
  parseOxiosExport,
  verifyOxiosEntries,
  type OxiosAuditEntry,
} from '../formats/oxios-audit-export.js';
import {
  readOxiosAccessLog,
  checkOxiosAccessEvent,
  oxiosAccessActor,
  oxiosAccessAuditAction,
  OXIOS_ACCESS_RESOURCE,
  type OxiosAccessEvent,
} from '../formats/oxios-access-log.js';
import { canonicalAuditAction, type AuditAction } from '../formats/oxios-audit-action.js';
import type { JsonValue } from '../util/canonical-json.js';
import { parseRfc3339 } from '../util/time.js';

/** What is imported: an oxios trail export or the access log. */
export type OxiosImportSource =
  | { readonly format: 'oxios-trail'; readonly entries: readonly OxiosAuditEntry[] }
  | { readonly format: 'oxios-access'; readonly events: readonly OxiosAccessEvent[] };

/**
 * Reads an oxios audit file's text: a JSON array is a trail export (`audit/trail.json`), JSON
 * lines the access log (`audit/access.jsonl`). Shapes are checked here; the chain by the import.
 */
export function readOxiosAuditFile(text: string, source: string): OxiosImportSource {
  const first = /\S/.exec(text)?.[0];
  if (first === '[') return { format: 'oxios-trail', entries: parseOxiosExport(text) };
  if (first === '{') return { format: 'oxios-access', events: readOxiosAccessLog(text, source) };
  throw new KernelError(
    'INVALID_UPSTREAM_FILE',
    `${source} is neither an oxios audit trail (a JSON array of entries, audit/trail.json) nor an access log (JSON lines, audit/access.jsonl)`,
    { details: { path: source } },
  );
}

/** One kerno entry to write for an imported one. */
export interface ImportedInput {
  readonly timeMs: number;
  readonly actor: string;
  readonly action: AuditAction;
  readonly resource: string;
  readonly metadata: JsonValue;
}

/** The fields of a stored entry the prefix check reads. */
export interface StoredEntry {
  readonly seq: number;
  readonly actor: string;
  readonly action: AuditAction;
  readonly resource: string;
  readonly metadata: JsonValue | null;
}

/** A break the prefix check found. */
export interface ImportedBreak {
  readonly seq: number;
  readonly importedSeq: number;
  readonly detail: string;
}

/**
 * Verifies the source (an oxios trail by its BLAKE3 chain; a broken one fails with
 * `CHAIN_BROKEN` naming the seq) and returns the kerno entries to write, in order.
 */
export function importedInputs(source: OxiosImportSource, nowMs: number): ImportedInput[] {
  if (source.format === 'oxios-trail') {
    const result = verifyOxiosEntries(source.entries, nowMs);
    if (!result.ok) {
      throw new KernelError(
        'CHAIN_BROKEN',
        `The oxios audit trail does not verify at seq ${result.seq}: ${result.message}; nothing was imported`,
        { details: { seq: result.seq, reason: result.reason } },
      );
    }
    return source.entries.map((e) => ({
      timeMs: parseRfc3339(e.timestamp)!.ms,
      actor: e.actor,
      action: e.action,
      resource: e.resource,
      metadata: {
        import: {
          format: 'oxios-trail',
          seq: e.seq,
          timestamp: e.timestamp,
          prev_hash: e.prev_hash,
          hash: e.hash,
          metadata: (e.metadata ?? null) as JsonValue,
        },
      },
    }));
  }
  return source.events.map((event, i) => ({
    timeMs: event.timestamp,
    actor: oxiosAccessActor(event),
    action: oxiosAccessAuditAction(event),
    resource: OXIOS_ACCESS_RESOURCE,
    metadata: { import: { format: 'oxios-access', line: i + 1, event: event as JsonValue } },
  }));
}

/** The import record an entry carries, when it is an imported one. */
function importOf(entry: StoredEntry): Record<string, JsonValue> | undefined {
  const m = entry.metadata;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  const imp = (m as Record<string, JsonValue>)['import'];
  if (typeof imp !== 'object' || imp === null || Array.isArray(imp)) return undefined;
  const format = (imp as Record<string, JsonValue>)['format'];
  return format === 'oxios-trail' || format === 'oxios-access'
    ? (imp as Record<string, JsonValue>)
    : undefined;
}

/** Whether `entry` is an imported one (the prefix is the run of these from the first entry). */
export function isImported(entry: StoredEntry): boolean {
  return importOf(entry) !== undefined;
}

/**
 * Re-checks the upstream rule over the imported prefix (`entries`: the trail's entries from its
 * first held one while they are imported). `pruned` when the trail's first entries were pruned:
 * the first held oxios entry is then trusted as a root, its link to the pruned ones being covered
 * by kerno's anchor.
 */
export function checkImportedPrefix(
  entries: readonly StoredEntry[],
  pruned: boolean,
): ImportedBreak[] {
  const breaks: ImportedBreak[] = [];
  const trail: { entry: OxiosAuditEntry; seq: number }[] = [];
  for (const e of entries) {
    const imp = importOf(e)!;
    if (imp['format'] === 'oxios-access') {
      const line = typeof imp['line'] === 'number' ? imp['line'] : 0;
      const event = checkOxiosAccessEvent(imp['event']);
      if (typeof event === 'string') {
        breaks.push({ seq: e.seq, importedSeq: line, detail: `its access event: ${event}` });
        continue;
      }
      const same =
        e.actor === oxiosAccessActor(event) &&
        e.resource === OXIOS_ACCESS_RESOURCE &&
        canonicalAuditAction(e.action) === canonicalAuditAction(oxiosAccessAuditAction(event));
      if (!same) {
        breaks.push({
          seq: e.seq,
          importedSeq: line,
          detail: 'its actor, action or resource no longer match the access event it records',
        });
      }
      continue;
    }
    trail.push({
      seq: e.seq,
      entry: {
        seq: imp['seq'] as number,
        timestamp: imp['timestamp'] as string,
        actor: e.actor,
        action: e.action,
        resource: e.resource,
        prev_hash: imp['prev_hash'] as string,
        hash: imp['hash'] as string,
        metadata: imp['metadata'] ?? null,
      },
    });
  }
  // Entry by entry, so one bad entry is reported at its own seq and later ones still checked.
  for (let i = 0; i < trail.length; i++) {
    const { entry, seq } = trail[i]!;
    const fail = (detail: string): void => {
      breaks.push({ seq, importedSeq: entry.seq, detail });
    };
    const prev = trail[i - 1]?.entry;
    if (prev === undefined) {
      if (!pruned && entry.prev_hash !== 'genesis' && entry.prev_hash !== 'pruned')
        fail(`the first oxios entry should start the chain with prev_hash "genesis"`);
    } else if (entry.seq !== prev.seq + 1) {
      fail(`oxios seq ${entry.seq} follows ${prev.seq}: entries are missing or reordered`);
    } else if (entry.prev_hash !== prev.hash) {
      fail(`oxios entry ${entry.seq} does not link to oxios entry ${prev.seq}`);
    }
    // A pruned root (oxios's own, or the first kerno still holds) is trusted as oxios does.
    const trusted = prev === undefined && (pruned || entry.prev_hash === 'pruned');
    if (trusted) continue;
    let computed: string;
    try {
      computed = oxiosEntryHash(entry);
    } catch (error) {
      fail((error as Error).message);
      continue;
    }
    if (computed !== entry.hash) {
      fail(
        `oxios entry ${entry.seq} was altered: its BLAKE3 hash should be ${computed} but is ${entry.hash}`,
      );
    }
  }
  return breaks.sort((a, b) => a.seq - b.seq);
}
