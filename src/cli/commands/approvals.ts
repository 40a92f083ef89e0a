/**
 * `kerno approvals ls|show|approve|reject`: against the daemon, or a store with --store (the
 * decision is recorded as made by the local CLI user). `show` lists a gate's votes, who may
 * decide it, and the similar earlier requests with their decisions.
 *
 * @module
 */
import type { Command } from 'commander';
import type { ApprovalDecision, PendingApproval } from '../../approvals/approval-gate.js';
import { KernelError } from '../../errors.js';
import type { InboxGate } from '../../server/routes/approvals.js';
import { STORE_OPTION, localPrincipal, opts, print, viaStoreOrDaemon } from '../common.js';
import { escapeControl, formatTable, type CliContext } from '../output.js';

/** The lines `kerno approvals show` prints for a gate. */
export function renderGate(g: InboxGate): string {
  const e = escapeControl;
  const lines = [
    `id:        ${g.id}`,
    `status:    ${g.escalated && g.status === 'pending' ? 'pending (escalated)' : g.status}`,
    `agent:     ${e(g.agentName ?? g.request.agent_id)}`,
    `summary:   ${e(g.request.summary)}`,
    `action:    ${e(g.action)}${g.tool === null ? '' : `  tool: ${e(g.tool)}`}  resource: ${e(g.resource)}`,
    ...(g.tenantId === null ? [] : [`tenant:    ${e(g.tenantId)}`]),
    `requested: ${g.request.requested_at}`,
    `deadline:  ${new Date(g.deadlineMs).toISOString()} (then ${g.request.timeout.action.toLowerCase()}${g.escalateTo === null ? '' : ` to ${g.escalateTo}`})`,
    `deciders:  ${g.deciders.length === 0 ? 'any approver of its tenant' : g.deciders.map((d) => `approver:${d}`).join(', ')}`,
    `approvals: ${g.votes.length}/${g.required}${g.votes.length === 0 ? '' : ` (${g.votes.map((v) => e(v.by)).join(', ')})`}`,
  ];
  if (g.decision !== null) {
    lines.push(
      `decided:   ${g.decision.approved ? 'approved' : 'rejected'} by ${e(g.decision.decidedBy)} at ${g.decision.decidedAt}${g.decision.reason === null ? '' : ` — ${e(g.decision.reason)}`}`,
    );
  }
  let out = lines.join('\n') + '\n';
  out +=
    g.similar.length === 0
      ? '\nno similar requests decided before\n'
      : '\nsimilar requests:\n' +
        formatTable(
          ['decision', 'by', 'at', 'reason', 'id'],
          g.similar.map((s) => [s.decision, s.by, s.at, s.reason ?? '', s.id]),
        );
  return out;
}

/** Registers the `approvals` commands. */
export function registerApprovalCommands(program: Command, ctx: CliContext): void {
  const approvals = program
    .command('approvals')
    .description('list and decide human approval gates');
  approvals
    .command('ls')
    .description('list approval gates (default: pending)')
    .option('--all', 'include decided gates')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ all?: boolean; store?: string }>(cmd);
      const status = o.all === true ? 'all' : 'pending';
      const list = await viaStoreOrDaemon(
        o,
        async (k): Promise<InboxGate[]> =>
          k.approvals.list({ status }).map((g) => ({ ...g, similar: k.approvals.similar(g.id) })),
        async (d) =>
          (await d.json<{ approvals: InboxGate[] }>('GET', `/api/approvals?status=${status}`))
            .approvals,
      );
      print(ctx, o, list, () =>
        list.length === 0
          ? 'no pending approvals\n'
          : {
              headers: [
                'id',
                'status',
                'agent',
                'requested',
                'deadline',
                'approvals',
                'similar',
                'summary',
              ],
              rows: list.map((a) => [
                a.id,
                a.escalated && a.status === 'pending' ? 'pending (escalated)' : a.status,
                a.agentName ?? a.request.agent_id,
                a.request.requested_at,
                new Date(a.deadlineMs).toISOString(),
                `${(a.votes ?? []).length}/${a.required ?? 1}`,
                similarSummary(a.similar ?? []),
                a.request.summary,
              ]),
            },
      );
    });
  approvals
    .command('show <id>')
    .description('one gate: who may decide it, its approvals, and similar earlier requests')
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ store?: string }>(cmd);
      const gate = await viaStoreOrDaemon(
        o,
        async (k): Promise<InboxGate> => {
          const g = k.approvals.get(id);
          if (g === undefined) {
            throw new KernelError(
              'NOT_FOUND',
              `No approval gate ${id}; list the pending ones with \`kerno approvals ls\``,
            );
          }
          return { ...g, similar: k.approvals.similar(g.id) };
        },
        (d) => d.json<InboxGate>('GET', `/api/approvals/${encodeURIComponent(id)}`),
      );
      print(ctx, o, gate, () => renderGate(gate));
    });
  for (const verb of ['approve', 'reject'] as const) {
    const c = approvals
      .command(`${verb} <id>`)
      .description(`${verb} a pending gate`)
      .option('--note <text>', 'a note kept with the decision (decided_by is your token)')
      .option('--by <name>', 'deprecated: kept as the note')
      .option(...STORE_OPTION)
      .option('--json', 'print JSON');
    if (verb === 'reject') c.option('--reason <text>', 'why (recorded in the ledger)');
    c.action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ note?: string; by?: string; reason?: string; store?: string }>(cmd);
      const note = o.note ?? o.by;
      const body = {
        ...(note === undefined ? {} : { note }),
        ...(o.reason === undefined ? {} : { reason: o.reason }),
      };
      const d = await viaStoreOrDaemon(
        o,
        (k): Promise<ApprovalDecision | PendingApproval> =>
          k.approvals[verb](id, { by: localPrincipal(), ...body }),
        (c) =>
          c.json<ApprovalDecision | PendingApproval>(
            'POST',
            `/api/approvals/${encodeURIComponent(id)}/${verb}`,
            body,
          ),
      );
      print(ctx, o, d, () =>
        'status' in d
          ? `approval recorded for ${d.id}: ${d.votes.length} of ${d.required} approvers so far\n`
          : `${d.approved ? 'approved' : 'rejected'} ${d.id} by ${escapeControl(d.decidedBy)} at ${d.decidedAt}\n`,
      );
    });
  }
}

function similarSummary(similar: readonly { decision: string }[]): string {
  if (similar.length === 0) return '';
  const approved = similar.filter((s) => s.decision === 'approved').length;
  return `${approved} approved, ${similar.length - approved} rejected`;
}
