/**
 * /api/ledger: append, query, import NDJSON, export NDJSON, verify, repair. Tenant tokens are confined to their
 * tenant's records and shown only what is theirs: each record's envelope and own hash, never a
 * position (which counts every tenant's records) or the previous record's hash.
 *
 * @module
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ExperienceEvent } from '../../formats/converge-experience-event.js';
import { encodeEnvelopeLine } from '../../formats/converge-ndjson.js';
import type { AnyExperienceEnvelope } from '../../formats/converge-envelope.js';
import type { UserExperienceEvent } from '../../formats/converge-user-event.js';
import {
  IMPORT_CONFLICT_MODES,
  tenantLedgerRecord,
  type ImportConflictMode,
  type LedgerEventKind,
  type LedgerRecord,
  type TenantLedgerRecord,
} from '../../ledger/ledger.js';
import { confineTenant as confine, type Principal } from '../auth.js';
import type { ServerContext } from '../context.js';
import { limitStream, queryInt, queryList, queryString, queryTime } from '../http-util.js';
import { KernelError } from '../../errors.js';
import { chainRepairRoute } from './chain-repair.js';

interface AppendBody {
  event: ExperienceEvent | UserExperienceEvent;
  eventId?: string;
  occurredAt?: string;
  /** The tenant (the name the whole API uses); `tenantId` is the older spelling, still taken. */
  tenant?: string | null;
  tenantId?: string | null;
  correlationId?: string | null;
}

/** What `p` may see of `record`: all of it for an admin, the tenant-local part for a tenant. */
function shown(p: Principal, record: LedgerRecord): LedgerRecord | TenantLedgerRecord {
  return p.kind === 'admin' ? record : tenantLedgerRecord(record);
}

