// Agents: the supervision tree (nested supervisors, groups, kinds) with status words that tell
// completed, killed and failed apart; one agent's output and self-healing history; restart.
import { Fragment } from 'preact';
import { useState } from 'preact/hooks';
import { api, errorText, withQuery } from '../api.js';
import {
  agentStatusHelp,
  agentStatusWord,
  decisionSentence,
  duration,
  localTime,
} from '../format.js';
import { href, useLiveTick, useLoad, useNow } from '../hooks.js';
import { entriesToEvents, events, type LiveEvent } from '../live.js';
import type { Agent, AuditEntry, RecoveryLog, StoredRecovery } from '../types.js';
import { Checked, Empty, ErrorNote, Status } from '../ui/parts.js';

const isAgentEvent = (e: LiveEvent): boolean =>
  /^(Agent|Supervisor|Recovery|Module)/.test(e.event.type);

const LIVE = new Set(['starting', 'running', 'idle']);

/** The last error only while it matters: a healthy agent has recovered from it. */
function currentError(a: Agent): string | null {
  if (LIVE.has(a.status) && a.outcome == null) return null;
  if (a.outcome === 'completed' || a.outcome === 'killed') return null;
  return a.lastError;
}

function healedNote(a: Agent): string | null {
  if (a.restarts === 0 || !LIVE.has(a.status)) return null;
  return a.lastError === null
    ? `running again after ${String(a.restarts)} restart${a.restarts === 1 ? '' : 's'}`
    : `healed: running again after “${a.lastError}”`;
}

interface Group {
  readonly groupId: string;
  readonly size: number;
  readonly done: Map<string, boolean>;
}

/** Agent groups seen on the event stream (members are known as they complete). */
function groupsOf(list: readonly LiveEvent[]): Map<string, Group> {
  const groups = new Map<string, Group>();
  for (const { event } of list) {
    const gid = event['groupId'];
    if (typeof gid !== 'string') continue;
    if (event.type === 'AgentGroupCreated') {
      groups.set(gid, { groupId: gid, size: Number(event['agentCount']), done: new Map() });
    } else if (event.type === 'AgentGroupMemberCompleted') {
      const g = groups.get(gid) ?? { groupId: gid, size: 0, done: new Map<string, boolean>() };
      g.done.set(String(event['agentId']), event['success'] === true);
      groups.set(gid, g);
    }
  }
  return groups;
}

async function restart(a: Agent): Promise<void> {
  await api(`/api/agents/${encodeURIComponent(a.id)}/restart`, { method: 'POST' });
}
async function kill(a: Agent): Promise<void> {
  await api(`/api/agents/${encodeURIComponent(a.id)}`, { method: 'DELETE' });
}

