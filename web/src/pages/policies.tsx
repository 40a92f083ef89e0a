// Policies: budgets (use vs limit, with a chart; breached ones in red) and the runs paused at a
// budget with raise / stop; queues (limits with slots in use and queued runs); schedules with
// their next fire time; approval rules with their history; and an editor for any policy (JSON,
// guarded by If-Match, the validator's message shown). Every string is rendered as text.
import { useState } from 'preact/hooks';
import { api, errorText } from '../api.js';
import { localTime } from '../format.js';
import { href, useLoad } from '../hooks.js';
import type { LiveEvent } from '../live.js';
import type { Approval } from '../types.js';
import { BarChart } from '../ui/chart.js';
import { Checked, Dialog, Empty, ErrorNote, parseJsonInput } from '../ui/parts.js';

type Resource = 'tokens' | 'costMicros' | 'calls';

/** One row of GET /api/budgets. */
interface BudgetRow {
  readonly budget: string;
  readonly version: number;
  readonly scope: string;
  readonly period: 'window' | 'run';
  readonly windowMs: number | null;
  readonly resource: Resource;
  readonly used: number;
  readonly limit: number;
  readonly percent: number;
  readonly breached: boolean;
  readonly run?: string;
}

/** One entry of GET /api/queues. */
interface LimitQueue {
  readonly limit: string;
  readonly spec: { agent?: string; key?: string; maxConcurrent?: number; ratePerSec?: number };
  readonly inUse: number;
  readonly queued: readonly {
    runId: string;
    step?: string;
    agent?: string;
    priority: number;
    position: number;
  }[];
}

/** One entry of GET /api/schedules. */
interface ScheduleInfo {
  readonly name: string;
  readonly version: number;
  readonly spec: {
    agent: string;
    cron?: string;
    everyMs?: number;
    timeZone: string;
    paused: boolean;
    missed: string;
  };
  readonly nextFireAt: string | null;
  readonly nextFireLocal: string | null;
  readonly lastFiredAt: string | null;
  readonly lastRunId: string | null;
}

/** A policy version (GET /api/policies, …/history). */
interface PolicyVersion<S = unknown> {
  readonly kind: string;
  readonly name: string;
  readonly version: number;
  readonly spec: S | null;
  readonly updatedAt: number;
  readonly updatedBy: string;
  readonly reason: string | null;
}

interface RuleSpec {
  readonly effect: 'allow' | 'deny' | 'ask';
  readonly match?: Record<string, unknown>;
  readonly priority?: number;
  readonly description?: string;
}

const RED = '#e05050';

/** 12.5%, 250%, 5.6k% (an axis label stays short however far over the limit). */
function percentText(v: number): string {
  if (v >= 10_000) return `${(v / 1000).toFixed(0)}k%`;
  return v >= 100 ? `${v.toFixed(0)}%` : `${v.toFixed(1)}%`;
}
const AMBER = '#e0a040';

function amount(resource: Resource, v: number): string {
  if (resource !== 'costMicros') return `${v.toLocaleString()} ${resource}`;
  const d = v / 1_000_000;
  return d < 0.1 && d !== 0 ? `$${d.toFixed(4)}` : `$${d.toFixed(2)}`;
}

function periodWords(row: BudgetRow): string {
  if (row.period === 'run') return row.run === undefined ? 'per run' : `per run (top: ${row.run})`;
  return every(row.windowMs ?? 0, 'daily', 'hourly');
}

function every(ms: number, day = 'every day', hour = 'every hour'): string {
  if (ms === 86_400_000) return day;
  if (ms === 3_600_000) return hour;
  if (ms > 0 && ms % 86_400_000 === 0) return `${String(ms / 86_400_000)} days`;
  if (ms > 0 && ms % 3_600_000 === 0) return `${String(ms / 3_600_000)} hours`;
  if (ms >= 60_000) return `${String(Math.round(ms / 60_000))} minutes`;
  return `${String(Math.round(ms / 1000))} s`;
}

/** `budget/<name>@<version>/<resource>` of a budget gate. */
function gateBudget(a: Approval): { budget: string; resource: Resource } | undefined {
  const m = /^budget\/(.+)@\d+\/(tokens|costMicros|calls)$/.exec(a.resource);
  return m === null ? undefined : { budget: m[1]!, resource: m[2] as Resource };
}

const isPolicyEvent = (e: LiveEvent): boolean =>
  e.event.type.startsWith('Approval') ||
  e.event.type === 'ConfigChange' ||
  e.event.type.startsWith('Run') ||
  e.event.type.startsWith('Outcome');

