import { describe, expect, it } from 'vitest';
import { isKernelError, validateAgentSpec } from '../../src/index.js';
import { MAX_CONFIG_DEPTH } from '../../src/supervisor/agent-spec.js';

function nested(depth: number): unknown {
  let v: unknown = 'leaf';
  for (let i = 0; i < depth; i++) v = i % 2 === 0 ? { a: v } : [v];
  return v;
}

describe('agent spec config depth', () => {
  it('accepts a config nested up to the limit', () => {
    expect(
      validateAgentSpec({ name: 'x', run: async () => 1, config: nested(MAX_CONFIG_DEPTH) }),
    ).toBe('function');
  });

  it('refuses a deeper config with INVALID_ARGUMENT (a hostile 100 000 levels too, no stack overflow)', () => {
    for (const depth of [MAX_CONFIG_DEPTH + 1, 100_000]) {
      let thrown: unknown;
      try {
        validateAgentSpec({ name: 'x', command: 'node', config: nested(depth) });
      } catch (error) {
        thrown = error;
      }
      expect(isKernelError(thrown, 'INVALID_ARGUMENT')).toBe(true);
      expect((thrown as Error).message).toContain(`more than ${MAX_CONFIG_DEPTH} levels deep`);
    }
  });
});
