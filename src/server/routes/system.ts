/**
 * /health (no auth), /metrics (Prometheus) and /api/openapi.json.
 *
 * @module
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from '../context.js';
import { parsePrometheusText } from '../../telemetry/otlp.js';
import { telemetrySamples } from '../../telemetry/telemetry.js';

/** Gathers the metric lines; parts added later contribute through `extraMetrics`. */
export type MetricsSource = () => Promise<string[]> | string[];

/** Registers the system routes. */
export function systemRoutes(
  app: FastifyInstance,
  ctx: ServerContext,
  options: { openapi: () => unknown; metrics: MetricsSource[] },
): void {
  app.get(
    '/health',
    { schema: { summary: 'Liveness: no auth', tags: ['system'] } },
    async (_req, reply) => {
      const head = await ctx.kernel.audit.head();
      // The root supervisor gave up: the kernel cannot start agents, so it is not healthy.
      const escalated = ctx.kernel.supervisor.status === 'escalated';
      if (escalated) void reply.code(503);
      return {
        status: escalated ? 'unhealthy' : 'ok',
        version: ctx.version,
        store: ctx.kernel.storage.kind,
        uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
        auditHead: head.seq,
      };
    },
  );

  // The Prometheus text of every metric: what /metrics serves and OTLP metric export sends.
  const prometheus = {
    render: async (): Promise<string> => {
      const k = ctx.kernel;
      const bus = k.bus.stats();
      const feed = ctx.feed.stats();
      const mem = process.memoryUsage();
      const [auditHead, ledgerHead] = await Promise.all([k.audit.head(), k.ledger.head()]);
      const learning = k.learning.stats();
      const lines = [
        metric('kerno_bus_published_total', 'counter', 'Kernel events published', bus.published),
        metric(
          'kerno_bus_handler_errors_total',
          'counter',
          'Bus handlers that threw',
          bus.handlerErrors,
        ),
        metric(
          'kerno_bus_subscriptions',
          'gauge',
          'Iterator subscriptions on the bus',
          bus.subscriptions,
        ),
        ...transportMetrics(bus),
        metric('kerno_audit_head_seq', 'gauge', 'Entries in the audit trail', auditHead.seq),
        metric(
          'kerno_audit_failed_writes_total',
          'counter',
          'Audit entries that could not be written',
          k.audit.stats().failedWrites,
        ),
        metric(
          'kerno_audit_write_retries_total',
          'counter',
          'Audit writes that failed and were retried',
          k.audit.stats().retries,
        ),
        metric(
          'kerno_audit_outages_total',
          'counter',
          'Runs of failed audit writes (each ended by a durable one, or still going)',
          k.audit.stats().outages,
        ),
        metric(
          'kerno_audit_in_outage',
          'gauge',
          'Whether the audit trail cannot write now (1) or writes (0)',
          k.audit.stats().inOutage ? 1 : 0,
        ),
        metric(
          'kerno_audit_pending',
          'gauge',
          'Audit entries held, not yet durable',
          k.audit.stats().pending,
        ),
        metric(
          'kerno_ledger_head_position',
          'gauge',
          'Records in the experience ledger',
          ledgerHead.seq,
        ),
        metric(
          'kerno_approvals_pending',
          'gauge',
          'Approval gates waiting for a human',
          k.approvals.list().length,
        ),
        metric(
          'kerno_learning_patterns',
          'gauge',
          'Patterns in the learning store',
          learning.patternCount,
        ),
        metric(
          'kerno_learning_trajectories',
          'gauge',
          'Trajectories in the learning store',
          learning.trajectoryCount,
        ),
        metric('kerno_sse_clients', 'gauge', 'Connected event-stream clients', feed.clients),
        metric(
          'kerno_sse_delivered_total',
          'counter',
          'Events delivered to event-stream clients',
          feed.delivered,
        ),
        metric(
          'kerno_sse_cut_off_total',
          'counter',
          'Event-stream clients cut off for falling behind',
          feed.cutOff,
        ),
        ...agentMetrics(k.supervisor.list()),
        metric(
          'kerno_agents_abandoned_total',
          'counter',
          'In-process agent runs abandoned after ignoring their abort signal',
          k.supervisor.stats().abandoned,
        ),
        metric('process_resident_memory_bytes', 'gauge', 'Resident memory', mem.rss),
        metric('nodejs_heap_used_bytes', 'gauge', 'V8 heap in use', mem.heapUsed),
      ];
      for (const sample of telemetrySamples(k.telemetry)) {
        if (sample.type !== 'histogram')
          lines.push(metric(sample.name, sample.type, sample.help, sample.value, sample.labels));
      }
      for (const source of options.metrics) lines.push(...(await source()));
      return lines.join('');
    },
  };
  // The same metrics via OTLP, when the OTEL_* variables configure metric export.
  ctx.kernel.telemetry?.exportMetrics(async () => parsePrometheusText(await prometheus.render()));

  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics', tags: ['system'] } },
    async (_req, reply) =>
      reply.type('text/plain; version=0.0.4; charset=utf-8').send(await prometheus.render()),
  );

  app.get(
    '/api/openapi.json',
    {
      config: { scope: 'tenant' },
      schema: { summary: 'This API, described in OpenAPI 3.1', tags: ['system'] },
    },
    () => options.openapi(),
  );
}

/** Counters of a bus that spans processes (NATS), when it has them. */
function transportMetrics(stats: object): string[] {
  const s = stats as Partial<
    Record<'remoteReceived' | 'acked' | 'pendingPublications' | 'reconnects', number>
  >;
  const out: string[] = [];
  if (s.remoteReceived !== undefined)
    out.push(
      metric(
        'kerno_bus_remote_received_total',
        'counter',
        'Events received from other kernels',
        s.remoteReceived,
      ),
    );
  if (s.acked !== undefined)
    out.push(
      metric(
        'kerno_bus_acked_total',
        'counter',
        'Publications acknowledged by the transport',
        s.acked,
      ),
    );
  if (s.pendingPublications !== undefined)
    out.push(
      metric(
        'kerno_bus_pending_publications',
        'gauge',
        'Publications not yet acknowledged',
        s.pendingPublications,
      ),
    );
  if (s.reconnects !== undefined)
    out.push(
      metric(
        'kerno_bus_reconnects_total',
        'counter',
        'Reconnections to the transport',
        s.reconnects,
      ),
    );
  return out;
}

function agentMetrics(agents: readonly { status: string; restarts: number }[]): string[] {
  const byStatus = new Map<string, number>();
  let restarts = 0;
  for (const a of agents) {
    byStatus.set(a.status, (byStatus.get(a.status) ?? 0) + 1);
    restarts += a.restarts;
  }
  const lines = ['# HELP kerno_agents Supervised agents by status\n# TYPE kerno_agents gauge\n'];
  for (const status of ['starting', 'running', 'idle', 'stopped', 'failed']) {
    lines.push(`kerno_agents{status="${status}"} ${byStatus.get(status) ?? 0}\n`);
  }
  lines.push(
    metric(
      'kerno_agent_restarts_total',
      'counter',
      'Restarts of the agents the kernel knows',
      restarts,
    ),
  );
  return lines;
}

/** One Prometheus metric in text exposition format. */
export function metric(
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  value: number,
  labels?: Readonly<Record<string, string>>,
): string {
  const l =
    labels === undefined
      ? ''
      : '{' +
        Object.entries(labels)
          .map(
            ([k, v]) => `${k}="${v.replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : '\\' + c))}"`,
          )
          .join(',') +
        '}';
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${l} ${value}\n`;
}
