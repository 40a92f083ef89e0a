// Plain words for times, durations and the kernel's vocabulary.

const timeFmt = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

export function toMs(t: string | number | null | undefined): number | undefined {
  if (t === null || t === undefined) return undefined;
  const ms = typeof t === 'number' ? t : Date.parse(t);
  return Number.isFinite(ms) ? ms : undefined;
}

/** A local clock time (today) or date and time (other days). */
export function localTime(t: string | number | null | undefined): string {
  const ms = toMs(t);
  if (ms === undefined) return '–';
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? timeFmt.format(d) : dateTimeFmt.format(d);
}

/** `1.2 s`, `3 min 4 s`, `2 h 5 min`. */
export function duration(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '–';
  if (ms < 0) ms = 0;
  if (ms < 1000) return `${String(Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : String(Math.round(s))} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${String(m)} min ${String(Math.round(s % 60))} s`;
  return `${String(Math.floor(m / 60))} h ${String(m % 60)} min`;
}

/** `in 4 min 10 s` / `2 s ago`. */
export function relative(ms: number, now: number): string {
  const d = ms - now;
  return d >= 0 ? `in ${duration(d)}` : `${duration(-d)} ago`;
}

/** A countdown to a deadline, rounded to whole seconds. */
export function countdown(deadlineMs: number, now: number): string {
  const left = Math.max(0, Math.round((deadlineMs - now) / 1000)) * 1000;
  return left === 0 ? 'now' : `in ${duration(left)}`;
}

export function money(usd: number | undefined): string {
  if (usd === undefined) return '–';
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toPrecision(2)}` : `$${usd.toFixed(2)}`;
}

export function count(n: number | undefined): string {
  return n === undefined ? '–' : n.toLocaleString();
}

const CLASS_WORDS: Record<string, string> = {
  build: 'a build failure',
  test: 'a test failure',
  runtime: 'a runtime error',
  integration: 'an integration failure',
  unknown: 'a failure of unknown kind',
};

const ACTION_WORDS: Record<string, string> = {
  retry: 'tried again with the same config',
  patch_forward: 'patched the config and tried again',
  rollback: 'went back to the last config that worked',
  escalate: 'asked a person to decide',
};

function own(table: Record<string, string>, key: string): string | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

/** "#2 unknown → escalate" as a sentence. */
export function decisionSentence(d: {
  readonly attempt: number;
  readonly failure_class?: string;
  readonly failureClass?: string;
  readonly action: string;
}): string {
  const cls = d.failure_class ?? d.failureClass ?? 'unknown';
  const what = own(CLASS_WORDS, cls) ?? `a ${cls} failure`;
  const did = own(ACTION_WORDS, d.action) ?? d.action.replace(/_/g, ' ');
  return `Attempt ${String(d.attempt)}: it saw ${what} and ${did}.`;
}

/** What a gate does when nobody answers, in words. */
export function timeoutWords(action: string): string {
  switch (action) {
    case 'Approve':
      return 'approves itself';
    case 'Reject':
      return 'is rejected';
    case 'Escalate':
      return 'stays open and is flagged';
    default:
      return action.toLowerCase();
  }
}

/** The status word of an agent, telling completed, stopped by someone and failed apart. */
export function agentStatusWord(a: {
  readonly status: string;
  readonly outcome?: string | null;
}): string {
  if (a.outcome === 'completed' || a.outcome === 'killed' || a.outcome === 'failed')
    return a.outcome;
  if (a.status === 'stopped') return 'restarting';
  return a.status;
}

export function agentStatusHelp(word: string): string {
  switch (word) {
    case 'completed':
      return 'finished its work and returned';
    case 'killed':
      return 'stopped by a person or the API';
    case 'failed':
      return 'failed and is not being restarted';
    case 'restarting':
      return 'not running now: waiting to be restarted or for a decision';
    case 'idle':
      return 'running, waiting for work';
    case 'starting':
      return 'starting up';
    default:
      return 'running';
  }
}

/** Compact JSON for one line; the full text goes in an expandable block. */
export function oneLine(value: unknown, max = 160): string {
  let text: string;
  try {
    text = typeof value === 'string' ? value : (JSON.stringify(value) ?? 'undefined');
  } catch {
    text = String(value);
  }
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export function pretty(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value, null, 2) ?? 'undefined');
  } catch {
    return String(value);
  }
}

/**
 * The supervisor's compact decision log ("#1 test → retry: flaky signal detected; #2 unknown →
 * escalate: …") as one sentence per attempt; other text comes back as it is.
 */
export function rationaleSentences(text: string): string[] {
  const re = /#(\d+)\s+([\w-]+)\s+→\s+([\w-]+)(?::\s*([^#]*))?/g;
  const out: string[] = [];
  let m: RegExpExecArray | null;
  let first = -1;
  while ((m = re.exec(text)) !== null) {
    if (first < 0) first = m.index;
    const detail = (m[4] ?? '').trim().replace(/[;,.]+$/, '');
    const sentence = decisionSentence({
      attempt: Number(m[1]),
      failure_class: m[2]!,
      action: m[3]!,
    });
    out.push(detail === '' ? sentence : `${sentence.slice(0, -1)} (${detail}).`);
  }
  if (out.length === 0) return [text];
  const before = text.slice(0, first).trim();
  return before === '' ? out : [before, ...out];
}
