/**
 * `kerno ledger append|query|import|export|verify|repair`: against the daemon, or a store with
 * --store.
 *
 * @module
 */
import { createWriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Command } from 'commander';
import { KernelError } from '../../errors.js';
import type { ExperienceEvent } from '../../formats/converge-experience-event.js';
import {
  IMPORT_CONFLICT_MODES,
  type ImportConflictMode,
  type LedgerEventKind,
  type LedgerImportResult,
  type LedgerRecord,
  type TenantLedgerRecord,
} from '../../ledger/ledger.js';
import { daemon, openInput, opts, parseJsonOption, print, readText, withStore } from '../common.js';
import { createProgress, writeStdout, type CliContext } from '../output.js';
import type { VerifyResult } from '../../storage/log.js';
import { addRepairCommand, reportVerify } from '../verify-report.js';

interface QueryOpts {
  store?: string;
  tenant?: string;
  kinds?: string;
  from?: string;
  to?: string;
  correlation?: string;
  chain?: string;
  limit?: string;
}

function countLines(chunk: string | Uint8Array): number {
  let n = 0;
  if (typeof chunk === 'string') {
    for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) n++;
  } else {
    for (let i = chunk.indexOf(0x0a); i !== -1; i = chunk.indexOf(0x0a, i + 1)) n++;
  }
  return n;
}

/** A record as the daemon shows it: a tenant token gets no position. */
type ShownRecord = LedgerRecord | TenantLedgerRecord;

function recordRows(records: readonly ShownRecord[]) {
  return {
    headers: ['position', 'occurred_at', 'kind', 'tenant', 'correlation', 'event_id'],
    rows: records.map((r) => [
      'position' in r ? r.position : '',
      r.envelope.occurred_at,
      r.envelope.event.type,
      r.envelope.tenant_id ?? '',
      r.envelope.correlation_id ?? '',
      r.envelope.event_id,
    ]),
  };
}

function conflictMode(value: string): ImportConflictMode {
  if ((IMPORT_CONFLICT_MODES as readonly string[]).includes(value)) {
    return value as ImportConflictMode;
  }
  throw new KernelError(
    'INVALID_ARGUMENT',
    `--on-conflict must be one of ${IMPORT_CONFLICT_MODES.join(', ')}, got ${JSON.stringify(value)}`,
  );
}

