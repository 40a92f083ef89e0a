/**
 * kerno as an MCP server (the official `@modelcontextprotocol/sdk`, loaded on first use): tools
 * over the kernel's public API — keyed approvals, the ledger, learning recall, durable runs —
 * and resources for the audit head (with its verification) and the agent list.
 *
 * A session is one principal, as at the HTTP API: without `tenantId` it acts as an admin token
 * does; with `tenantId` it is confined as a tenant token is (only the ledger tools, only that
 * tenant's records, shown without positions or another record's hash). Errors are MCP tool
 * errors (`isError`) carrying kerno's error code, message and hint.
 *
 * @example
 * const server = await createMcpServer(kernel, { identity: 'stdio' });
 * await server.connect(transport);
 *
 * @module
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import type { CallToolResult, ReadResourceResult } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { ERROR_HINTS, KernelError, errorMessage, isKernelError } from '../errors.js';
import type { ExperienceEvent } from '../formats/converge-experience-event.js';
import type { UserExperienceEvent } from '../formats/converge-user-event.js';
import type { Kernel, KernelCore } from '../kernel.js';
import {
  LEDGER_EVENT_KINDS,
  tenantLedgerRecord,
  type LedgerEventKind,
  type LedgerRecord,
} from '../ledger/ledger.js';
import { definitionsView, loadDefinitions } from '../runs/definitions.js';
import { authorize, confineTenant, type Principal, type RouteScope } from '../server/auth.js';
import { formatTimestamp } from '../util/time.js';
import { loadMcpSdk } from './sdk.js';

/** Options for {@link createMcpServer}. */
export interface McpServerOptions {
  /**
   * Who the session acts as: the deciding token's label at the daemon, `stdio` for `kerno mcp`.
   * Recorded as the requester of the approvals it opens.
   */
  readonly identity: string;
  /** Confine the session to this tenant, as a tenant token is at the API. */
  readonly tenantId?: string | undefined;
  /** The version the server reports (default `0.0.0`). */
  readonly version?: string;
}

/** The longest a `request_approval` call waits for a decision before answering `pending`. */
export const MAX_APPROVAL_WAIT_MS = 50_000;
/** How long `request_approval` waits when the call does not say (`waitMs`). */
export const DEFAULT_APPROVAL_WAIT_MS = 25_000;

const INTERNAL_MESSAGE = 'The kernel failed; see its log for details';

/** The tool names, with the API scope each needs (the same as its HTTP route's). */
export const MCP_TOOLS: Readonly<Record<string, RouteScope>> = Object.freeze({
  request_approval: 'admin',
  approvals_list: 'admin',
  ledger_append: 'tenant',
  ledger_query: 'tenant',
  learning_recall: 'admin',
  run_start: 'admin',
  run_get: 'admin',
  run_signal: 'admin',
});

const text = (max: number) => z.string().min(1).max(max);
const tenantArg = z.string().max(200).nullable().optional();