function AgentButtons({ a, onDone }: { a: Agent; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | undefined>(undefined);
  const act = (f: (a: Agent) => Promise<void>) => () => {
    setBusy(true);
    setError(undefined);
    f(a)
      .catch((e: unknown) => setError(errorText(e)))
      .finally(() => {
        setBusy(false);
        onDone();
      });
  };
  if (a.kind === 'supervisor') return null;
  return (
    <span class="row-actions">
      <button type="button" class="small restart" disabled={busy} onClick={act(restart)}>
        Restart
      </button>
      {LIVE.has(a.status) ? (
        <button type="button" class="small ghost kill" disabled={busy} onClick={act(kill)}>
          Stop
        </button>
      ) : null}
      {error !== undefined ? <span class="error small">{error}</span> : null}
    </span>
  );
}

function AgentRow({
  a,
  depth,
  group,
  onDone,
}: {
  a: Agent;
  depth: number;
  group: string | undefined;
  onDone: () => void;
}) {
  const word = agentStatusWord(a);
  const err = currentError(a);
  const healed = healedNote(a);
  return (
    <tr data-agent={a.name} data-status={word} class={`depth-${String(Math.min(depth, 3))}`}>
      <td class="name-cell">
        {depth > 0 ? (
          <span class="indent" aria-hidden="true">
            └{' '}
          </span>
        ) : null}
        <a href={href(`/agents/${encodeURIComponent(a.id)}`)} class="name">
          {a.name}
        </a>
        <span class="tag">{a.kind}</span>
        {group !== undefined ? <span class="tag">{group}</span> : null}
      </td>
      <td>
        <Status word={word} title={agentStatusHelp(word)} />
      </td>
      <td class="num" data-label="restarts">
        {a.restarts}
      </td>
      <td class="error-cell">
        {err !== null ? <span class="bad">{err}</span> : null}
        {healed !== null ? <span class="ok small">{healed}</span> : null}
      </td>
      <td>
        <AgentButtons a={a} onDone={onDone} />
      </td>
    </tr>
  );
}

export function AgentsPage() {
  const list = useLoad(() => api<{ agents: Agent[] }>('/api/agents'), [], {
    everyMs: 5000,
    refreshOn: isAgentEvent,
  });
  useLiveTick((e) => e.event.type.startsWith('AgentGroup'), 500);
  const agents = list.data?.agents ?? [];
  const groups = groupsOf(events());
  const groupOf = new Map<string, string>();
  let n = 0;
  for (const g of groups.values()) {
    n++;
    for (const id of g.done.keys()) groupOf.set(id, `group ${String(n)}`);
  }
  const ids = new Set(agents.map((a) => a.id));
  const children = new Map<string, Agent[]>();
  const roots: Agent[] = [];
  for (const a of agents) {
    if (ids.has(a.supervisorId)) {
      const c = children.get(a.supervisorId) ?? [];
      c.push(a);
      children.set(a.supervisorId, c);
    } else roots.push(a);
  }
  const rows: { a: Agent; depth: number }[] = [];
  const walk = (a: Agent, depth: number): void => {
    rows.push({ a, depth });
    for (const c of children.get(a.id) ?? []) walk(c, depth + 1);
  };
  for (const r of roots) walk(r, 0);
  const counts = new Map<string, number>();
  for (const a of agents) {
    const w = agentStatusWord(a);
    counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return (
    <>
      <section class="card">
        <div class="title-row">
          <h1>Agents</h1>
          <Checked at={list.checkedAt} error={list.error} onRefresh={list.reload} />
        </div>
        <p class="muted">
          {[...counts].map(([w, c]) => `${String(c)} ${w}`).join(' · ') || 'No agents yet.'}
        </p>
        {rows.length === 0 && list.data !== undefined ? (
          <Empty>No agents are supervised.</Empty>
        ) : null}
        <div class="table-wrap">
          <table class="agents stack">
            <thead>
              <tr>
                <th>Agent</th>
                <th>Status</th>
                <th class="num">Restarts</th>
                <th>Last error</th>
                <th>
                  <span class="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map(({ a, depth }) => (
                <AgentRow
                  key={a.id}
                  a={a}
                  depth={depth}
                  group={groupOf.get(a.id)}
                  onDone={list.reload}
                />
              ))}
            </tbody>
          </table>
        </div>
        <details class="legend">
          <summary>What the status words mean</summary>
          <dl class="facts">
            {['running', 'idle', 'starting', 'restarting', 'completed', 'killed', 'failed'].map(
              (w) => (
                <Fragment key={w}>
                  <dt>
                    <Status word={w} />
                  </dt>
                  <dd>{agentStatusHelp(w)}</dd>
                </Fragment>
              ),
            )}
          </dl>
        </details>
      </section>
      {groups.size > 0 ? (
        <section class="card">
          <h2>Agent groups</h2>
          <ul class="plain">
            {[...groups.values()].map((g, i) => {
              const ok = [...g.done.values()].filter(Boolean).length;
              return (
                <li key={g.groupId}>
                  <b>group {i + 1}</b>: {g.size} agents started together; {g.done.size} finished
                  {g.done.size > 0
                    ? ` (${String(ok)} succeeded, ${String(g.done.size - ok)} did not)`
                    : ''}
                  {g.size > 0 && g.done.size >= g.size ? ' — all done.' : '.'}
                </li>
              );
            })}
          </ul>
        </section>
      ) : null}
    </>
  );
}

/** A recovery run told as sentences: what failed, what was tried, how it ended. */
export function RecoveryStory({ log }: { log: RecoveryLog }) {
  const f = log.initial_failure;
  return (
    <article class={`recovery ${log.outcome}`} data-recovery={log.run_id}>
      <p>
        <b>{localTime(log.evaluated_at)}</b> — the <b>{f.stage}</b> stage failed: “{f.message}”
        {f.flaky_hint ? ' (it looked flaky)' : ''}.
      </p>
      <ol>
        {log.decisions.map((d) => (
          <li key={d.attempt}>
            {decisionSentence(d)} <span class="muted">{d.rationale}</span>
          </li>
        ))}
      </ol>
      <p>
        {log.outcome === 'recovered' ? (
          <span class="ok">
            Recovered after {log.attempts_used} attempt{log.attempts_used === 1 ? '' : 's'}.
          </span>
        ) : (
          <span class="bad">
            Not recovered after {log.attempts_used} attempt{log.attempts_used === 1 ? '' : 's'}
            {log.final_failure ? `: still “${log.final_failure.message}”` : ''}.
          </span>
        )}
      </p>
    </article>
  );
}

