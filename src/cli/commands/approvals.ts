/**
 * `kerno approvals ls|approve|reject`: against the daemon, or a store with --store (the decision
 * is recorded as made by the local CLI user).
 *
 * @module
 */
import type { Command } from 'commander';
import type { Approval, ApprovalDecision as ApiDecision } from '../../client/index.js';
import { STORE_OPTION, localPrincipal, opts, print, viaStoreOrDaemon } from '../common.js';
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
    .option(...STORE_OPTION)
    .option('--json', 'print JSON')
    .action(async (_o: unknown, cmd: Command) => {
      const o = opts<{ all?: boolean; store?: string }>(cmd);
      const status = o.all === true ? 'all' : 'pending';
      const list = await viaStoreOrDaemon(
        o,
        async (k) => k.approvals.list({ status }),
        (d): Promise<readonly Approval[]> => d.call((api) => api.approvals.list({ status })),
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
        (k) => k.approvals[verb](id, { by: localPrincipal(), ...body }),
        (c): Promise<ApiDecision> => c.call((api) => api.approvals[verb](id, body)),
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
