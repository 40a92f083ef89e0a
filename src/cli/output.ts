/**
 * How CLI commands print: human tables by default, JSON with `--json`.
 *
 * @module
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';

/** Where a command writes. Injected so commands are testable in-process. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** Writes a long stream to stdout, waiting when it is full (default: `stdout` per chunk). */
  readonly pipeStdout?: (chunks: AsyncIterable<string | Uint8Array>) => Promise<void>;
  /** Whether stderr is a terminal (progress bars only then). */
  readonly isTty: boolean;
}

/** What every command receives. */
export interface CliContext {
  readonly io: CliIo;
  /** Set by a command to report a finding (e.g. 1 for a broken chain). */
  exitCode: number;
}

/** The process's own streams. */
export const processIo: CliIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  pipeStdout: async (chunks) => {
    try {
      await pipeline(Readable.from(chunks), process.stdout, { end: false });
    } catch (error) {
      // The reader went away (`kerno ledger export | head`): stop quietly, as Unix tools do.
      if ((error as NodeJS.ErrnoException).code !== 'EPIPE') throw error;
    }
  },
  isTty: process.stderr.isTTY === true,
};

/** Writes `chunks` to the command's stdout with back-pressure where the io supports it. */
export async function writeStdout(
  io: CliIo,
  chunks: AsyncIterable<string | Uint8Array>,
): Promise<void> {
  if (io.pipeStdout !== undefined) return io.pipeStdout(chunks);
  const decoder = new TextDecoder();
  for await (const chunk of chunks)
    io.stdout(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }));
  const rest = decoder.decode();
  if (rest !== '') io.stdout(rest);
}

function cellText(c: unknown): string {
  if (c === undefined || c === null) return '';
  if (typeof c === 'string') return c;
  if (typeof c === 'number' || typeof c === 'boolean' || typeof c === 'bigint') return c.toString();
  return JSON.stringify(c) ?? '';
}

/**
 * A cell safe to print on a terminal: control characters (ESC, CR, BEL, C1 …) become visible
 * `\xNN` / `\uNNNN` escapes, so an agent name or config key cannot drive the terminal.
 */
export function escapeControl(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (ch) => {
    const code = ch.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, '0')}`
      : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/** Renders rows as an aligned text table (cells with control characters escaped). */
export function formatTable(
  headers: readonly string[],
  rows: readonly (readonly unknown[])[],
): string {
  const cells = rows.map((row) => row.map((c) => escapeControl(cellText(c))));
  const widths = headers.map((h, i) =>
    Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)),
  );
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  return (
    [line(headers), line(widths.map((w) => '─'.repeat(w))), ...cells.map(line)].join('\n') + '\n'
  );
}

/** A one-line progress bar on stderr (only on a terminal). */
export function createProgress(
  io: CliIo,
  label: string,
): { update(done: number, total: number): void; done(): void } {
  let last = -1;
  return {
    update(done: number, total: number): void {
      if (!io.isTty || total <= 0) return;
      const pct = Math.min(100, Math.floor((done / total) * 100));
      if (pct === last) return;
      last = pct;
      const width = 30;
      const filled = Math.round((pct / 100) * width);
      io.stderr(
        `\r${label} [${'█'.repeat(filled)}${'░'.repeat(width - filled)}] ${pct}% (${done}/${total})`,
      );
    },
    done(): void {
      if (io.isTty && last >= 0) io.stderr('\n');
    },
  };
}