/** Builds an MCP server on `kernel` (not connected; call `connect(transport)`). */
export async function createMcpServer(
  kernel: Kernel | KernelCore,
  options: McpServerOptions,
): Promise<McpServer> {
  const sdk = await loadMcpSdk();
  const principal: Principal =
    options.tenantId === undefined
      ? { kind: 'admin', reveal: false, label: options.identity }
      : { kind: 'tenant', tenant: options.tenantId, label: options.identity };
  const server = new sdk.McpServer(
    { name: 'kerno', version: options.version ?? '0.0.0' },
    {
      instructions:
        'kerno: a kernel for AI-agent systems. request_approval asks a human and is keyed: when it answers "pending", call it again with the same key to keep waiting or get the decision.',
    },
  );

  /** Runs a tool body with the session's authorization, mapping errors to tool errors. */
  const guarded =
    <A>(name: string, body: (args: A, signal: AbortSignal) => Promise<object>) =>
    async (args: A, extra: { signal: AbortSignal }): Promise<CallToolResult> => {
      try {
        authorize(principal, MCP_TOOLS[name] ?? 'admin');
        return ok(await body(args, extra.signal));
      } catch (error) {
        return failed(error, kernel, name);
      }
    };
  const allowed = (name: string): boolean => {
    try {
      authorize(principal, MCP_TOOLS[name] ?? 'admin');
      return true;
    } catch {
      return false;
    }
  };
  const shown = (r: LedgerRecord): object =>
    principal.kind === 'admin' ? r : tenantLedgerRecord(r);

  if (allowed('request_approval')) {
    server.registerTool(
      'request_approval',
      {
        title: 'Ask a human for approval',
        description:
          'Opens an approval gate (or finds the one with this key) and waits up to waitMs for the decision. Answers status approved or rejected with the decision, or pending: then call again with the same key — the gate stays open and the decision is kept.',
        inputSchema: {
          key: text(200).describe('a stable key for this request, e.g. deploy:v42'),
          summary: text(2000).describe('one line a human can decide on'),
          rationale: z.string().max(8000).optional(),
          action: text(200).optional().describe('the action needing approval'),
          resource: text(500).optional().describe('the resource involved'),
          agent: text(200)
            .optional()
            .describe('the asking agent’s stable name (default "mcp"); keys are per agent'),
          waitMs: z
            .number()
            .int()
            .min(0)
            .optional()
            .describe(
              `how long to wait for the decision before answering pending (default ${DEFAULT_APPROVAL_WAIT_MS}, at most ${MAX_APPROVAL_WAIT_MS})`,
            ),
          timeoutSecs: z
            .number()
            .int()
            .positive()
            .max(365 * 86_400)
            .optional()
            .describe('when the gate’s timeout policy applies (default 1800 s)'),
          timeoutAction: z.enum(['Reject', 'Approve', 'Escalate']).optional(),
        },
      },
      guarded('request_approval', async (a, signal) => {
        const agent = a.agent ?? 'mcp';
        const gate = await kernel.approvals.open({
          agentId: options.identity,
          agentName: `mcp:${agent}`,
          key: a.key,
          summary: a.summary,
          origin: 'agent',
          ...(a.rationale === undefined ? {} : { rationale: a.rationale }),
          ...(a.action === undefined ? {} : { action: a.action }),
          ...(a.resource === undefined ? {} : { resource: a.resource }),
          ...(a.timeoutSecs === undefined && a.timeoutAction === undefined
            ? {}
            : {
                timeout: {
                  timeout_secs: a.timeoutSecs ?? 1800,
                  action: a.timeoutAction ?? 'Reject',
                },
              }),
        });
        const waitMs = Math.min(a.waitMs ?? DEFAULT_APPROVAL_WAIT_MS, MAX_APPROVAL_WAIT_MS);
        const decision = gate.decision ?? (await waitBounded(kernel, gate.id, waitMs, signal));
        const base = {
          key: a.key,
          agent,
          id: gate.id,
          gateId: gate.gateId,
          deadline: formatTimestamp(gate.deadlineMs),
        };
        if (decision === null) {
          return {
            status: 'pending',
            ...base,
            escalated: kernel.approvals.get(gate.id)?.escalated ?? false,
            next: `No decision yet: call request_approval again with key ${JSON.stringify(a.key)}${agent === 'mcp' ? '' : ` and agent ${JSON.stringify(agent)}`} to keep waiting`,
          };
        }
        return { status: decision.approved ? 'approved' : 'rejected', ...base, decision };
      }),
    );
  }

  if (allowed('approvals_list')) {
    server.registerTool(
      'approvals_list',
      {
        title: 'List approval gates',
        description: 'Approval gates, oldest first (default: the pending ones).',
        inputSchema: { status: z.enum(['pending', 'decided', 'all']).optional() },
      },
      guarded('approvals_list', async (a) => ({
        approvals: kernel.approvals.list({ status: a.status ?? 'pending' }),
      })),
    );
  }

  server.registerTool(
    'ledger_append',
    {
      title: 'Append to the experience ledger',
      description:
        'Appends a converge ExperienceEvent or UserExperienceEvent ({"type":"…","data":{…}}), stamped by the kernel clock unless occurredAt is given. The same eventId and content again is a no-op.',
      inputSchema: {
        event: z
          .object({ type: text(100) })
          .passthrough()
          .describe('{"type": "<event kind>", "data": {…}}'),
        eventId: text(256).optional(),
        occurredAt: text(64).optional(),
        tenantId: tenantArg,
        correlationId: z.string().max(200).nullable().optional(),
      },
    },
    guarded('ledger_append', async (a) => {
      const tenant = confineTenant(principal, a.tenantId);
      const record = await kernel.ledger.append(
        a.event as unknown as ExperienceEvent | UserExperienceEvent,
        {
          ...(a.eventId === undefined ? {} : { eventId: a.eventId }),
          ...(a.occurredAt === undefined ? {} : { occurredAt: a.occurredAt }),
          ...(tenant === undefined ? {} : { tenantId: tenant }),
          ...(a.correlationId === undefined ? {} : { correlationId: a.correlationId }),
        },
      );
      return { record: shown(record) };
    }),
  );

  server.registerTool(
    'ledger_query',
    {
      title: 'Query the experience ledger',
      description: 'Ledger records, oldest first; with limit, the newest matches (default 100).',
      inputSchema: {
        tenantId: z.string().max(200).optional(),
        kinds: z
          .array(z.enum(LEDGER_EVENT_KINDS as [LedgerEventKind, ...LedgerEventKind[]]))
          .optional(),
        from: z.union([z.string().max(64), z.number().int().min(0)]).optional(),
        to: z.union([z.string().max(64), z.number().int().min(0)]).optional(),
        correlationId: z.string().max(200).optional(),
        chainId: z.string().max(200).optional(),
        limit: z.number().int().min(1).max(10_000).optional(),
      },
    },
    guarded('ledger_query', async (a) => {
      const tenant = confineTenant(principal, a.tenantId);
      const records = await kernel.ledger.query({
        tenantId: tenant ?? undefined,
        kinds: a.kinds,
        timeRange: { start: a.from, end: a.to },
        correlationId: a.correlationId,
        chainId: a.chainId,
        limit: a.limit ?? 100,
      });
      return { records: records.map(shown) };
    }),
  );

  if (allowed('learning_recall')) {
    server.registerTool(
      'learning_recall',
      {
        title: 'Recall learned patterns',
        description:
          'The learned patterns most similar to a query (TF-IDF cosine, weighted by success and quality).',
        inputSchema: {
          query: text(4000),
          k: z.number().int().min(1).max(1000).optional(),
          domain: z.string().max(200).optional(),
        },
      },
      guarded('learning_recall', async (a) => ({
        hits: kernel.learning.recall(a.query, {
          k: a.k ?? 5,
          ...(a.domain === undefined ? {} : { domain: a.domain }),
        }),
      })),
    );
  }

  if (allowed('run_start')) {
    server.registerTool(
      'run_start',
      {
        title: 'Start a durable run',
        description:
          'Starts a run of a defined agent; with id, starting the same id again returns the same run.',
        inputSchema: {
          agent: text(128),
          input: z.unknown().optional(),
          id: text(200).optional(),
        },
      },
      guarded('run_start', async (a) => {
        const run = await runner(kernel).start(
          a.agent,
          a.input,
          a.id === undefined ? {} : { id: a.id },
        );
        return { id: run.id, run: await kernel.runs.get(run.id) };
      }),
    );
    server.registerTool(
      'run_get',
      {
        title: 'A run with its journal',
        description:
          'A durable run: status, input, result or error, what it waits for, and its journal’s steps.',
        inputSchema: { id: text(200) },
      },
      guarded('run_get', async (a) => ({ run: await kernel.runs.get(a.id) })),
    );
    server.registerTool(
      'run_signal',
      {
        title: 'Signal a run',
        description:
          'Sends a durable signal into a run (ctx.waitForSignal takes it); with signalId, sending it again is delivered once.',
        inputSchema: {
          id: text(200),
          name: text(200),
          payload: z.unknown().optional(),
          signalId: text(200).optional(),
        },
      },
      guarded('run_signal', async (a) => {
        await runner(kernel).signal(
          a.id,
          a.name,
          a.payload,
          a.signalId === undefined ? {} : { id: a.signalId },
        );
        return { id: a.id, signal: a.name };
      }),
    );
  }

  if (principal.kind === 'admin') {
    server.registerResource(
      'audit',
      'kerno://audit',
      {
        title: 'Audit trail head and verification',
        description:
          "The audit trail's head (keep it to detect truncation) and a verification of its hash chain.",
        mimeType: 'application/json',
      },
      async (uri) => {
        const [head, verification] = await Promise.all([
          kernel.audit.head(),
          kernel.audit.verify(),
        ]);
        return json(uri.href, { head, verification });
      },
    );
    server.registerResource(
      'agents',
      'kerno://agents',
      {
        title: 'Agents',
        description:
          'Supervised agents (status, restarts) and the stored durable agent definitions (name and version).',
        mimeType: 'application/json',
      },
      async (uri) => {
        const supervised = 'supervisor' in kernel ? kernel.supervisor.list() : [];
        const stored = await loadDefinitions(definitionsView(kernel.storage.log), () => undefined);
        return json(uri.href, {
          supervised,
          durable: stored.map((d) => ({ name: d.name, version: d.version ?? '1' })),
        });
      },
    );
  }
  return server;
}

