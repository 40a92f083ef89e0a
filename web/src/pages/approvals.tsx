// The approvals inbox: pending gates with the reason in plain words, local times and a
// countdown; approve, or reject through a dialog with a reason; and the decided gates' history.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText } from '../api.js';
import { countdown, localTime, rationaleSentences, timeoutWords } from '../format.js';
import { useLoad, useNow } from '../hooks.js';
import { agentNames, type LiveEvent } from '../live.js';
import type { Approval } from '../types.js';
import { Checked, Empty, ErrorNote } from '../ui/parts.js';
import { ReasonDialog } from './runs.js';

const isApprovalEvent = (e: LiveEvent): boolean => e.event.type.startsWith('Approval');

function who(a: Approval): string {
  return a.agentName ?? agentNames.get(a.request.agent_id) ?? a.request.agent_id;
}

/** Why the gate is open, as a sentence. */
function whySentence(a: Approval): string {
  const agent = who(a);
  if (a.origin === 'escalation')
    return `Self-healing could not fix ${agent} on its own and asks a person whether to restart it.`;
  return `${agent} asks before it goes on.`;
}

export function ApprovalsPage() {
  const pending = useLoad(() => api<{ approvals: Approval[] }>('/api/approvals'), [], {
    everyMs: 5000,
    refreshOn: isApprovalEvent,
  });
  const decided = useLoad(
    () => api<{ approvals: Approval[] }>('/api/approvals?status=decided'),
    [],
    { everyMs: 15000, refreshOn: isApprovalEvent },
  );
  const now = useNow(1000);
  const [rejecting, setRejecting] = useState<Approval | undefined>(undefined);
  const [busy, setBusy] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const decide = async (
    a: Approval,
    verdict: 'approve' | 'reject',
    reason?: string,
  ): Promise<void> => {
    setBusy(a.id);
    setError(undefined);
    try {
      await api(`/api/approvals/${encodeURIComponent(a.id)}/${verdict}`, {
        method: 'POST',
        body: { note: 'dashboard', ...(reason === undefined || reason === '' ? {} : { reason }) },
      });
    } catch (e) {
      setError(`${a.request.summary}: ${errorText(e)}`);
    } finally {
      setBusy(undefined);
      pending.reload();
      decided.reload();
    }
  };
  const list = pending.data?.approvals ?? [];
  const history = (decided.data?.approvals ?? [])
    .slice()
    .sort((x, y) => (y.decision?.decidedAt ?? '').localeCompare(x.decision?.decidedAt ?? ''));
  return (
    <>
      <section class="card">
        <div class="title-row">
          <h1>Waiting for you</h1>
          <Checked at={pending.checkedAt} error={pending.error} onRefresh={pending.reload} />
        </div>
        <ErrorNote error={error} />
        {list.length === 0 && pending.data !== undefined ? (
          <Empty>Nothing is waiting for a decision.</Empty>
        ) : null}
        <ul class="approvals">
          {list.map((a) => (
            <li key={a.id} class="approval" data-approval={a.id}>
              <h2 class="summary">{a.request.summary}</h2>
              <p>{whySentence(a)}</p>
              {a.request.rationale ? (
                <ul class="rationale">
                  {rationaleSentences(a.request.rationale).map((line, i) => (
                    <li key={i}>{line}</li>
                  ))}
                </ul>
              ) : null}
              {a.reason && a.reason !== a.request.summary && a.reason !== a.request.rationale ? (
                <p class="rationale">{a.reason}</p>
              ) : null}
              {a.request.context_data.length > 0 ? (
                <dl class="facts">
                  {a.request.context_data.map((c, i) => (
                    <Fragment key={i}>
                      <dt>{c.label}</dt>
                      <dd>{c.value}</dd>
                    </Fragment>
                  ))}
                </dl>
              ) : null}
              <p class="meta">
                Asked at {localTime(a.request.requested_at)} by <span class="name">{who(a)}</span>
                {a.action !== '' ? (
                  <>
                    {' '}
                    to <b>{a.action}</b>
                    {a.resource !== '' ? (
                      <>
                        {' '}
                        on <b>{a.resource}</b>
                      </>
                    ) : null}
                  </>
                ) : null}
                .{' '}
                {a.escalated ? (
                  <b>Its time ran out; it stays open until someone decides.</b>
                ) : (
                  <span class="countdown" title={localTime(a.deadlineMs)}>
                    If nobody decides, it {timeoutWords(a.request.timeout.action)}{' '}
                    {countdown(a.deadlineMs, now)} (at {localTime(a.deadlineMs)}).
                  </span>
                )}
              </p>
              <div class="buttons">
                <button
                  type="button"
                  class="approve"
                  disabled={busy === a.id}
                  onClick={() => void decide(a, 'approve')}
                >
                  Approve
                </button>
                <button
                  type="button"
                  class="reject danger"
                  disabled={busy === a.id}
                  onClick={() => setRejecting(a)}
                >
                  Reject…
                </button>
              </div>
            </li>
          ))}
        </ul>
      </section>
      <section class="card">
        <div class="title-row">
          <h2>Decided</h2>
          <Checked at={decided.checkedAt} error={decided.error} />
        </div>
        {history.length === 0 ? <Empty>No decisions yet.</Empty> : null}
        <ul class="history">
          {history.map((a) => (
            <li key={a.id} data-decided={a.id} class={a.decision?.approved ? 'ok' : 'bad'}>
              <b>{a.request.summary}</b>
              <div class="meta">
                {a.decision === null ? (
                  'decided'
                ) : (
                  <>
                    {a.decision.approved ? 'Approved' : 'Rejected'}
                    {a.decision.timedOut ? (
                      ' by the timeout'
                    ) : (
                      <>
                        {' '}
                        by <span class="name">{a.decision.decidedBy}</span>
                      </>
                    )}{' '}
                    at {localTime(a.decision.decidedAt)}
                    {a.decision.reason ? (
                      <>
                        , because: <q>{a.decision.reason}</q>
                      </>
                    ) : null}
                    {a.decision.note && a.decision.note !== 'dashboard'
                      ? ` (note: ${a.decision.note})`
                      : ''}
                  </>
                )}{' '}
                · asked by <span class="name">{who(a)}</span> at {localTime(a.request.requested_at)}
              </div>
            </li>
          ))}
        </ul>
      </section>
      {rejecting !== undefined ? (
        <ReasonDialog
          title={`Reject “${rejecting.request.summary}”`}
          label="Why? The agent and the audit trail get this reason."
          confirm="Reject"
          danger
          required
          onClose={() => setRejecting(undefined)}
          onConfirm={async (reason) => {
            const a = rejecting;
            setRejecting(undefined);
            await decide(a, 'reject', reason);
          }}
        />
      ) : null}
    </>
  );
}