/** Registers the ledger routes. */
export function ledgerRoutes(app: FastifyInstance, ctx: ServerContext): void {
  const { ledger } = ctx.kernel;

  app.post<{ Body: AppendBody }>(
    '/api/ledger',
    {
      config: { scope: 'tenant' },
      schema: {
        summary:
          'Append an experience event (stamped by the kernel clock unless occurredAt is given)',
        tags: ['ledger'],
        body: {
          type: 'object',
          required: ['event'],
          additionalProperties: false,
          properties: {
            event: {
              type: 'object',
              description:
                'A converge ExperienceEvent or UserExperienceEvent: {"type":"…","data":{…}}',
            },
            eventId: { type: 'string', minLength: 1, maxLength: 256 },
            occurredAt: { type: 'string', maxLength: 64 },
            tenant: { type: ['string', 'null'], maxLength: 200 },
            tenantId: {
              type: ['string', 'null'],
              maxLength: 200,
              description: 'the older name of tenant (still accepted)',
            },
            correlationId: { type: ['string', 'null'], maxLength: 200 },
          },
        },
      },
    },
    async (req, reply) => {
      const b = req.body;
      if (b.tenant !== undefined && b.tenantId !== undefined && b.tenant !== b.tenantId) {
        throw new KernelError(
          'INVALID_ARGUMENT',
          'tenant and tenantId name the same thing and differ here; send tenant only',
        );
      }
      const tenant = confine(req.principal, b.tenant !== undefined ? b.tenant : b.tenantId);
      const record = await ledger.append(b.event, {
        ...(b.eventId === undefined ? {} : { eventId: b.eventId }),
        ...(b.occurredAt === undefined ? {} : { occurredAt: b.occurredAt }),
        ...(tenant === undefined ? {} : { tenantId: tenant }),
        ...(b.correlationId === undefined ? {} : { correlationId: b.correlationId }),
      });
      return reply.code(201).send(shown(req.principal, record));
    },
  );

  app.get(
    '/api/ledger',
    {
      config: { scope: 'tenant' },
      schema: {
        summary: 'Query the ledger: oldest first; with limit, the newest matches',
        tags: ['ledger'],
        querystring: {
          type: 'object',
          properties: {
            tenant: { type: 'string' },
            kinds: { type: 'string', description: 'comma-separated event kinds' },
            from: { type: 'string', description: 'RFC 3339 or epoch ms, inclusive' },
            to: { type: 'string', description: 'RFC 3339 or epoch ms, inclusive' },
            correlation: { type: 'string' },
            chain: { type: 'string' },
            limit: { type: 'string', description: 'at most 10000 (default 100)' },
          },
        },
      },
    },
    async (req) => {
      const tenant = confine(req.principal, queryString(req, 'tenant'));
      const records = await ledger.query({
        tenantId: tenant ?? undefined,
        kinds: queryList(req, 'kinds') as LedgerEventKind[] | undefined,
        timeRange: { start: queryTime(req, 'from'), end: queryTime(req, 'to') },
        correlationId: queryString(req, 'correlation'),
        chainId: queryString(req, 'chain'),
        limit: queryInt(req, 'limit', { max: 10_000 }) ?? 100,
      });
      return { records: records.map((r) => shown(req.principal, r)) };
    },
  );

  app.post(
    '/api/ledger/import',
    {
      config: {
        scope: 'tenant',
        accepts: ['application/x-ndjson', 'application/octet-stream', 'text/plain'],
      },
      schema: {
        summary:
          'Import converge envelope NDJSON: engine- or user-side envelopes or ExperienceRecord lines (all or nothing; idempotent by tenant and event_id)',
        tags: ['ledger'],
        querystring: {
          type: 'object',
          properties: {
            skipInvalid: { type: 'string', enum: ['true', 'false'] },
            onConflict: {
              type: 'string',
              enum: [...IMPORT_CONFLICT_MODES],
              description:
                'an event_id taken by other content: fail (default; nothing imported, every such line named), skip, or rekey (new id, original in metadata.original_event_id)',
            },
            strictIds: { type: 'string', enum: ['true', 'false'] },
          },
        },
      },
    },
    async (req) => {
      const body = limitStream(req.body as Readable, ctx.importLimit);
      const p = req.principal;
      return ledger.importNdjson(body, {
        onError: queryString(req, 'skipInvalid') === 'true' ? 'skip' : 'throw',
        onConflict: (queryString(req, 'onConflict') ?? 'fail') as ImportConflictMode,
        ...(queryString(req, 'strictIds') === 'true' ? { idRules: 'strict' as const } : {}),
        ...(p.kind === 'tenant' ? { requireTenant: p.tenant } : {}),
      });
    },
  );

  app.get(
    '/api/ledger/export',
    {
      config: { scope: 'tenant' },
      schema: {
        summary: 'Export the ledger as converge envelope NDJSON',
        tags: ['ledger'],
        querystring: {
          type: 'object',
          properties: {
            form: {
              type: 'string',
              enum: ['envelope', 'record', 'stored'],
              description:
                "record: wrap each line as a converge ExperienceRecord; stored: each envelope's stored canonical JSON (keys sorted, what its hash covers), handed through",
            },
          },
        },
      },
    },
    (req, reply) => {
      const p = req.principal;
      const asked = queryString(req, 'form');
      const form = asked === 'record' || asked === 'stored' ? asked : 'envelope';
      async function* lines(): AsyncGenerator<string> {
        if (form === 'stored') {
          for await (const line of ledger.exportNdjson({ form })) {
            // A tenant token reads its tenant's lines only (the parse is for the filter alone).
            if (
              p.kind === 'tenant' &&
              (JSON.parse(line) as AnyExperienceEnvelope).tenant_id !== p.tenant
            )
              continue;
            yield line;
          }
          return;
        }
        for await (const envelope of ledger.envelopes()) {
          if (p.kind === 'tenant' && envelope.tenant_id !== p.tenant) continue;
          yield encodeEnvelopeLine(envelope, form);
        }
      }
      return reply.type('application/x-ndjson; charset=utf-8').send(Readable.from(lines()));
    },
  );

  app.get(
    '/api/ledger/verify',
    { schema: { summary: "Verify the ledger's hash chain", tags: ['ledger'] } },
    async () => ledger.verify(),
  );

  chainRepairRoute(app, ctx, 'ledger');
}
