import { describe, expect, it } from 'vitest';
import { subjectCovers } from '../../src/bus/nats/nats-client.js';

describe('subjectCovers (does an existing stream capture the bus subjects?)', () => {
  it('accepts equal and wider patterns', () => {
    expect(subjectCovers('kerno.acme.>', 'kerno.acme.>')).toBe(true);
    expect(subjectCovers('kerno.>', 'kerno.acme.>')).toBe(true);
    expect(subjectCovers('>', 'kerno.acme.>')).toBe(true);
    expect(subjectCovers('kerno.*.>', 'kerno.acme.>')).toBe(true);
  });

  it('refuses narrower or different patterns', () => {
    expect(subjectCovers('kerno.acme.*', 'kerno.acme.>')).toBe(false);
    expect(subjectCovers('kerno.globex.>', 'kerno.acme.>')).toBe(false);
    expect(subjectCovers('kerno.acme', 'kerno.acme.>')).toBe(false);
    expect(subjectCovers('kerno.acme.AgentOutput.>', 'kerno.acme.>')).toBe(false);
  });
});
