/**
 * `kerno approvals ls|approve|reject`.
 *
 * @module
 */
import type { Command } from 'commander';
import type { ApprovalDecision, ApprovalSnapshot } from '../../approvals/approval-gate.js';
import { daemon, opts, print } from '../common.js';
import type { CliContext } from '../output.js';

/** Registers the `approvals` commands. */
export function registerApprovalCommands(program: Command, ctx: CliContext): void {
  const approvals = program
    .command('approvals')
    .description('list and decide human approval gates');
  approvals
    .command('ls')
    .description('list approval gates (default: pending)')
    .option('--all', 'include decided gates')
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ all?: boolean }>(cmd);
      const { approvals: list } = await daemon(o).json<{ approvals: ApprovalSnapshot[] }>(
        'GET',
        `/api/approvals?status=${o.all === true ? 'all' : 'pending'}`,
      );
      print(ctx, o, list, () =>
        list.length === 0
          ? 'no pending approvals\n'
          : {
              headers: ['id', 'status', 'agent', 'requested', 'deadline', 'summary'],
              rows: list.map((a) => [
                a.id,
                a.escalated && a.status === 'pending' ? 'pending (escalated)' : a.status,
                a.agentName ?? a.request.agent_id,
                a.request.requested_at,
                new Date(a.deadlineMs).toISOString(),
                a.request.summary,
              ]),
            },
      );
    });
  for (const verb of ['approve', 'reject'] as const) {
    const c = approvals
      .command(`${verb} <id>`)
      .description(`${verb} a pending gate`)
      .option('--note <text>', 'a note kept with the decision (decided_by is your token)')
      .option('--by <name>', 'deprecated: kept as the note')
      .option('--json', 'print JSON');
    if (verb === 'reject') c.option('--reason <text>', 'why (recorded in the ledger)');
    c.action(async (id: string, _o: unknown, cmd: Command) => {
      const o = opts<{ note?: string; by?: string; reason?: string }>(cmd);
      const note = o.note ?? o.by;
      const body = {
        ...(note === undefined ? {} : { note }),
        ...(o.reason === undefined ? {} : { reason: o.reason }),
      };
      const d = await daemon(o).json<ApprovalDecision>(
        'POST',
        `/api/approvals/${encodeURIComponent(id)}/${verb}`,
        body,
      );
      print(
        ctx,
        o,
        d,
        () =>
          `${d.approved ? 'approved' : 'rejected'} ${d.id} by ${d.decidedBy} at ${d.decidedAt}\n`,
      );
    });
  }
}
