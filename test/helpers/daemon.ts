import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

const BIN = join(import.meta.dirname, '../../bin/kerno.js');

/** A `kerno up` child process. */
export interface Daemon {
  readonly child: ChildProcess;
  readonly url: string;
  readonly token: string;
  readonly dashboard: string;
  readonly output: () => string;
  /** SIGTERM, then resolves with the exit code. */
  stop(): Promise<number | null>;
}

/** Starts the real binary (`kerno up … --port 0`) and waits until it prints its URL. */
export function startDaemon(args: string[], env: Record<string, string> = {}): Promise<Daemon> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, 'up', '--port', '0', ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    const timer = setTimeout(
      () => reject(new Error(`kerno up did not start:\n${out}\n${err}`)),
      30_000,
    );
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const dash = /dashboard\s+(http:\/\/\S+\/#token=(\S+))/.exec(out);
      if (dash !== null && out.includes('Press Ctrl-C')) {
        clearTimeout(timer);
        const dashboard = dash[1]!;
        const url = dashboard.slice(0, dashboard.indexOf('/#token='));
        resolve({
          child,
          url,
          token: dash[2]!,
          dashboard,
          output: () => out,
          stop: () =>
            new Promise((done) => {
              if (child.exitCode !== null) {
                done(child.exitCode);
                return;
              }
              child.once('exit', (code) => done(code));
              child.kill('SIGTERM');
            }),
        });
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`kerno up exited (${code}):\n${out}\n${err}`));
    });
  });
}
