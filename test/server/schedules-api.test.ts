/**
 * GET /api/schedules and `kerno schedules ls|add|pause|resume|rm`, through the daemon and on a
 * store with --store: next fire times in the schedule's zone and UTC, typed errors.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createServer } from '../../src/server/app.js';
import { createToken } from '../../src/server/auth.js';
import { ManualClock } from '../../src/util/clock.js';
import { cli } from '../helpers/cli.js';
import { testKernel } from '../helpers/kernel.js';
import { tempDir } from '../helpers/stores.js';

const TOKEN = 'kerno_test_admin_token_0123456789';
let cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

describe('schedules API and CLI through the daemon', () => {
  it('adds, lists with next fire times, pauses, resumes and removes', async () => {
    const clock = new ManualClock(Date.UTC(2026, 11, 4, 12, 0, 0));
    const k = await testKernel({ clock });
    const server = await createServer(k.kernel, { token: TOKEN, version: '9.9.9' });
    cleanups.push(k.cleanup, () => server.close());
    const { url } = await server.listen({ port: 0 });
    const base = ['--url', url, '--token', TOKEN, '--home', k.dir];

    const added = await cli(
      ...base,
      'schedules',
      'add',
      'morning',
      '--agent',
      'report',
      '--cron',
      '0 9 * * mon-fri',
      '--tz',
      'Europe/Berlin',
      '--input',
      '{"scope":"eu"}',
      '--missed',
      'once',
    );
    expect(added.code, added.stderr).toBe(0);
    expect(added.stdout).toBe('schedule morning is at version 1\n');
    const every = await cli(
      ...base,
      'schedules',
      'add',
      'poll',
      '--agent',
      'report',
      '--every',
      '5m',
    );
    expect(every.code, every.stderr).toBe(0);

    const res = await server.app.inject({
      method: 'GET',
      url: '/api/schedules',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(res.statusCode).toBe(200);
    const body = res.json<{ schedules: Record<string, unknown>[] }>();
    expect(body.schedules.map((s) => s.name)).toEqual(['morning', 'poll']);
    // Friday 2026-12-04 12:00 UTC: next weekday 09:00 Berlin is Monday 08:00 UTC.
    expect(body.schedules[0]).toMatchObject({
      nextFireAt: '2026-12-07T08:00:00.000Z',
      nextFireLocal: '2026-12-07 09:00:00 Europe/Berlin',
      spec: { agent: 'report', timeZone: 'Europe/Berlin', input: { scope: 'eu' }, missed: 'once' },
    });
    expect(body.schedules[1]).toMatchObject({ nextFireAt: '2026-12-04T12:05:00.000Z' });
    const one = await server.app.inject({
      method: 'GET',
      url: '/api/schedules/nope',
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(one.statusCode).toBe(404);

    const ls = await cli(...base, 'schedules', 'ls');
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toContain('next (local)');
    expect(ls.stdout).toContain('2026-12-07 09:00:00');
    expect(ls.stdout).toContain('2026-12-07T08:00:00.000Z');
    expect(ls.stdout).toContain('every 300000 ms');

    const paused = await cli(...base, 'schedules', 'pause', 'morning', '--reason', 'holiday');
    expect(paused.code, paused.stderr).toBe(0);
    expect(paused.stdout).toBe('schedule morning paused (version 2)\n');
    const lsJson = JSON.parse((await cli(...base, 'schedules', 'ls', '--json')).stdout) as {
      name: string;
      nextFireAt: string | null;
      spec: { paused: boolean };
    }[];
    expect(lsJson[0]).toMatchObject({ name: 'morning', nextFireAt: null, spec: { paused: true } });
    expect((await cli(...base, 'schedules', 'resume', 'morning')).stdout).toBe(
      'schedule morning resumed (version 3)\n',
    );
    expect(k.kernel.schedules.get('morning').nextFireAt).toBe('2026-12-07T08:00:00.000Z');
    // The change is a policy version, audited with the reason.
    expect(k.kernel.policies.get('schedule', 'morning')!.version).toBe(3);

    const rm = await cli(...base, 'schedules', 'rm', 'poll');
    expect(rm.code, rm.stderr).toBe(0);
    expect(k.kernel.schedules.list().map((s) => s.name)).toEqual(['morning']);

    const bad = await cli(
      ...base,
      'schedules',
      'add',
      'x',
      '--agent',
      'report',
      '--cron',
      '0 9 * *',
    );
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('INVALID_ARGUMENT');
    expect(bad.stderr).toContain('has 4 fields: write 5');
    const both = await cli(...base, 'schedules', 'add', 'x', '--agent', 'report');
    expect(both.stderr).toContain('Give exactly one of --cron');
    const badEvery = await cli(
      ...base,
      'schedules',
      'add',
      'x',
      '--agent',
      'a',
      '--every',
      '5 min',
    );
    expect(badEvery.stderr).toContain('--every is a duration such as 30s');
    const missing = await cli(...base, 'schedules', 'pause', 'ghost');
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain('No schedule named "ghost"');

    // Tenant tokens cannot list schedules.
    const { token } = createToken(k.dir, { scope: 'tenant', tenant: 'acme' });
    const asTenant = await server.app.inject({
      method: 'GET',
      url: '/api/schedules',
      headers: { authorization: `Bearer ${token}` },
    });
    expect(asTenant.statusCode).toBe(403);
  });
});

describe('kerno schedules --store', () => {
  it('adds and lists on a store directly', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const store = ['--store', `sqlite:${join(dir, 'kerno.db')}`, '--home', join(dir, 'home')];
    const add = await cli('schedules', 'add', 'n', '--agent', 'a', '--cron', '@daily', ...store);
    expect(add.code, add.stderr).toBe(0);
    const ls = await cli('schedules', 'ls', '--json', ...store);
    expect(ls.code, ls.stderr).toBe(0);
    const list = JSON.parse(ls.stdout) as { name: string; nextFireAt: string }[];
    expect(list).toHaveLength(1);
    expect(list[0]!.name).toBe('n');
    expect(Date.parse(list[0]!.nextFireAt) % 86_400_000).toBe(0);
  });
});
