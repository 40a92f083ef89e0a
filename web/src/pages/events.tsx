// Events: recent history on open (from the audit trail), then live; filters only change what is
// shown (every event is kept), runs of the same event folded, local times, expandable payloads.
import { useState } from 'preact/hooks';
import { decisionSentence, localTime, oneLine } from '../format.js';
import { replaceQuery, useLiveTick, type Route } from '../hooks.js';
import { agentOf, agentNames, events, totalEvents, type LiveEvent } from '../live.js';
import type { KernelEvent } from '../types.js';
import { Empty, Expand } from '../ui/parts.js';

const SHOWN = 400;

/** One event as a sentence (agent-controlled text stays text: Preact escapes it). */
export function describe(e: KernelEvent): string {
  const who = agentOf(e) ?? 'an agent';
  const s = (k: string): string => {
    const v = e[k];
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean'
      ? String(v)
      : '';
  };
  switch (e.type) {
    case 'AgentCreated':
      return `${s('name')} was created`;
    case 'AgentStarted':
      return `${who} started`;
    case 'AgentStopped':
      return e['success'] === true ? `${who} completed` : `${who} was stopped`;
    case 'AgentFailed':
      return `${who} failed: ${s('error')}`;
    case 'AgentRestarted':
      return `${who} was restarted (restart ${s('restarts')}, after ${s('delayMs')} ms)`;
    case 'AgentOutput':
      return `${who}: ${s('output')}`;
    case 'ApprovalRequested':
      return `a person is asked to approve ${s('action')}${s('resource') === '' ? '' : ` on ${s('resource')}`}: ${s('reason')}`;
    case 'ApprovalResolved':
      return e['approved'] === true ? 'a gate was approved' : 'a gate was rejected';
    case 'RecoveryDecided':
      return `${who}: ${decisionSentence({
        attempt: Number(e['attempt']),
        failureClass: s('failureClass'),
        action: s('action'),
      })}`;
    case 'SupervisorEscalated':
      return `a supervisor gave up: ${s('reason')}`;
    case 'ToolExecutionStarted':
      return `run ${s('sessionId').slice(0, 8)} step ${s('toolName')} started`;
    case 'ToolExecutionFinished':
      return `run ${s('sessionId').slice(0, 8)} step ${s('toolName')} ${e['isError'] === true ? 'failed' : 'finished'} in ${s('durationMs')} ms`;
    case 'ModuleStateChanged':
      return `${agentNames.get(s('moduleId')) ?? s('moduleId')}: ${s('from') || 'new'} → ${s('to')}`;
    default: {
      const { type: _t, ...rest } = e;
      return oneLine(rest, 140);
    }
  }
}

function kindOf(type: string): string {
  if (/Failed|Escalated|Abandoned/.test(type)) return 'fail';
  if (/Started|Completed|Created/.test(type)) return 'ok';
  if (/Approval|Restarted|Recovery/.test(type)) return 'warn';
  return '';
}

interface Row {
  readonly first: LiveEvent;
  readonly folded: readonly LiveEvent[];
}

/** Folds runs of the same type from the same agent: the newest shows, the rest fold under it. */
function fold(list: readonly LiveEvent[], on: boolean): Row[] {
  const rows: { first: LiveEvent; folded: LiveEvent[] }[] = [];
  for (const e of list) {
    const last = rows[rows.length - 1];
    if (
      on &&
      last !== undefined &&
      last.first.event.type === e.event.type &&
      agentOf(last.first.event) === agentOf(e.event)
    ) {
      last.folded.push(e);
    } else rows.push({ first: e, folded: [] });
  }
  return rows;
}

export function EventsPage({ route }: { route: Route }) {
  useLiveTick(undefined, 300);
  const text = route.query.get('q') ?? '';
  const type = route.query.get('type') ?? '';
  const [folded, setFolded] = useState(true);
  const [paused, setPaused] = useState<number | undefined>(undefined);
  const all = events();
  const types = [...new Set(all.map((e) => e.event.type))].sort();
  const upTo = paused === undefined ? all : all.filter((e) => e.key <= paused);
  const needle = text.trim().toLowerCase();
  const matching = upTo.filter((e) => {
    if (type !== '' && e.event.type !== type) return false;
    if (needle === '') return true;
    const who = agentOf(e.event) ?? '';
    return (
      who.toLowerCase().includes(needle) ||
      e.event.type.toLowerCase().includes(needle) ||
      JSON.stringify(e.event).toLowerCase().includes(needle)
    );
  });
  const newest = matching.slice(-SHOWN * 4).reverse();
  const rows = fold(newest, folded).slice(0, SHOWN);
  const setQuery = (k: string, v: string): void => {
    const q: Record<string, string> = { q: text, type };
    q[k] = v;
    replaceQuery('/events', q);
  };
  return (
    <section class="card">
      <div class="title-row">
        <h1>Events</h1>
        <span class="muted">
          {all.length} kept ({totalEvents()} received) · showing {matching.length}
          {paused !== undefined ? ' · paused' : ''}
        </span>
      </div>
      <form class="filters" role="search" onSubmit={(e) => e.preventDefault()}>
        <label>
          Filter
          <input
            name="q"
            value={text}
            placeholder="agent, type or text"
            onInput={(e) => setQuery('q', e.currentTarget.value)}
          />
        </label>
        <label>
          Type
          <select
            name="type"
            value={type}
            onChange={(e) => setQuery('type', e.currentTarget.value)}
          >
            <option value="">all types</option>
            {types.map((t) => (
              <option key={t} value={t}>
                {t}
              </option>
            ))}
          </select>
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={folded}
            onChange={(e) => setFolded(e.currentTarget.checked)}
          />{' '}
          fold repeats
        </label>
        <button
          type="button"
          class="ghost"
          aria-pressed={paused !== undefined}
          onClick={() =>
            setPaused(paused === undefined ? (all[all.length - 1]?.key ?? 0) : undefined)
          }
        >
          {paused === undefined ? 'Pause' : 'Resume'}
        </button>
      </form>
      {rows.length === 0 ? <Empty>No events match.</Empty> : null}
      <ol class="timeline" aria-label="Events, newest first">
        {rows.map(({ first, folded: more }) => (
          <li
            key={first.key}
            class={kindOf(first.event.type)}
            data-type={first.event.type}
            data-seq={first.seq}
          >
            <time dateTime={new Date(first.atMs).toISOString()}>{localTime(first.atMs)}</time>
            <span class="type">{first.event.type}</span>
            <div class="body">
              <Expand summary={describe(first.event)} value={first.event} />
              {more.length > 0 ? (
                <details class="folded">
                  <summary>
                    {more.length} earlier {first.event.type} event{more.length === 1 ? '' : 's'}{' '}
                    folded ({localTime(more[more.length - 1]!.atMs)} – {localTime(more[0]!.atMs)})
                  </summary>
                  <ol>
                    {more.map((m) => (
                      <li key={m.key}>
                        <time>{localTime(m.atMs)}</time>{' '}
                        <Expand summary={describe(m.event)} value={m.event} />
                      </li>
                    ))}
                  </ol>
                </details>
              ) : null}
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}
