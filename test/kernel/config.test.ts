import { inspect } from 'node:util';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config.js';

describe('resolveConfig', () => {
  it('takes an explicit option, else the environment, else the default', () => {
    const env = { KERNO_HOME: '/srv/k', KERNO_STORE: 'memory:', KERNO_BUS: 'nats://h:4222' };
    expect(resolveConfig({ env: {} })).toMatchObject({
      home: resolve('.kerno'),
      store: `sqlite:${join(resolve('.kerno'), 'kerno.db')}`,
      bus: 'memory',
      recoveryDir: join(resolve('.kerno'), 'recovery'),
    });
    expect(resolveConfig({ env })).toMatchObject({
      home: '/srv/k',
      store: 'memory:',
      bus: 'nats://h:4222',
      recoveryDir: undefined, // a memory store writes no recovery artifacts
    });
    expect(
      resolveConfig({ env, home: '/o', store: 'sqlite:/o/x.db', bus: 'memory' }),
    ).toMatchObject({
      home: '/o',
      store: 'sqlite:/o/x.db',
      bus: 'memory',
      recoveryDir: '/o/recovery',
    });
    expect(resolveConfig({ env: { KERNO_STORE: '' } }).store).toContain('sqlite:');
  });

  it('carries secrets without ever serialising them', () => {
    const config = resolveConfig({
      env: { KERNO_REGISTRY_KEY: 'reg-secret', KERNO_TOKEN: 'tok-secret' },
    });
    expect(config.registryKey).toBe('reg-secret');
    expect(config.token).toBe('tok-secret');
    expect(JSON.stringify(config)).not.toMatch(/secret/);
    expect(inspect(config)).not.toMatch(/secret/);
  });

  it('refuses a bad KERNO_DEMO_PACE with a message that says what to pass', () => {
    expect(() => resolveConfig({ env: { KERNO_DEMO_PACE: 'fast' } })).toThrow(/positive number/);
  });
});