function BudgetGate({
  gate,
  rows,
  onDone,
}: {
  gate: Approval;
  rows: readonly BudgetRow[];
  onDone: () => void;
}) {
  const what = gateBudget(gate);
  const row = rows.find((r) => r.budget === what?.budget && r.resource === what.resource);
  const [limit, setLimit] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const money = what?.resource === 'costMicros';
  const inputId = `raise-${gate.id}`;
  const decide = async (approve: boolean): Promise<void> => {
    let limits: Record<string, number> | undefined;
    if (approve && limit.trim() !== '' && what !== undefined) {
      const n = Number(limit.trim().replace(/^\$/, ''));
      if (!Number.isFinite(n) || n < 0) {
        setError(`The new limit must be a number${money ? ' of dollars' : ''}, e.g. 10`);
        return;
      }
      limits = { [what.resource]: Math.round(money ? n * 1_000_000 : n) };
    }
    setBusy(true);
    setError(undefined);
    try {
      await api(`/api/budgets/gates/${encodeURIComponent(gate.id)}`, {
        method: 'POST',
        body: {
          approve,
          ...(limits === undefined ? {} : { limits }),
          reason: approve ? 'raised in the dashboard' : 'stopped in the dashboard',
        },
      });
      onDone();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <li class="approval" data-budget-gate={gate.id}>
      <h3 class="summary">{gate.request.summary}</h3>
      <p>{gate.request.rationale}</p>
      {row === undefined ? null : (
        <p class="muted">
          Used {amount(row.resource, row.used)} of {amount(row.resource, row.limit)}
        </p>
      )}
      <ErrorNote error={error} />
      <form
        class="actions budget-raise"
        onSubmit={(e) => {
          e.preventDefault();
          void decide(true);
        }}
      >
        <label for={inputId}>New limit{money ? ' ($)' : ''}</label>
        <input
          id={inputId}
          inputMode="decimal"
          placeholder="blank: ×factor"
          title="Leave blank to raise by the budget's raise factor"
          value={limit}
          onInput={(e) => setLimit(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Raise and resume
        </button>
        <button type="button" class="danger" disabled={busy} onClick={() => void decide(false)}>
          Stop the run
        </button>
      </form>
    </li>
  );
}

function Budgets({ onEdit }: { onEdit: (kind: string, name: string) => void }) {
  const rows = useLoad(() => api<{ budgets: BudgetRow[] }>('/api/budgets'), [], {
    everyMs: 5000,
    refreshOn: isPolicyEvent,
  });
  const gates = useLoad(() => api<{ approvals: Approval[] }>('/api/approvals'), [], {
    everyMs: 5000,
    refreshOn: isPolicyEvent,
  });
  const list = rows.data?.budgets ?? [];
  const paused = (gates.data?.approvals ?? []).filter((a) => a.action === 'budget.raise');
  const reload = (): void => {
    rows.reload();
    gates.reload();
  };
  return (
    <section class="card" aria-labelledby="budgets-title">
      <div class="title-row">
        <h2 id="budgets-title">Budgets</h2>
        <Checked at={rows.checkedAt} error={rows.error ?? gates.error} onRefresh={reload} />
      </div>
      {paused.length > 0 ? (
        <>
          <h3>Runs paused at a budget</h3>
          <ul class="approvals">
            {paused.map((a) => (
              <BudgetGate key={a.id} gate={a} rows={list} onDone={reload} />
            ))}
          </ul>
        </>
      ) : null}
      {list.length === 0 && rows.data !== undefined ? (
        <Empty>
          No budgets. Cap an agent at $5 a day with{' '}
          <code>
            kerno policies set budget research-daily --spec
            {" '"}
            {'{"agent":"research","costMicros":5000000,"windowMs":86400000}'}
            {"'"}
          </code>
        </Empty>
      ) : null}
      {list.length > 0 ? (
        <BarChart
          title="Spent, % of limit (red: limit reached)"
          names={list.map((r) => `${r.budget} (${r.resource})`)}
          values={list.map((r) => r.percent)}
          color={AMBER}
          colors={list.map((r) => (r.breached ? RED : AMBER))}
          format={percentText}
        />
      ) : null}
      {list.length > 0 ? (
        <div class="table-wrap">
          <table class="stack budgets">
            <thead>
              <tr>
                <th>budget</th>
                <th>scope</th>
                <th>period</th>
                <th class="num">used</th>
                <th class="num">limit</th>
                <th class="num">%</th>
                <th>
                  <span class="sr-only">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((r) => (
                <tr key={`${r.budget}/${r.period}/${r.resource}`} data-budget={r.budget}>
                  <td data-label="budget" class="break">
                    {r.budget}
                  </td>
                  <td data-label="scope" class="break">
                    {r.scope}
                  </td>
                  <td data-label="period">{periodWords(r)}</td>
                  <td data-label="used" class="num">
                    {amount(r.resource, r.used)}
                  </td>
                  <td data-label="limit" class="num">
                    {amount(r.resource, r.limit)}
                  </td>
                  <td data-label="spent" class="num">
                    <span class={r.breached ? 'status s-failed' : 'status s-completed'}>
                      {r.percent.toFixed(1)}%{r.breached ? ' reached' : ''}
                    </span>
                  </td>
                  <td>
                    <button
                      type="button"
                      class="ghost small"
                      onClick={() => onEdit('budget', r.budget)}
                    >
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function Queues({ onEdit }: { onEdit: (kind: string, name: string) => void }) {
  const q = useLoad(() => api<{ queues: LimitQueue[] }>('/api/queues'), [], {
    everyMs: 5000,
    refreshOn: isPolicyEvent,
  });
  const list = q.data?.queues ?? [];
  return (
    <section class="card" aria-labelledby="queues-title">
      <div class="title-row">
        <h2 id="queues-title">Queues and limits</h2>
        <Checked at={q.checkedAt} error={q.error} onRefresh={q.reload} />
      </div>
      {list.length === 0 && q.data !== undefined ? (
        <Empty>
          No limits. Allow two research runs at once with{' '}
          <code>
            kerno policies set limit research --spec {"'"}
            {'{"agent":"research","maxConcurrent":2}'}
            {"'"}
          </code>
        </Empty>
      ) : null}
      {list.map((l) => (
        <div key={l.limit} class="queue" data-queue={l.limit}>
          <h3>
            {l.limit}{' '}
            <span class="muted small">
              {l.spec.agent !== undefined ? `agent ${l.spec.agent}` : `key ${l.spec.key ?? '?'}`}
              {' · '}
              {l.spec.maxConcurrent === undefined
                ? `${String(l.inUse)} running`
                : `${String(l.inUse)} of ${String(l.spec.maxConcurrent)} slots in use`}
              {l.spec.ratePerSec === undefined ? '' : ` · ${String(l.spec.ratePerSec)}/s`}
            </span>{' '}
            <button type="button" class="ghost small" onClick={() => onEdit('limit', l.limit)}>
              Edit
            </button>
          </h3>
          {l.queued.length === 0 ? (
            <Empty>Nothing queued.</Empty>
          ) : (
            <ol class="queued">
              {l.queued.map((e) => (
                <li key={`${e.runId}/${e.step ?? ''}`}>
                  <a href={href(`/runs/${encodeURIComponent(e.runId)}`)} class="mono break">
                    {e.runId}
                  </a>
                  {e.step === undefined ? '' : ` step ${e.step}`}
                  {e.agent === undefined ? '' : ` · ${e.agent}`}
                  <span class="muted">
                    {' '}
                    · position {e.position} · priority {e.priority}
                  </span>
                </li>
              ))}
            </ol>
          )}
        </div>
      ))}
    </section>
  );
}

function Schedules({ onEdit }: { onEdit: (kind: string, name: string) => void }) {
  const s = useLoad(() => api<{ schedules: ScheduleInfo[] }>('/api/schedules'), [], {
    everyMs: 10000,
    refreshOn: isPolicyEvent,
  });
  const list = s.data?.schedules ?? [];
  return (
    <section class="card" aria-labelledby="schedules-title">
      <div class="title-row">
        <h2 id="schedules-title">Schedules</h2>
        <Checked at={s.checkedAt} error={s.error} onRefresh={s.reload} />
      </div>
      {list.length === 0 && s.data !== undefined ? (
        <Empty>
          No schedules. Start a research run every morning with{' '}
          <code>kerno schedules add morning --agent research --cron &apos;0 8 * * *&apos;</code>
        </Empty>
      ) : null}
      {list.length > 0 ? (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th>schedule</th>
                <th>agent</th>
                <th>when</th>
                <th>next fire (your time · UTC)</th>
                <th>last run</th>
                <th>
                  <span class="sr-only">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((x) => (
                <tr key={x.name} data-schedule={x.name}>
                  <td data-label="schedule" class="break">
                    {x.name}
                    {x.spec.paused ? (
                      <>
                        {' '}
                        <span class="status s-cancelled">paused</span>
                      </>
                    ) : null}
                  </td>
                  <td data-label="agent">{x.spec.agent}</td>
                  <td data-label="when" class="mono">
                    {x.spec.cron !== undefined
                      ? `${x.spec.cron} (${x.spec.timeZone})`
                      : `every ${every(x.spec.everyMs ?? 0, 'day', 'hour')}`}
                  </td>
                  <td data-label="next">
                    {x.nextFireAt === null ? (
                      <span class="muted">{x.spec.paused ? 'paused' : 'never again'}</span>
                    ) : (
                      <>
                        {localTime(x.nextFireAt)}
                        <br />
                        <span class="muted small mono">{x.nextFireAt}</span>
                      </>
                    )}
                  </td>
                  <td data-label="last run">
                    {x.lastRunId === null ? (
                      <span class="muted">none yet</span>
                    ) : (
                      <a href={href(`/runs/${encodeURIComponent(x.lastRunId)}`)} class="mono break">
                        {x.lastRunId}
                      </a>
                    )}
                  </td>
                  <td>
                    <button
                      type="button"
                      class="ghost small"
                      onClick={() => onEdit('schedule', x.name)}
                    >
                      Edit
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

function History({ kind, name }: { kind: string; name: string }) {
  const h = useLoad(
    () =>
      api<{ versions: PolicyVersion[] }>(
        `/api/policies/${encodeURIComponent(kind)}/${encodeURIComponent(name)}/history`,
      ),
    [kind, name],
  );
  if (h.error !== undefined) return <ErrorNote error={h.error} />;
  if (h.data === undefined) return <p class="muted">loading…</p>;
  return (
    <ol class="history" reversed>
      {[...h.data.versions].reverse().map((v) => (
        <li key={v.version}>
          version {v.version} · {localTime(v.updatedAt)} · by {v.updatedBy}
          {v.reason === null ? '' : ` · ${v.reason}`}
          {v.spec === null ? ' · deleted' : null}
          {v.spec === null ? null : <pre class="mono small">{JSON.stringify(v.spec, null, 2)}</pre>}
        </li>
      ))}
    </ol>
  );
}

function Rules({ onEdit }: { onEdit: (kind: string, name: string) => void }) {
  const r = useLoad(
    () => api<{ policies: PolicyVersion<RuleSpec>[] }>('/api/policies?kind=rule'),
    [],
    { everyMs: 15000, refreshOn: isPolicyEvent },
  );
  const [open, setOpen] = useState<string | undefined>(undefined);
  const list = (r.data?.policies ?? []).filter((p) => p.spec !== null);
  return (
    <section class="card" aria-labelledby="rules-title">
      <div class="title-row">
        <h2 id="rules-title">Approval rules</h2>
        <Checked at={r.checkedAt} error={r.error} onRefresh={r.reload} />
      </div>
      {list.length === 0 && r.data !== undefined ? (
        <Empty>
          No rules: every action is allowed. Ask before deploys with{' '}
          <code>
            kerno policies set rule ask-deploy --spec {"'"}
            {'{"effect":"ask","match":{"action":"deploy"}}'}
            {"'"}
          </code>
        </Empty>
      ) : null}
      {list.length > 0 ? (
        <div class="table-wrap">
          <table class="stack">
            <thead>
              <tr>
                <th>rule</th>
                <th>effect</th>
                <th>match</th>
                <th class="num">priority</th>
                <th class="num">version</th>
                <th>
                  <span class="sr-only">actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {list.map((p) => [
                <tr key={p.name} data-rule={p.name}>
                  <td data-label="rule" class="break">
                    {p.name}
                    {p.spec?.description === undefined ? null : (
                      <div class="muted small">{p.spec.description}</div>
                    )}
                  </td>
                  <td data-label="effect">
                    <span
                      class={`status ${p.spec?.effect === 'deny' ? 's-failed' : p.spec?.effect === 'ask' ? 's-pending' : 's-completed'}`}
                    >
                      {p.spec?.effect}
                    </span>
                  </td>
                  <td data-label="match" class="mono break">
                    {p.spec?.match === undefined ? 'everything' : JSON.stringify(p.spec.match)}
                  </td>
                  <td data-label="priority" class="num">
                    {p.spec?.priority ?? 0}
                  </td>
                  <td data-label="version" class="num">
                    {p.version}
                  </td>
                  <td class="row-actions">
                    <button
                      type="button"
                      class="ghost small"
                      aria-expanded={open === p.name}
                      onClick={() => setOpen(open === p.name ? undefined : p.name)}
                    >
                      History
                    </button>
                    <button
                      type="button"
                      class="ghost small"
                      onClick={() => onEdit('rule', p.name)}
                    >
                      Edit
                    </button>
                  </td>
                </tr>,
                open === p.name ? (
                  <tr key={`${p.name}/history`}>
                    <td colSpan={6}>
                      <History kind="rule" name={p.name} />
                    </td>
                  </tr>
                ) : null,
              ])}
            </tbody>
          </table>
        </div>
      ) : null}
    </section>
  );
}

const KINDS = ['budget', 'rule', 'schedule', 'limit'] as const;

/** Edits (or creates) a policy as JSON; PUT with If-Match, the validator's message shown. */
function EditDialog({
  kind: startKind,
  name: startName,
  onClose,
  onSaved,
}: {
  kind: string;
  name: string;
  onClose: () => void;
  onSaved: () => void;
}) {
  const creating = startName === '';
  const [kind, setKind] = useState(startKind);
  const [name, setName] = useState(startName);
  const [text, setText] = useState('');
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const current = useLoad(async () => {
    if (creating) return { version: 0 };
    const p = await api<PolicyVersion>(
      `/api/policies/${encodeURIComponent(startKind)}/${encodeURIComponent(startName)}`,
    );
    setText(JSON.stringify(p.spec, null, 2));
    return { version: p.version };
  }, [startKind, startName]);
  const version = current.data?.version;
  const save = async (): Promise<void> => {
    const parsed = parseJsonInput(text, 'The policy');
    if (parsed.error !== undefined) return setError(parsed.error);
    if (parsed.value === undefined || typeof parsed.value !== 'object' || parsed.value === null) {
      return setError('The policy must be a JSON object, e.g. {"effect":"allow"}');
    }
    if (name.trim() === '') return setError('Give the policy a name');
    setBusy(true);
    setError(undefined);
    try {
      const q = reason.trim() === '' ? '' : `?reason=${encodeURIComponent(reason.trim())}`;
      await api(
        `/api/policies/${encodeURIComponent(kind)}/${encodeURIComponent(name.trim())}${q}`,
        {
          method: 'PUT',
          body: parsed.value,
          headers: { 'if-match': `"${String(version ?? 0)}"` },
        },
      );
      onSaved();
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <Dialog title={creating ? 'New policy' : `Edit ${startKind} ${startName}`} onClose={onClose}>
      <form
        class="policy-form"
        onSubmit={(e) => {
          e.preventDefault();
          void save();
        }}
      >
        {creating ? (
          <>
            <label for="policy-kind">Kind</label>
            <select id="policy-kind" value={kind} onChange={(e) => setKind(e.currentTarget.value)}>
              {KINDS.map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
            <label for="policy-name">Name</label>
            <input
              id="policy-name"
              value={name}
              autocomplete="off"
              onInput={(e) => setName(e.currentTarget.value)}
            />
          </>
        ) : (
          <p class="muted">
            Version {version ?? '…'}; saving stores version {String((version ?? 0) + 1)} unless
            someone changed it since you opened it.
          </p>
        )}
        <label class="block">
          Policy (JSON)
          <textarea
            rows={12}
            spellcheck={false}
            class="mono"
            data-policy-spec
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
        </label>
        <label class="block">
          Reason (recorded with the version)
          <input
            value={reason}
            maxLength={1000}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
        </label>
        <ErrorNote error={error ?? current.error} />
        <div class="buttons">
          <button type="submit" disabled={busy || version === undefined}>
            Save
          </button>
          <button type="button" class="ghost" onClick={onClose}>
            Cancel
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function PoliciesPage() {
  const [editing, setEditing] = useState<{ kind: string; name: string } | undefined>(undefined);
  const [saved, setSaved] = useState(0);
  const onEdit = (kind: string, name: string): void => setEditing({ kind, name });
  return (
    <>
      <section class="card">
        <div class="title-row">
          <h1>Policies</h1>
          <button type="button" onClick={() => onEdit('budget', '')}>
            New policy
          </button>
        </div>
        <p class="muted">
          Budgets, limits, schedules and approval rules the kernel enforces. Every change is a new
          version, recorded in the audit trail.
        </p>
      </section>
      <Budgets key={`b${String(saved)}`} onEdit={onEdit} />
      <Queues key={`q${String(saved)}`} onEdit={onEdit} />
      <Schedules key={`s${String(saved)}`} onEdit={onEdit} />
      <Rules key={`r${String(saved)}`} onEdit={onEdit} />
      {editing === undefined ? null : (
        <EditDialog
          kind={editing.kind}
          name={editing.name}
          onClose={() => setEditing(undefined)}
          onSaved={() => {
            setEditing(undefined);
            setSaved((n) => n + 1);
          }}
        />
      )}
    </>
  );
}
