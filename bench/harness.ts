/**
 * A small harness for side-by-side benchmarks: every figure is measured in the same run as its
 * peer and reported as a ratio, because the machine is shared and absolute numbers drift.
 */

/** One line of the final table. */
export interface BenchRow {
  /** Which issue / part of kerno it measures. */
  readonly group: string;
  readonly name: string;
  /** kerno's figure. */
  readonly value: number;
  readonly unit: string;
  /** The peer's figure in the same run, when there is a peer. */
  readonly peer?: { readonly name: string; readonly value: number } | undefined;
  /** The goal, as a ratio against the peer (`ratio`) or an absolute bound. */
  readonly goal?:
    | { readonly kind: 'ratio-min'; readonly value: number }
    | { readonly kind: 'min'; readonly value: number }
    | { readonly kind: 'max'; readonly value: number }
    | undefined;
  /** For latency rows: lower is better. */
  readonly lowerIsBetter?: boolean | undefined;
  readonly note?: string | undefined;
  /** The suite failed: no figure was measured (the run exits 1). */
  readonly failed?: boolean | undefined;
}

/** The ratio kerno/peer (or peer/kerno when lower is better), so >1 always means kerno is ahead. */
export function ratioOf(row: BenchRow): number | undefined {
  if (row.peer === undefined || row.peer.value === 0 || row.value === 0) return undefined;
  return row.lowerIsBetter === true ? row.peer.value / row.value : row.value / row.peer.value;
}

/** Whether the row meets its goal. */
export function meetsGoal(row: BenchRow): boolean | undefined {
  const g = row.goal;
  if (g === undefined) return undefined;
  if (g.kind === 'ratio-min') {
    const r = ratioOf(row);
    return r === undefined ? undefined : r >= g.value;
  }
  return g.kind === 'min' ? row.value >= g.value : row.value <= g.value;
}

/** Runs `fn` (which performs `ops` operations) `rounds` times and returns the median ops/s. */
export async function throughput(
  ops: number,
  fn: () => unknown,
  options: { rounds?: number; warmup?: number } = {},
): Promise<number> {
  const rounds = options.rounds ?? 5;
  for (let i = 0; i < (options.warmup ?? 1); i++) await fn();
  const rates: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const t0 = performance.now();
    await fn();
    const dt = performance.now() - t0;
    rates.push((ops / dt) * 1000);
  }
  return median(rates);
}

/** The median of a list. */
export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0–100) of a list. */
export function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const idx = Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1));
  return s[idx]!;
}

/** Human form of a number: 1.2M, 340k, 12.5. */
export function human(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const a = Math.abs(n);
  if (a >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (a >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (a >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  if (a >= 100) return n.toFixed(0);
  if (a >= 1) return n.toFixed(2);
  return n.toPrecision(3);
}

function goalText(row: BenchRow): string {
  const g = row.goal;
  if (g === undefined) return '';
  if (g.kind === 'ratio-min') return `≥ ${g.value}×`;
  return `${g.kind === 'min' ? '≥' : '≤'} ${human(g.value)} ${row.unit}`;
}

const HEAD = ['group', 'benchmark', 'kerno', 'peer', 'peer value', 'ratio', 'goal', 'met'];

function cells(r: BenchRow): string[] {
  if (r.failed === true) return [r.group, r.name, 'FAILED', '', '', '', '', 'NO'];
  const ratio = ratioOf(r);
  const met = meetsGoal(r);
  return [
    r.group,
    r.name,
    `${human(r.value)} ${r.unit}`,
    r.peer?.name ?? '',
    r.peer === undefined ? '' : `${human(r.peer.value)} ${r.unit}`,
    ratio === undefined ? '' : `${ratio.toFixed(2)}×`,
    goalText(r),
    met === undefined ? '' : met ? 'yes' : 'NO',
  ];
}

function notes(rows: readonly BenchRow[], bullet: string): string[] {
  return rows
    .filter((r) => r.note !== undefined)
    .map((r) => `${bullet}${r.group} · ${r.name}: ${r.note}`);
}

/** The rows as an aligned text table with the notes below. */
export function renderTable(rows: readonly BenchRow[]): string {
  const body = rows.map(cells);
  const widths = HEAD.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: readonly string[]): string =>
    c.map((cell, i) => cell.padEnd(widths[i]!)).join(' │ ');
  const sep = widths.map((w) => '─'.repeat(w)).join('─┼─');
  const n = notes(rows, '  * ');
  return [line(HEAD), sep, ...body.map(line), ...(n.length > 0 ? ['', 'notes:', ...n] : [])].join(
    '\n',
  );
}

/** The rows as a Markdown table with the notes below (for docs/benchmarks.md). */
export function renderMarkdown(rows: readonly BenchRow[]): string {
  const line = (c: readonly string[]): string =>
    `| ${c.map((cell) => cell.replace(/\|/g, '\\|')).join(' | ')} |`;
  const n = notes(rows, '- ');
  return [
    line(HEAD),
    line(HEAD.map(() => '---')),
    ...rows.map((r) => line(cells(r))),
    ...(n.length > 0 ? ['', 'Notes:', '', ...n] : []),
  ].join('\n');
}

/** A benchmark suite: returns its rows. */
export interface BenchSuite {
  readonly name: string;
  run(): Promise<BenchRow[]>;
}
