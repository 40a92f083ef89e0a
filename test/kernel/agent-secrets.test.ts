/**
 * Process agents never hold the daemon's master key: they start with an allow-listed
 * environment, and a secret reaches an agent only when its spec names it — resolved from the
 * registry's encrypted config at spawn time, the grant audited by name without the value.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const PRINT_ENV = 'process.stdout.write(JSON.stringify({type:"result",value:process.env})+"\\n")';
const MASTER = 'the-master-key-of-the-daemon';
const TOKEN_VALUE = 'tok-3f9a-secret-value';

async function kernel() {
  const saved = { ...process.env };
  process.env['KERNO_REGISTRY_KEY'] = MASTER;
  process.env['KERNO_TOKEN'] = 'daemon-admin-token';
  process.env['OXIDE_REGISTRY_KEY'] = 'oxide-master';
  cleanups.push(() => {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  });
  const { dir, cleanup } = tempDir('kerno-secrets-');
  cleanups.push(cleanup);
  const k = await createKernel({
    store: 'memory:',
    stateDir: dir,
    logger: silentLogger,
    registryScryptCost: 1024,
  });
  cleanups.push(() => k.close());
  await k.registry.setConfig('api_token', TOKEN_VALUE, { secret: true });
  return k;
}

async function envOf(
  k: Awaited<ReturnType<typeof kernel>>,
  spec: Record<string, unknown>,
): Promise<Record<string, string>> {
  const handle = await k.spawn({
    name: 'envdump',
    command: process.execPath,
    args: ['-e', PRINT_ENV],
    ...spec,
  });
  const outcome = await handle.wait();
  expect(outcome.reason).toBe('completed');
  return outcome.result as Record<string, string>;
}

describe('process agent environment and secrets', () => {
  it('a spawned agent sees no KERNO_* / OXIDE_* of the daemon, only its own KERNO_AGENT_*', async () => {
    const k = await kernel();
    const env = await envOf(k, {});
    expect(
      Object.keys(env)
        .filter((n) => /^(KERNO|OXIDE)_/.test(n))
        .sort(),
    ).toEqual([
      'KERNO_AGENT_ATTEMPT',
      'KERNO_AGENT_ID',
      'KERNO_AGENT_NAME',
      'KERNO_AGENT_RESTARTS',
    ]);
    expect(JSON.stringify(env)).not.toContain(MASTER);
    expect(env['API_TOKEN']).toBeUndefined();
  });

  it('passes a granted secret to that agent only and audits the grant without the value', async () => {
    const k = await kernel();
    const granted = await envOf(k, {
      secrets: ['api_token', { name: 'api_token', env: 'MY_TOKEN' }],
    });
    expect(granted['API_TOKEN']).toBe(TOKEN_VALUE);
    expect(granted['MY_TOKEN']).toBe(TOKEN_VALUE);
    expect(JSON.stringify(granted)).not.toContain(MASTER);
    const other = await envOf(k, { name: 'other' });
    expect(other['API_TOKEN']).toBeUndefined();

    await k.audit.flush();
    const entries = await k.audit.entries();
    const grants = entries.filter((e) => e.resource === 'secret:api_token');
    expect(grants.map((e) => e.metadata)).toEqual([
      { secretGranted: { agent: 'envdump', secret: 'api_token', env: 'API_TOKEN' } },
      { secretGranted: { agent: 'envdump', secret: 'api_token', env: 'MY_TOKEN' } },
    ]);
    expect(JSON.stringify(entries)).not.toContain(TOKEN_VALUE);
    expect(JSON.stringify(entries)).not.toContain(MASTER);
  });

  it('refuses an unknown secret name at spawn with a typed error, and a KERNO_ variable name', async () => {
    const k = await kernel();
    await expect(
      k.spawn({ name: 'x', command: process.execPath, args: ['-e', '1'], secrets: ['nope'] }),
    ).rejects.toMatchObject({ code: 'CONFIG_NOT_FOUND' });
    await expect(
      k.spawn({
        name: 'y',
        command: process.execPath,
        secrets: [{ name: 'api_token', env: 'KERNO_REGISTRY_KEY' }],
      }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });
});