/** Registers the `ledger` commands. */
export function registerLedgerCommands(program: Command, ctx: CliContext): void {
  const ledger = program
    .command('ledger')
    .description('append to, query, import and export the experience ledger');

  ledger
    .command('append')
    .description(
      'append one experience event ({"type":…,"data":…}, engine- or user-side) given inline or in a file',
    )
    .option('--event <json>', 'the event as JSON')
    .option('--file <path>', 'read the event (or an envelope) from a JSON file')
    .option('--tenant <id>', 'tenant scope')
    .option('--correlation <id>', 'correlation id')
    .option('--event-id <id>', 'event id (idempotent append)')
    .option('--store <url>', 'append directly to this store instead of the daemon')
    .option('--json', 'print the record as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{
        event?: string;
        file?: string;
        tenant?: string;
        correlation?: string;
        eventId?: string;
        store?: string;
      }>(cmd);
      const text = o.event ?? (o.file === undefined ? undefined : await readText(o.file));
      if (text === undefined)
        throw new KernelError(
          'INVALID_ARGUMENT',
          'Give the event with --event <json> or --file <path>',
        );
      const event = parseJsonOption(text, 'The event') as ExperienceEvent;
      const body = {
        event,
        ...(o.tenant === undefined ? {} : { tenantId: o.tenant }),
        ...(o.correlation === undefined ? {} : { correlationId: o.correlation }),
        ...(o.eventId === undefined ? {} : { eventId: o.eventId }),
      };
      const record =
        o.store !== undefined
          ? await withStore(o.store, (s) =>
              s.ledger.append(event, {
                tenantId: o.tenant,
                correlationId: o.correlation,
                eventId: o.eventId,
              }),
            )
          : await daemon(o).json<ShownRecord>('POST', '/api/ledger', body);
      print(ctx, o, record, () => recordRows([record]));
    });

  ledger
    .command('query')
    .description('query records: oldest first; with --limit, the newest matches')
    .option('--tenant <id>')
    .option('--kinds <list>', 'comma-separated event kinds')
    .option('--from <time>', 'RFC 3339 or epoch ms, inclusive')
    .option('--to <time>', 'RFC 3339 or epoch ms, inclusive')
    .option('--correlation <id>')
    .option('--chain <id>')
    .option('--limit <n>', 'newest n matches (default 100)', '100')
    .option('--store <url>', 'query this store directly instead of the daemon')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<QueryOpts>(cmd);
      let records: ShownRecord[];
      if (o.store !== undefined) {
        const time = (t: string | undefined): string | number | undefined =>
          t === undefined ? undefined : /^\d+$/.test(t) ? Number(t) : t;
        records = await withStore(o.store, (s) =>
          s.ledger.query({
            tenantId: o.tenant,
            kinds: o.kinds?.split(',') as LedgerEventKind[] | undefined,
            timeRange: { start: time(o.from), end: time(o.to) },
            correlationId: o.correlation,
            chainId: o.chain,
            limit: Number(o.limit),
          }),
        );
      } else {
        const q = new URLSearchParams();
        for (const [k, v] of Object.entries({
          tenant: o.tenant,
          kinds: o.kinds,
          from: o.from,
          to: o.to,
          correlation: o.correlation,
          chain: o.chain,
          limit: o.limit,
        })) {
          if (v !== undefined) q.set(k, v);
        }
        records = (
          await daemon(o).json<{ records: ShownRecord[] }>('GET', `/api/ledger?${q.toString()}`)
        ).records;
      }
      print(ctx, o, records, () => recordRows(records));
    });

  ledger
    .command('import <file>')
    .description(
      'import converge envelope NDJSON: engine- or user-side envelopes or ExperienceRecord lines (all or nothing; idempotent by tenant and event_id)',
    )
    .option('--skip-invalid', 'skip malformed lines instead of stopping')
    .option(
      '--on-conflict <mode>',
      'an event_id taken by other content: fail (import nothing, name every such line), skip (drop them) or rekey (new id, original kept in metadata)',
      'fail',
    )
    .option('--strict-ids', 'accept only converge strict ids ([A-Za-z0-9._-]{1,256})')
    .option('--store <url>', 'import into this store directly instead of the daemon')
    .option('--json', 'print the result as JSON')
    .action(async (file: string, _o: unknown, cmd: Command) => {
      const o = opts<{
        skipInvalid?: boolean;
        onConflict: string;
        strictIds?: boolean;
        store?: string;
      }>(cmd);
      const onConflict = conflictMode(o.onConflict);
      const progress = createProgress(ctx.io, 'importing');
      const input = openInput(file, (read, total) => progress.update(read, total));
      let result: LedgerImportResult;
      try {
        if (o.store !== undefined) {
          result = await withStore(o.store, (s) =>
            s.ledger.importNdjson(input, {
              onError: o.skipInvalid === true ? 'skip' : 'throw',
              onConflict,
              ...(o.strictIds === true ? { idRules: 'strict' as const } : {}),
            }),
          );
        } else {
          const q = new URLSearchParams({ onConflict });
          if (o.skipInvalid === true) q.set('skipInvalid', 'true');
          if (o.strictIds === true) q.set('strictIds', 'true');
          const res = await daemon(o).request('POST', `/api/ledger/import?${q.toString()}`, {
            body: Readable.toWeb(input) as ReadableStream,
            contentType: 'application/x-ndjson',
          });
          result = (await res.json()) as typeof result;
        }
      } finally {
        progress.done();
      }
      print(
        ctx,
        o,
        result,
        () =>
          `imported ${result.imported}, already present ${result.duplicates}, skipped ${result.skipped}` +
          (result.conflicts > 0 ? `, conflicting dropped ${result.conflicts}` : '') +
          (result.rekeyed > 0 ? `, rekeyed ${result.rekeyed}` : '') +
          '\n',
      );
    });

  ledger
    .command('verify')
    .description(
      "verify the ledger's hash chain: every break (exit 1), and breaks an anchor accepted",
    )
    .option('--store <url>', 'verify this store directly instead of asking the daemon')
    .option('--json', 'print the result as JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      let result: VerifyResult;
      if (o.store !== undefined) {
        const progress = createProgress(ctx.io, 'verifying');
        result = await withStore(o.store, (s) =>
          s.ledger.verify({ onProgress: (done, total) => progress.update(done, total) }),
        );
        progress.done();
      } else {
        result = await daemon(o).json<VerifyResult>('GET', '/api/ledger/verify');
      }
      reportVerify(ctx, o.json, result, 'records');
    });

  addRepairCommand(ledger, ctx, 'ledger', { stream: 'ledger', record: 'record (position)' });

  ledger
    .command('export')
    .description('export the ledger as converge envelope NDJSON')
    .option('--out <file>', 'write to this file (default: stdout)')
    .option('--records', 'wrap each line as a converge ExperienceRecord {"kind":…,"value":…}')
    .option(
      '--stored',
      "each envelope's stored canonical JSON (keys sorted, the bytes its hash covers), not re-encoded",
    )
    .option('--store <url>', 'export this store directly instead of the daemon')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ out?: string; store?: string; records?: boolean; stored?: boolean }>(cmd);
      if (o.records === true && o.stored === true)
        throw new KernelError('INVALID_ARGUMENT', 'Choose --records or --stored, not both');
      const form = o.records === true ? 'record' : o.stored === true ? 'stored' : 'envelope';
      let count = 0;
      async function* counted(
        chunks: AsyncIterable<string | Uint8Array>,
      ): AsyncGenerator<string | Uint8Array> {
        for await (const chunk of chunks) {
          count += countLines(chunk);
          yield chunk;
        }
      }
      const emit = async (chunks: AsyncIterable<string | Uint8Array>): Promise<void> => {
        if (o.out === undefined) await writeStdout(ctx.io, counted(chunks));
        else await pipeline(Readable.from(counted(chunks)), createWriteStream(o.out));
      };
      if (o.store !== undefined) {
        await withStore(o.store, (s) => emit(s.ledger.exportNdjson({ form })));
      } else {
        const res = await daemon(o).request(
          'GET',
          `/api/ledger/export${form === 'envelope' ? '' : `?form=${form}`}`,
        );
        if (res.body !== null) await emit(Readable.fromWeb(res.body as never));
      }
      if (o.out !== undefined) ctx.io.stderr(`exported ${count} records to ${o.out}\n`);
    });
}
