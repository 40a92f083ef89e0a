/**
 * Benchmark peers live in bench/peers (their peer-dependency ranges conflict with kerno's own
 * tree). This installs them on first use and imports them from there.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const PEERS = join(import.meta.dirname, 'peers');

/**
 * Whether every dependency bench/peers/package.json names is installed: a checkout whose
 * node_modules predates a newly added peer installs again instead of skipping that peer.
 */
function installed(): boolean {
  if (!existsSync(join(PEERS, 'node_modules/.package-lock.json'))) return false;
  const manifest = JSON.parse(readFileSync(join(PEERS, 'package.json'), 'utf8')) as {
    dependencies?: Record<string, string>;
  };
  return Object.keys(manifest.dependencies ?? {}).every((name) =>
    existsSync(join(PEERS, 'node_modules', name, 'package.json')),
  );
}

/** Installs bench/peers on first use, and again when a peer was added (npm ci when a lock file exists). */
export function ensurePeers(): void {
  if (installed()) return;
  process.stderr.write('installing benchmark peers into bench/peers …\n');
  const lock = existsSync(join(PEERS, 'package-lock.json'));
  execFileSync('npm', [lock ? 'ci' : 'install', '--no-audit', '--no-fund'], {
    cwd: PEERS,
    stdio: 'inherit',
  });
}

/** Imports a package installed in bench/peers. */
export async function importPeer<T>(name: string): Promise<T> {
  ensurePeers();
  const resolved = createRequire(join(PEERS, 'package.json')).resolve(name);
  return (await import(pathToFileURL(resolved).href)) as T;
}