export function AgentPage({ id }: { id: string }) {
  const agent = useLoad(() => api<Agent>(`/api/agents/${encodeURIComponent(id)}`), [id], {
    everyMs: 5000,
    refreshOn: isAgentEvent,
  });
  const a = agent.data;
  const recoveries = useLoad(
    () =>
      a === undefined
        ? Promise.resolve({ runs: [] as StoredRecovery[] })
        : api<{ runs: StoredRecovery[] }>(withQuery('/api/recovery', { agent: a.name, limit: 50 })),
    [a?.name],
    { refreshOn: (e) => e.event.type === 'RecoveryDecided' },
  );
  useLiveTick((e) => e.event['agentId'] === id || e.event['id'] === id, 300);
  const history = useLoad(async (): Promise<LiveEvent[]> => {
    const { entries } = await api<{ entries: AuditEntry[] }>(
      withQuery('/api/audit', { actor: id, limit: 500 }),
    );
    return entriesToEvents(entries);
  }, [id]);
  const now = useNow(5000);
  if (a === undefined)
    return (
      <section class="card">
        <p class="crumbs">
          <a href={href('/agents')}>Agents</a>
        </p>
        <ErrorNote error={agent.error} />
      </section>
    );
  const word = agentStatusWord(a);
  // Its own history from the audit trail (the agent is the actor of its events), then live ones.
  const seen = new Set<number>();
  const mine = [...(history.data ?? []), ...events()]
    .filter(
      (e) =>
        e.event['agentId'] === id || (e.event['id'] === id && e.event.type.startsWith('Agent')),
    )
    .filter((e) => (seen.has(e.seq) ? false : (seen.add(e.seq), true)))
    .sort((x, y) => x.seq - y.seq);
  const output = mine
    .filter((e) => e.event.type === 'AgentOutput')
    .slice(-200)
    .reverse();
  const lifecycle = mine
    .filter((e) => e.event.type !== 'AgentOutput')
    .slice(-50)
    .reverse();
  const stories = (recoveries.data?.runs ?? []).map((r) => r.log).reverse();
  const err = currentError(a);
  return (
    <>
      <section class="card" data-agent-detail={a.name}>
        <p class="crumbs">
          <a href={href('/agents')}>Agents</a> / <span class="name">{a.name}</span>
        </p>
        <div class="title-row">
          <h1>
            <span class="name">{a.name}</span> <Status word={word} title={agentStatusHelp(word)} />
          </h1>
          <Checked at={agent.checkedAt} error={agent.error} onRefresh={agent.reload} />
        </div>
        <p>{agentStatusHelp(word)}.</p>
        <dl class="facts">
          <dt>Kind</dt>
          <dd>{a.kind}</dd>
          <dt>Restart policy</dt>
          <dd>{a.restart}</dd>
          <dt>Restarts</dt>
          <dd>{a.restarts}</dd>
          <dt>Started</dt>
          <dd>
            {localTime(a.startedAtMs)}
            {a.startedAtMs !== null && LIVE.has(a.status)
              ? ` (up ${duration(now - a.startedAtMs)})`
              : ''}
          </dd>
          {a.stoppedAtMs !== null ? (
            <>
              <dt>Stopped</dt>
              <dd>{localTime(a.stoppedAtMs)}</dd>
            </>
          ) : null}
          {a.pid !== null ? (
            <>
              <dt>Process id</dt>
              <dd>{a.pid}</dd>
            </>
          ) : null}
        </dl>
        {err !== null ? <p class="error">Last error: {err}</p> : null}
        {healedNote(a) !== null ? <p class="ok">{healedNote(a)}</p> : null}
        <div class="actions">
          <AgentButtons a={a} onDone={agent.reload} />
        </div>
      </section>
      <section class="card">
        <h2>Self-healing history</h2>
        {stories.length === 0 ? <Empty>No recovery runs for this agent.</Empty> : null}
        {stories.map((l) => (
          <RecoveryStory key={l.run_id} log={l} />
        ))}
      </section>
      <section class="card">
        <h2>Output</h2>
        {output.length === 0 ? <Empty>No output in the events this page has seen.</Empty> : null}
        <ol class="output">
          {output.map((e) => (
            <li key={e.seq}>
              <time class="muted">{localTime(e.atMs)}</time>{' '}
              <span>{String(e.event['output'])}</span>
            </li>
          ))}
        </ol>
      </section>
      <section class="card">
        <h2>Lifecycle</h2>
        <ol class="output">
          {lifecycle.map((e) => (
            <li key={e.seq}>
              <time class="muted">{localTime(e.atMs)}</time> <b>{e.event.type}</b>{' '}
              {typeof e.event['error'] === 'string' ? (
                <span class="bad">{e.event['error']}</span>
              ) : null}
            </li>
          ))}
        </ol>
      </section>
    </>
  );
}