/** The kernel's run starter, or SERVICE_UNAVAILABLE for a kernel that runs no agents. */
function runner(kernel: Kernel | KernelCore): Pick<Kernel, 'start' | 'signal'> {
  if ('start' in kernel) return kernel;
  throw new KernelError(
    'SERVICE_UNAVAILABLE',
    'This MCP server opened the store without running agents (`kerno mcp --store`), so it cannot start or signal runs; use the daemon’s /mcp endpoint (`kerno up`) for runs',
  );
}

/** Waits up to `ms` (kernel clock) for gate `id`; `null` if still undecided then. */
async function waitBounded(
  kernel: Kernel | KernelCore,
  id: string,
  ms: number,
  signal: AbortSignal,
): Promise<Awaited<ReturnType<KernelCore['approvals']['wait']>> | null> {
  if (ms <= 0) return null;
  const stop = new AbortController();
  const onAbort = (): void => stop.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  const timer = kernel.clock.setTimeout(() => stop.abort(), ms);
  try {
    return await kernel.approvals.wait(id, stop.signal);
  } catch (error) {
    if (stop.signal.aborted) return null;
    throw error;
  } finally {
    kernel.clock.clearTimeout(timer);
    signal.removeEventListener('abort', onAbort);
  }
}

function ok(value: object): CallToolResult {
  return {
    content: [{ type: 'text', text: JSON.stringify(value) }],
    structuredContent: value as Record<string, unknown>,
  };
}

function json(uri: string, value: unknown): ReadResourceResult {
  return { contents: [{ uri, mimeType: 'application/json', text: JSON.stringify(value) }] };
}

/** A tool error with kerno's code; an internal error's message stays in the log. */
function failed(error: unknown, kernel: Kernel | KernelCore, tool: string): CallToolResult {
  const known = isKernelError(error) && error.code !== 'INTERNAL';
  if (!known) kernel.logger.error('An MCP tool failed', { tool, error: errorMessage(error) });
  const code = known ? error.code : 'INTERNAL';
  const message = known ? error.message : INTERNAL_MESSAGE;
  const hint = ERROR_HINTS[code];
  return {
    isError: true,
    content: [{ type: 'text', text: `${code}: ${message}\n${hint}` }],
    structuredContent: {
      error: {
        code,
        message,
        hint,
        ...(known && error.details !== undefined ? { details: error.details } : {}),
      },
    },
  };
}
