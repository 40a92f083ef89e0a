// Runs: a searchable, filterable, paged list; and one run's step waterfall with its actions.
import { useState } from 'preact/hooks';
import { api, errorText, withQuery } from '../api.js';
import { count, duration, localTime, money, oneLine, toMs } from '../format.js';
import { href, navigate, useLoad, useNow, type Route } from '../hooks.js';
import type { LiveEvent } from '../live.js';
import {
  RUN_STATUSES,
  type Approval,
  type StoredRecovery,
  type RunDetail,
  type RunStep,
  type RunSummary,
} from '../types.js';
import { Checked, Dialog, Empty, ErrorNote, Expand, Status, parseJsonInput } from '../ui/parts.js';
import { RecoveryStory } from './agents.js';

const FINAL = new Set(['completed', 'failed', 'cancelled']);
const PAGE = 25;

const isRunEvent = (e: LiveEvent): boolean =>
  e.event.type === 'ToolExecutionStarted' || e.event.type === 'ToolExecutionFinished';

/** The tokens and cost of a run: its own figures, or the sum of its steps' results. */
export function usage(
  run: RunSummary & { steps?: readonly RunStep[]; usage?: RunDetail['usage'] },
): {
  tokens?: number;
  cost?: number;
} {
  if (run.usage !== undefined && run.usage.costMicrodollars > 0)
    return { tokens: run.usage.tokens, cost: run.usage.costMicrodollars / 1e6 };
  let tokens = run.tokens;
  let cost = run.costUsd ?? run.cost;
  if ((tokens === undefined || cost === undefined) && run.steps !== undefined) {
    let t = 0;
    let c = 0;
    let any = false;
    for (const s of run.steps) {
      const u = stepUsage(s);
      if (u.tokens !== undefined) {
        t += u.tokens;
        any = true;
      }
      if (u.cost !== undefined) {
        c += u.cost;
        any = true;
      }
    }
    if (any) {
      tokens ??= t;
      cost ??= c;
    }
  }
  return { ...(tokens === undefined ? {} : { tokens }), ...(cost === undefined ? {} : { cost }) };
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** A step's tokens and cost: its own figures or those its result reports. */
export function stepUsage(s: RunStep): { tokens?: number; cost?: number } {
  const r = (typeof s.result === 'object' && s.result !== null ? s.result : {}) as Record<
    string,
    unknown
  >;
  const usageField = (
    typeof r['usage'] === 'object' && r['usage'] !== null ? r['usage'] : {}
  ) as Record<string, unknown>;
  const micro =
    s.usage?.costMicrodollars ?? num(r['cost_microdollars']) ?? num(r['costMicrodollars']);
  if (s.usage !== undefined)
    return {
      ...(s.usage.tokens === undefined ? {} : { tokens: s.usage.tokens }),
      ...(micro === undefined ? {} : { cost: micro / 1e6 }),
    };
  const tokens =
    s.tokens ??
    num(r['tokens']) ??
    num(usageField['tokens']) ??
    (num(usageField['inputTokens']) !== undefined || num(usageField['outputTokens']) !== undefined
      ? (num(usageField['inputTokens']) ?? 0) + (num(usageField['outputTokens']) ?? 0)
      : undefined);
  const cost = s.costUsd ?? num(r['costUsd']) ?? num(r['cost']) ?? num(usageField['costUsd']);
  return { ...(tokens === undefined ? {} : { tokens }), ...(cost === undefined ? {} : { cost }) };
}

function runDuration(run: RunSummary, now: number): number | undefined {
  const start = toMs(run.startedAt);
  if (start === undefined) return undefined;
  return (toMs(run.endedAt) ?? now) - start;
}

interface Filters {
  agent: string;
  status: string;
  tenant: string;
  q: string;
  since: string;
  until: string;
}

function filtersOf(route: Route): Filters {
  const g = (k: string): string => route.query.get(k) ?? '';
  return {
    agent: g('agent'),
    status: g('status'),
    tenant: g('tenant'),
    q: g('q'),
    since: g('since'),
    until: g('until'),
  };
}

/** datetime-local text → RFC 3339 (the API's time filters). */
function isoOf(local: string): string | undefined {
  if (local === '') return undefined;
  const ms = Date.parse(local);
  return Number.isFinite(ms) ? new Date(ms).toISOString() : undefined;
}

export function RunsPage({ route }: { route: Route }) {
  const filters = filtersOf(route);
  const cursor = route.query.get('cursor') ?? '';
  const [draft, setDraft] = useState<Filters>(filters);
  const key = JSON.stringify(filters) + cursor;
  const list = useLoad(
    () =>
      listRuns(
        withQuery('/api/runs', {
          agent: filters.agent,
          status: filters.status,
          tenant: filters.tenant,
          q: filters.q,
          since: isoOf(filters.since),
          until: isoOf(filters.until),
          cursor,
          limit: PAGE,
        }),
      ),
    [key],
    { everyMs: 5000, refreshOn: isRunEvent },
  );
  const now = useNow(1000);
  const set = (k: keyof Filters) => (e: Event) =>
    setDraft({ ...draft, [k]: (e.currentTarget as HTMLInputElement).value });
  const apply = (f: Filters, c?: string): void =>
    navigate('/runs', { ...f, ...(c === undefined ? {} : { cursor: c }) });
  const runs = list.data?.runs ?? [];
  // The server pages with a cursor; a daemon without paging answers every run at once.
  const paged = list.data !== undefined && runs.length > PAGE && list.data.nextCursor === undefined;
  const shown = paged ? runs.slice(0, PAGE) : runs;
  return (
    <section class="card">
      <div class="title-row">
        <h1>Runs</h1>
        <Checked at={list.checkedAt} error={list.error} onRefresh={list.reload} />
      </div>
      <form
        class="filters"
        role="search"
        onSubmit={(e) => {
          e.preventDefault();
          apply(draft);
        }}
      >
        <label>
          Search <input name="q" value={draft.q} onInput={set('q')} placeholder="run id or agent" />
        </label>
        <label>
          Agent <input name="agent" value={draft.agent} onInput={set('agent')} />
        </label>
        <label>
          Status
          <select name="status" value={draft.status} onChange={set('status')}>
            <option value="">any</option>
            {RUN_STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tenant <input name="tenant" value={draft.tenant} onInput={set('tenant')} />
        </label>
        <label>
          From{' '}
          <input type="datetime-local" name="since" value={draft.since} onInput={set('since')} />
        </label>
        <label>
          To <input type="datetime-local" name="until" value={draft.until} onInput={set('until')} />
        </label>
        <div class="buttons">
          <button type="submit">Apply</button>
          <button
            type="button"
            class="ghost"
            onClick={() => {
              const empty = { agent: '', status: '', tenant: '', q: '', since: '', until: '' };
              setDraft(empty);
              apply(empty);
            }}
          >
            Clear
          </button>
        </div>
      </form>
      {shown.length === 0 && list.data !== undefined ? (
        <Empty>
          No runs match. Runs appear here when an agent defined with kernel.define starts.
        </Empty>
      ) : (
        <div class="table-wrap">
          <table class="runs stack">
            <thead>
              <tr>
                <th>Run</th>
                <th>Agent</th>
                <th>Status</th>
                <th>Started</th>
                <th>Duration</th>
                <th>Tokens</th>
                <th>Cost</th>
                <th>Tenant</th>
              </tr>
            </thead>
            <tbody>
              {shown.map((r) => {
                const u = usage(r);
                return (
                  <tr key={r.id} data-run={r.id} data-agent={r.agent}>
                    <td>
                      <a href={href(`/runs/${encodeURIComponent(r.id)}`)} class="mono">
                        {r.id.length > 14 ? `${r.id.slice(0, 13)}…` : r.id}
                      </a>
                      {r.forkOf ? <span class="tag">fork</span> : null}
                      {r.rerunOf ? <span class="tag">rerun</span> : null}
                    </td>
                    <td class="name">{r.agent}</td>
                    <td>
                      <Status word={r.status} />
                      {r.error ? (
                        <div class="muted small">{oneLine(r.error.message, 80)}</div>
                      ) : null}
                    </td>
                    <td data-label="started">{localTime(r.startedAt)}</td>
                    <td data-label="took">{duration(runDuration(r, now))}</td>
                    <td data-label="tokens">{count(u.tokens)}</td>
                    <td data-label="cost">{money(u.cost)}</td>
                    <td data-label="tenant">{r.tenant ?? '–'}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
      <div class="pager">
        {cursor !== '' ? (
          <button type="button" class="ghost" onClick={() => apply(filters)}>
            Newest
          </button>
        ) : null}
        {list.data?.nextCursor !== undefined ? (
          <button type="button" onClick={() => apply(filters, list.data?.nextCursor)}>
            Older runs
          </button>
        ) : null}
      </div>
    </section>
  );
}

type Action = 'fork' | 'cancel' | 'signal' | 'resume' | undefined;

/** Finished runs' usage, by id (it no longer changes). */
const usageCache = new Map<string, { tokens?: number; cost?: number }>();

/**
 * A page of runs with each row's tokens and cost: the list has no usage, so the rows' details
 * are read (a finished run's once).
 */
async function listRuns(
  path: string,
): Promise<{ runs: (RunSummary & { usage?: RunDetail['usage'] })[]; nextCursor?: string }> {
  const page = await api<{ runs: RunSummary[]; nextCursor?: string }>(path);
  const runs = await Promise.all(
    page.runs.slice(0, PAGE).map(async (r) => {
      const cached = usageCache.get(r.id);
      if (cached !== undefined) return { ...r, ...cachedFigures(cached) };
      try {
        const d = await api<RunDetail>(`/api/runs/${encodeURIComponent(r.id)}`);
        const u = usage(d);
        if (FINAL.has(d.status)) usageCache.set(r.id, u);
        return { ...r, ...cachedFigures(u) };
      } catch {
        return r;
      }
    }),
  );
  return { ...page, runs: [...runs, ...page.runs.slice(PAGE)] };
}

function cachedFigures(u: { tokens?: number; cost?: number }): {
  tokens?: number;
  costUsd?: number;
} {
  return {
    ...(u.tokens === undefined ? {} : { tokens: u.tokens }),
    ...(u.cost === undefined ? {} : { costUsd: u.cost }),
  };
}

export function RunPage({ id }: { id: string }) {
  const run = useLoad(() => api<RunDetail>(`/api/runs/${encodeURIComponent(id)}`), [id], {
    everyMs: 3000,
    refreshOn: (e) => isRunEvent(e) && e.event['sessionId'] === id,
  });
  const [action, setAction] = useState<Action>(undefined);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const now = useNow(1000);
  const r = run.data;
  const post = async (path: string, body: unknown): Promise<{ id?: string } | undefined> => {
    setBusy(true);
    setError(undefined);
    try {
      return await api<{ id?: string }>(`/api/runs/${encodeURIComponent(id)}/${path}`, {
        method: 'POST',
        body,
      });
    } catch (e) {
      setError(errorText(e));
      return undefined;
    } finally {
      setBusy(false);
      run.reload();
    }
  };
  if (r === undefined)
    return (
      <section class="card">
        <h1>Run {id}</h1>
        <ErrorNote error={run.error} />
        {run.error === undefined ? <p class="muted">Loading…</p> : null}
      </section>
    );
  const final = FINAL.has(r.status);
  const u = usage(r);
  return (
    <>
      <section class="card" data-run-detail={r.id}>
        <p class="crumbs">
          <a href={href('/runs')}>Runs</a> / <span class="mono">{r.id}</span>
        </p>
        <div class="title-row">
          <h1>
            <span class="name">{r.agent}</span> <Status word={r.status} />
          </h1>
          <Checked at={run.checkedAt} error={run.error} onRefresh={run.reload} />
        </div>
        <dl class="facts">
          <dt>Started</dt>
          <dd>{localTime(r.startedAt)}</dd>
          <dt>Duration</dt>
          <dd>{duration(runDuration(r, now))}</dd>
          <dt>Steps</dt>
          <dd>{r.steps.length}</dd>
          <dt>Tokens</dt>
          <dd>{count(u.tokens)}</dd>
          <dt>Cost</dt>
          <dd>{money(u.cost)}</dd>
          {r.tenant ? (
            <>
              <dt>Tenant</dt>
              <dd>{r.tenant}</dd>
            </>
          ) : null}
          {r.forkOf ? (
            <>
              <dt>Forked from</dt>
              <dd>
                <a href={href(`/runs/${encodeURIComponent(r.forkOf.runId)}`)} class="mono">
                  {r.forkOf.runId}
                </a>{' '}
                at step <b>{r.forkOf.fromStep}</b>
              </dd>
            </>
          ) : null}
          {r.rerunOf ? (
            <>
              <dt>Rerun of</dt>
              <dd>
                <a href={href(`/runs/${encodeURIComponent(r.rerunOf)}`)} class="mono">
                  {r.rerunOf}
                </a>
              </dd>
            </>
          ) : null}
          {r.forks && r.forks.length > 0 ? (
            <>
              <dt>Forks</dt>
              <dd>
                {r.forks.map((f) => (
                  <a key={f} class="mono fork-link" href={href(`/runs/${encodeURIComponent(f)}`)}>
                    {f}
                  </a>
                ))}
              </dd>
            </>
          ) : null}
        </dl>
        {r.waitingFor ? <WaitingFor wait={r.waitingFor} now={now} /> : null}
        {r.error ? (
          <p class="error">
            Failed: {r.error.message} {r.error.code ? <code>{r.error.code}</code> : null}
          </p>
        ) : null}
        <div class="actions" role="group" aria-label="Run actions">
          <button
            type="button"
            disabled={busy || r.steps.length === 0}
            onClick={() => setAction('fork')}
          >
            Fork…
          </button>
          <button
            type="button"
            disabled={busy}
            onClick={() =>
              void post('rerun', {}).then((res) => {
                if (res?.id !== undefined) navigate(`/runs/${encodeURIComponent(res.id)}`);
              })
            }
          >
            Rerun
          </button>
          <button
            type="button"
            disabled={busy || !(r.status === 'failed' || r.status === 'cancelled')}
            onClick={() => setAction('resume')}
          >
            Resume…
          </button>
          <button type="button" disabled={busy || final} onClick={() => setAction('signal')}>
            Signal…
          </button>
          <button
            type="button"
            class="danger"
            disabled={busy || final}
            onClick={() => setAction('cancel')}
          >
            Cancel run…
          </button>
        </div>
        <ErrorNote error={error} />
        <div class="io">
          <Expand summary={<>Input: {oneLine(r.input, 100)}</>} value={r.input} />
          {r.config !== undefined ? (
            <Expand summary={<>Config: {oneLine(r.config, 100)}</>} value={r.config} />
          ) : null}
          {r.result !== undefined ? (
            <Expand summary={<>Result: {oneLine(r.result, 100)}</>} value={r.result} />
          ) : null}
        </div>
      </section>
      <section class="card">
        <h2>Steps</h2>
        <Waterfall run={r} now={now} />
      </section>
      <RunExecutions run={r} />
      <RunApprovals run={r} />
      <RunRecoveries run={r} />
      {action === 'fork' ? (
        <ForkDialog
          run={r}
          onClose={() => setAction(undefined)}
          onFork={async (body) => {
            const res = await post('fork', body);
            if (res?.id !== undefined) {
              setAction(undefined);
              navigate(`/runs/${encodeURIComponent(res.id)}`);
            }
          }}
        />
      ) : null}
      {action === 'cancel' ? (
        <ReasonDialog
          title="Cancel this run?"
          label="Why (kept with the run)"
          confirm="Cancel run"
          danger
          onClose={() => setAction(undefined)}
          onConfirm={async (reason) => {
            await post('cancel', reason === '' ? {} : { reason });
            setAction(undefined);
          }}
        />
      ) : null}
      {action === 'resume' ? (
        <ResumeDialog
          run={r}
          onClose={() => setAction(undefined)}
          onResume={async (body) => {
            await post('resume', body);
            setAction(undefined);
          }}
        />
      ) : null}
      {action === 'signal' ? (
        <SignalDialog
          wait={r.waitingFor}
          onClose={() => setAction(undefined)}
          onSend={async (body) => {
            await post('signal', body);
            setAction(undefined);
          }}
        />
      ) : null}
    </>
  );
}

function WaitingFor({ wait, now }: { wait: NonNullable<RunDetail['waitingFor']>; now: number }) {
  if (wait.kind === 'sleep') {
    const until = toMs(wait.until) ?? now;
    return (
      <p class="note">
        Sleeping until {localTime(wait.until)} (
        {until > now ? `in ${duration(until - now)}` : 'now'}).
      </p>
    );
  }
  if (wait.kind === 'signal')
    return (
      <p class="note">
        Waiting for the signal <b>{wait.name}</b>
        {wait.until === null ? '' : ` until ${localTime(wait.until)}`}. Send it with Signal….
      </p>
    );
  return (
    <p class="note">
      Waiting for a person to approve it: <a href={href('/approvals')}>open the approvals inbox</a>.
    </p>
  );
}

/** Whether a step was replayed from the journal (fork prefix, or an earlier execution). */
function replayedOf(run: RunDetail, step: RunStep, index: number): boolean | undefined {
  if (step.copied === true) return true;
  if (step.replayed !== undefined) return step.replayed;
  if (run.forkOf) {
    const from = run.steps.findIndex((s) => s.key === run.forkOf?.fromStep);
    if (from >= 0) return index < from;
  }
  return undefined;
}

function Waterfall({ run, now }: { run: RunDetail; now: number }) {
  if (run.journalPruned)
    return <Empty>Retention removed this finished run's journal; its end record remains.</Empty>;
  if (run.steps.length === 0) return <Empty>No steps recorded yet.</Empty>;
  const runStart = toMs(run.startedAt) ?? run.steps[0]!.atMs;
  const rows = run.steps.map((s, i) => {
    const prevEnd = i === 0 ? runStart : run.steps[i - 1]!.atMs;
    const start = s.startedAtMs ?? (s.durationMs !== undefined ? s.atMs - s.durationMs : prevEnd);
    return { s, i, start, end: s.atMs };
  });
  const end = Math.max(toMs(run.endedAt) ?? now, ...rows.map((r) => r.end));
  // Steps a restart or a resume took from the journal instead of running them again.
  const replayedLater = new Map<string, string>();
  for (const r of run.reopens ?? [])
    for (const k of r.replayed) replayedLater.set(k, `restart ${String(r.n)}`);
  for (const r of run.resumes ?? [])
    for (const k of r.replayed) replayedLater.set(k, `resume ${String(r.n)}`);
  const span = Math.max(1, end - runStart);
  return (
    <ol class="waterfall">
      {rows.map(({ s, i, start, end: stepEnd }) => {
        const replayed = replayedOf(run, s, i);
        const u = stepUsage(s);
        const left = ((start - runStart) / span) * 100;
        const width = Math.max(0.5, ((stepEnd - start) / span) * 100);
        return (
          <li
            key={`${s.key}:${String(s.resume ?? 0)}:${String(i)}`}
            class={`step ${s.status}`}
            data-step={s.key}
          >
            <div class="step-head">
              <span class="step-no">{i + 1}</span>
              <span class="name">{s.key}</span>
              <Status word={s.status === 'completed' ? 'done' : 'failed'} />
              {replayed === true ? (
                <span class="tag replayed" title="copied from the run it was forked from">
                  replayed (copied, not run)
                </span>
              ) : (
                <span class="tag ran">ran</span>
              )}
              {replayedLater.has(s.key) && replayed !== true ? (
                <span class="tag replayed" title="its recorded result was used, not run again">
                  replayed after {replayedLater.get(s.key)}
                </span>
              ) : null}
              {s.superseded === true ? (
                <span class="tag warn">failed here; a resume ran it again</span>
              ) : null}
              {s.resume !== undefined && s.resume > 0 ? (
                <span class="tag">resume {s.resume}</span>
              ) : null}
              {s.attempts > 1 ? (
                <span class="tag warn">
                  {s.attempts} attempts ({s.attempts - 1} retried)
                </span>
              ) : null}
              <span class="muted small">
                {duration(stepEnd - start)} · {localTime(stepEnd)}
                {u.tokens !== undefined ? ` · ${count(u.tokens)} tokens` : ''}
                {u.cost !== undefined ? ` · ${money(u.cost)}` : ''}
              </span>
            </div>
            <div class="bar-track" aria-hidden="true">
              <div
                class="bar"
                style={{ marginLeft: `${left.toFixed(2)}%`, width: `${width.toFixed(2)}%` }}
              />
            </div>
            {s.error ? <p class="error small">{s.error.message}</p> : null}
            {s.result !== undefined ? (
              <Expand summary={<>Output: {oneLine(s.result, 90)}</>} value={s.result} />
            ) : null}
          </li>
        );
      })}
    </ol>
  );
}

function RunApprovals({ run }: { run: RunDetail }) {
  const gates = useLoad(
    () => api<{ approvals: Approval[] }>('/api/approvals?status=all'),
    [run.id, run.status],
    { refreshOn: (e) => e.event.type.startsWith('Approval') },
  );
  const journalGates = new Set(
    (run.journal ?? [])
      .filter((j) => j.type === 'approval' && typeof j['gate'] === 'string')
      .map((j) => String(j['gate'])),
  );
  if (run.waitingFor?.kind === 'approval') journalGates.add(run.waitingFor.gate);
  const mine = (gates.data?.approvals ?? []).filter(
    (a) =>
      journalGates.has(a.gateId) ||
      journalGates.has(a.id) ||
      a.request.context_data.some((c) => c.value === run.id),
  );
  if (mine.length === 0) return null;
  return (
    <section class="card">
      <h2>Approvals in this run</h2>
      <ul class="plain">
        {mine.map((a) => (
          <li key={a.id}>
            <b>{a.request.summary}</b> —{' '}
            {a.decision === null ? (
              <a href={href('/approvals')}>waiting for a decision</a>
            ) : (
              <>
                {a.decision.approved ? 'approved' : 'rejected'} by {a.decision.decidedBy} at{' '}
                {localTime(a.decision.decidedAt)}
                {a.decision.reason ? `: ${a.decision.reason}` : ''}
              </>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}

const HEAL_WORDS: Record<string, string> = {
  retry: 'ran the failed step again',
  patch_forward: 'resumed with a patched config',
  rollback: 'resumed with the last config that worked',
  escalate: 'parked the run and asked a person',
};

/** Resumes and restarts (what replayed, what ran), and self-healing's decisions, in sentences. */
function RunExecutions({ run }: { run: RunDetail }) {
  const resumes = run.resumes ?? [];
  const reopens = run.reopens ?? [];
  const notes = run.recovery ?? [];
  if (resumes.length === 0 && reopens.length === 0 && notes.length === 0) return null;
  const list = (keys: readonly string[]): string => (keys.length === 0 ? 'none' : keys.join(', '));
  return (
    <section class="card" data-executions>
      <h2>What happened to this run</h2>
      <ul class="plain history">
        {reopens.map((r) => (
          <li key={`o${String(r.n)}`} data-reopen={r.n}>
            <b>{localTime(r.at)}</b> — executed again from its journal after a restart ({r.owner}).
            Replayed without running: <span class="name-list">{list(r.replayed)}</span>. Ran:{' '}
            <span class="name-list">{list(r.ran)}</span>.
          </li>
        ))}
        {resumes.map((r) => (
          <li key={`r${String(r.n)}`} data-resume={r.n}>
            <b>{localTime(r.at)}</b> — resumed by {r.by}
            {r.reason ? ` (${r.reason})` : ''}. Replayed: {list(r.replayed)}. Ran again:{' '}
            {list(r.ran)}.
          </li>
        ))}
        {notes.map((n) => (
          <li key={`h${String(n.n)}`} data-heal={n.action}>
            <b>{localTime(n.at)}</b> — self-healing{' '}
            {Object.hasOwn(HEAL_WORDS, n.action) ? HEAL_WORDS[n.action] : n.action}
            {n.step ? (
              <>
                {' '}
                for step <span class="name">{n.step}</span>
              </>
            ) : null}
            {n.failureClass ? ` (${n.failureClass} failure)` : ''}: {n.rationale}
            {n.gate ? (
              <>
                {' '}
                — <a href={href('/approvals')}>see the approval</a>
              </>
            ) : null}
          </li>
        ))}
      </ul>
    </section>
  );
}

function RunRecoveries({ run }: { run: RunDetail }) {
  const rec = useLoad(
    () =>
      api<{ runs: StoredRecovery[] }>(withQuery('/api/recovery', { agent: run.agent, limit: 50 })),
    [run.id, run.status],
    { refreshOn: (e) => e.event.type === 'RecoveryDecided' },
  );
  const mine = (rec.data?.runs ?? [])
    .map((r) => r.log)
    .filter((l) => l.run_id === run.id || l.run_id.startsWith(`${run.id}:`));
  if (mine.length === 0) return null;
  return (
    <section class="card">
      <h2>Self-healing for this run</h2>
      {mine.map((l) => (
        <RecoveryStory key={l.run_id} log={l} />
      ))}
    </section>
  );
}

function ReasonDialog({
  title,
  label,
  confirm,
  danger = false,
  required = false,
  onClose,
  onConfirm,
}: {
  title: string;
  label: string;
  confirm: string;
  danger?: boolean;
  required?: boolean;
  onClose: () => void;
  onConfirm: (reason: string) => Promise<void>;
}) {
  const [reason, setReason] = useState('');
  const [busy, setBusy] = useState(false);
  return (
    <Dialog title={title} onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          void onConfirm(reason.trim()).finally(() => setBusy(false));
        }}
      >
        <label class="block">
          {label}
          <textarea
            name="reason"
            rows={3}
            autofocus
            required={required}
            maxLength={2000}
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
        </label>
        <div class="buttons">
          <button
            type="submit"
            class={danger ? 'danger' : ''}
            disabled={busy || (required && reason.trim() === '')}
          >
            {confirm}
          </button>
          <button type="button" class="ghost" onClick={onClose}>
            Back
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export { ReasonDialog };

function ForkDialog({
  run,
  onClose,
  onFork,
}: {
  run: RunDetail;
  onClose: () => void;
  onFork: (body: { fromStep: string; input?: unknown; config?: unknown }) => Promise<void>;
}) {
  const choices = run.steps.filter((s) => s.superseded !== true);
  const [fromStep, setFromStep] = useState(choices[Math.min(2, choices.length - 1)]?.key ?? '');
  const [input, setInput] = useState(JSON.stringify(run.input ?? null, null, 2));
  const [config, setConfig] = useState(
    run.config === undefined ? '' : JSON.stringify(run.config, null, 2),
  );
  const [error, setError] = useState<string | undefined>(undefined);
  const [busy, setBusy] = useState(false);
  const originalInput = JSON.stringify(run.input ?? null, null, 2);
  const originalConfig = run.config === undefined ? '' : JSON.stringify(run.config, null, 2);
  return (
    <Dialog title="Fork this run" onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const i = parseJsonInput(input, 'The input');
          const c = parseJsonInput(config, 'The config');
          if (i.error !== undefined || c.error !== undefined) {
            setError(i.error ?? c.error);
            return;
          }
          const body: { fromStep: string; input?: unknown; config?: unknown } = { fromStep };
          if (input !== originalInput && i.value !== undefined) body.input = i.value;
          if (config !== originalConfig && c.value !== undefined) body.config = c.value;
          setBusy(true);
          void onFork(body).finally(() => setBusy(false));
        }}
      >
        <p class="muted">
          The steps before the chosen one are copied and replay without running again (no tokens
          spent); the chosen step and everything after it run live.
        </p>
        <label class="block">
          Run live from step
          <select
            name="fromStep"
            value={fromStep}
            onChange={(e) => setFromStep(e.currentTarget.value)}
          >
            {run.steps.map((s, i) =>
              s.superseded === true ? null : (
                <option key={`${s.key}:${String(i)}`} value={s.key}>
                  {i + 1}. {s.key}
                </option>
              ),
            )}
          </select>
        </label>
        <label class="block">
          Input (JSON; leave as is to keep it)
          <textarea
            name="input"
            rows={5}
            class="mono"
            value={input}
            onInput={(e) => setInput(e.currentTarget.value)}
          />
        </label>
        <label class="block">
          Config (JSON; empty keeps the run's)
          <textarea
            name="config"
            rows={4}
            class="mono"
            value={config}
            onInput={(e) => setConfig(e.currentTarget.value)}
          />
        </label>
        <ErrorNote error={error} />
        <div class="buttons">
          <button type="submit" disabled={busy || fromStep === ''}>
            Fork from step {run.steps.findIndex((s) => s.key === fromStep) + 1}
          </button>
          <button type="button" class="ghost" onClick={onClose}>
            Back
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function ResumeDialog({
  run,
  onClose,
  onResume,
}: {
  run: RunDetail;
  onClose: () => void;
  onResume: (body: { config?: unknown; reason?: string }) => Promise<void>;
}) {
  const original = run.config === undefined ? '' : JSON.stringify(run.config, null, 2);
  const [config, setConfig] = useState(original);
  const [reason, setReason] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  return (
    <Dialog title="Resume this run" onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const c = parseJsonInput(config, 'The config');
          if (c.error !== undefined) {
            setError(c.error);
            return;
          }
          const body: { config?: unknown; reason?: string } = {};
          if (config !== original && c.value !== undefined) body.config = c.value;
          if (reason.trim() !== '') body.reason = reason.trim();
          void onResume(body);
        }}
      >
        <p class="muted">Finished steps replay from the journal; the failed step runs again.</p>
        <label class="block">
          Config (JSON; edit to resume with a changed config)
          <textarea
            name="config"
            rows={5}
            class="mono"
            value={config}
            onInput={(e) => setConfig(e.currentTarget.value)}
          />
        </label>
        <label class="block">
          Why (optional)
          <input name="reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </label>
        <ErrorNote error={error} />
        <div class="buttons">
          <button type="submit">Resume</button>
          <button type="button" class="ghost" onClick={onClose}>
            Back
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function SignalDialog({
  wait,
  onClose,
  onSend,
}: {
  wait: RunDetail['waitingFor'];
  onClose: () => void;
  onSend: (body: { name: string; payload?: unknown }) => Promise<void>;
}) {
  const [name, setName] = useState(wait?.kind === 'signal' ? wait.name : '');
  const [payload, setPayload] = useState('');
  const [error, setError] = useState<string | undefined>(undefined);
  return (
    <Dialog title="Send a signal" onClose={onClose}>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          const p = parseJsonInput(payload, 'The payload');
          if (p.error !== undefined) {
            setError(p.error);
            return;
          }
          void onSend({
            name: name.trim(),
            ...(p.value === undefined ? {} : { payload: p.value }),
          });
        }}
      >
        <label class="block">
          Signal name
          <input
            name="name"
            required
            value={name}
            onInput={(e) => setName(e.currentTarget.value)}
          />
        </label>
        <label class="block">
          Payload (JSON, optional)
          <textarea
            name="payload"
            rows={4}
            class="mono"
            value={payload}
            onInput={(e) => setPayload(e.currentTarget.value)}
          />
        </label>
        <ErrorNote error={error} />
        <div class="buttons">
          <button type="submit" disabled={name.trim() === ''}>
            Send
          </button>
          <button type="button" class="ghost" onClick={onClose}>
            Back
          </button>
        </div>
      </form>
    </Dialog>
  );
}
