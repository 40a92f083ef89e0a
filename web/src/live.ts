// The live side of the dashboard: one event stream (SSE over fetch, so it can send the token),
// opened after loading recent history from the audit trail (kernel events with their recorded
// times); the stream resumes with `since` from the last event loaded. Pages read the kept
// events and subscribe to be told when new ones arrive.
import { api, authHeaders, withQuery } from './api.js';
import type { AuditEntry, KernelEvent } from './types.js';

export interface LiveEvent {
  /**
   * The audit seq; for an event the trail does not record (a run step's announcement, whose
   * record is the run's journal), the last recorded event's.
   */
  readonly seq: number;
  /** Unique, in the order events reached the page: the list key. */
  readonly key: number;
  /** Epoch ms: the audit time for history, the arrival time for live events. */
  readonly atMs: number;
  readonly event: KernelEvent;
}

export type Connection = 'connecting' | 'live' | 'reconnecting' | 'token';

const MAX_EVENTS = 5000;
const HISTORY = 1000;
/** Seconds of per-second counts kept for the rate chart. */
export const RATE_WINDOW = 120;

interface State {
  events: LiveEvent[];
  total: number;
  connection: Connection;
  /** Events per second, oldest first; the last cell is the current second. */
  perSecond: number[];
  rateSecond: number;
}

const state: State = {
  events: [],
  total: 0,
  connection: 'connecting',
  perSecond: new Array<number>(RATE_WINDOW).fill(0),
  rateSecond: Math.floor(Date.now() / 1000),
};

/** Agent ids → names, so events read as "ticker: tick 3" rather than a UUID. */
export const agentNames = new Map<string, string>();

type Listener = (added: readonly LiveEvent[]) => void;
const listeners = new Set<Listener>();

export function subscribe(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function events(): readonly LiveEvent[] {
  return state.events;
}
export function totalEvents(): number {
  return state.total;
}
export function connection(): Connection {
  return state.connection;
}

function advanceRate(nowSec: number): void {
  const gap = nowSec - state.rateSecond;
  if (gap <= 0) return;
  const shift = Math.min(gap, RATE_WINDOW);
  state.perSecond.splice(0, shift);
  for (let i = 0; i < shift; i++) state.perSecond.push(0);
  state.rateSecond = nowSec;
}

/** Per-second counts for the last {@link RATE_WINDOW} seconds, ending now. */
export function rate(): { readonly startSec: number; readonly counts: readonly number[] } {
  advanceRate(Math.floor(Date.now() / 1000));
  return { startSec: state.rateSecond - RATE_WINDOW + 1, counts: state.perSecond.slice() };
}

function setConnection(c: Connection): void {
  state.connection = c;
  emit([]);
}

function emit(added: readonly LiveEvent[]): void {
  for (const l of listeners) l(added);
}

function keep(batch: readonly LiveEvent[], live: boolean): void {
  if (batch.length === 0) return;
  for (const e of batch) {
    if (e.event.type === 'AgentCreated' && typeof e.event['id'] === 'string') {
      agentNames.set(e.event['id'], String(e.event['name']));
    }
    // History counts too (by its recorded time), so the rate chart is not empty on open.
    const sec = Math.floor(e.atMs / 1000);
    if (live) advanceRate(sec);
    else advanceRate(Math.floor(Date.now() / 1000));
    const cell = state.perSecond.length - 1 - (state.rateSecond - sec);
    if (cell >= 0 && cell < state.perSecond.length)
      state.perSecond[cell] = (state.perSecond[cell] ?? 0) + 1;
  }
  state.events.push(...batch);
  if (state.events.length > MAX_EVENTS) state.events.splice(0, state.events.length - MAX_EVENTS);
  state.total += batch.length;
  emit(batch);
}

let started = false;
let abort: AbortController | undefined;
let lastSeq: number | undefined;
let nextKey = 0;

/** Loads history and follows the stream (once; again after the token changes). */
export function startLive(): void {
  if (started) return;
  started = true;
  void run();
}

export function restartLive(): void {
  abort?.abort();
  started = false;
  startLive();
}

/** The kernel events among audit entries, with their recorded times. */
export function entriesToEvents(entries: readonly AuditEntry[]): LiveEvent[] {
  const out: LiveEvent[] = [];
  for (const entry of entries) {
    const event = (entry.metadata as { event?: KernelEvent } | null)?.event;
    if (typeof event !== 'object' || event === null || typeof event.type !== 'string') continue;
    out.push({ seq: entry.seq, key: ++nextKey, atMs: Date.parse(entry.timestamp), event });
  }
  return out;
}

async function loadHistory(): Promise<void> {
  try {
    const { entries } = await api<{ entries: AuditEntry[] }>(
      withQuery('/api/audit', { limit: HISTORY }),
    );
    for (const entry of entries)
      if (lastSeq === undefined || entry.seq > lastSeq) lastSeq = entry.seq;
    keep(entriesToEvents(entries), false);
  } catch {
    // A token without audit access still gets the live stream, without history.
  }
}

async function run(): Promise<void> {
  const controller = new AbortController();
  abort = controller;
  if (lastSeq === undefined) await loadHistory();
  for (;;) {
    if (controller.signal.aborted) return;
    try {
      const headers = authHeaders();
      const res = await fetch(withQuery('/api/events', { since: lastSeq }), {
        headers,
        signal: controller.signal,
      });
      if (res.status === 401) {
        setConnection('token');
        return;
      }
      if (!res.ok || res.body === null) throw new Error(`event stream: ${String(res.status)}`);
      setConnection('live');
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf += value;
        const batch: LiveEvent[] = [];
        let i: number;
        while ((i = buf.indexOf('\n\n')) !== -1) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const id = /^id: (.*)$/m.exec(frame)?.[1];
          const data = /^data: (.*)$/m.exec(frame)?.[1];
          if (data === undefined) continue;
          if (id === undefined) {
            // Not recorded (a run step's announcement; the run's journal is its record): live
            // only, after the last recorded event, and it never moves the resume point.
            const event = JSON.parse(data) as KernelEvent;
            batch.push({ seq: lastSeq ?? 0, key: ++nextKey, atMs: Date.now(), event });
            continue;
          }
          const seq = Number(id);
          if (lastSeq !== undefined && seq <= lastSeq) continue;
          lastSeq = seq;
          const event = JSON.parse(data) as KernelEvent;
          batch.push({ seq, key: ++nextKey, atMs: Date.now(), event });
        }
        keep(batch, true);
      }
    } catch {
      if (controller.signal.aborted) return;
    }
    setConnection('reconnecting');
    await new Promise((r) => setTimeout(r, 2000));
  }
}

/** The name of the agent an event is about, when the dashboard knows it. */
export function agentOf(event: KernelEvent): string | undefined {
  for (const field of ['agentId', 'id', 'from', 'moduleId']) {
    const v = event[field];
    if (typeof v === 'string' && agentNames.has(v)) return agentNames.get(v);
  }
  return undefined;
}
