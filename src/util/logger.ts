/**
 * A minimal structured logger port. kerno never logs secrets: callers pass keys, ids and codes,
 * never values.
 *
 * @module
 */

/** Fields attached to a log line. */
export type LogFields = Readonly<Record<string, unknown>>;

/** Where kerno writes diagnostics. */
export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

/** Log levels in increasing severity. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 };

/** A logger that writes one JSON line per message to stderr, at or above `level`. */
export function createStderrLogger(level: LogLevel = 'warn'): Logger {
  const min = ORDER[level];
  const write = (lvl: Exclude<LogLevel, 'silent'>, message: string, fields?: LogFields): void => {
    if (ORDER[lvl] < min) return;
    const line = JSON.stringify({ time: new Date().toISOString(), level: lvl, message, ...fields });
    process.stderr.write(line + '\n');
  };
  return Object.freeze({
    debug: (m: string, f?: LogFields) => write('debug', m, f),
    info: (m: string, f?: LogFields) => write('info', m, f),
    warn: (m: string, f?: LogFields) => write('warn', m, f),
    error: (m: string, f?: LogFields) => write('error', m, f),
  });
}

/** A logger that drops everything. */
export const silentLogger: Logger = Object.freeze({
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
});

/** A logger that keeps lines in memory; for tests. */
export interface MemoryLogger extends Logger {
  readonly lines: { level: Exclude<LogLevel, 'silent'>; message: string; fields?: LogFields }[];
}

/** Creates a {@link MemoryLogger}. */
export function createMemoryLogger(): MemoryLogger {
  const lines: MemoryLogger['lines'] = [];
  const push =
    (level: Exclude<LogLevel, 'silent'>) =>
    (message: string, fields?: LogFields): void => {
      lines.push(fields === undefined ? { level, message } : { level, message, fields });
    };
  return {
    lines,
    debug: push('debug'),
    info: push('info'),
    warn: push('warn'),
    error: push('error'),
  };
}
