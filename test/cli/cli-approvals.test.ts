/**
 * `kerno approvals show|ls|approve` as an approval inbox on a store (votes, deciders, similar
 * requests, agent text escaped), and `kerno tokens create --approver`.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createKernel } from '../../src/kernel.js';
import { readTokens } from '../../src/server/auth.js';
import { silentLogger } from '../../src/util/logger.js';
import { cli } from '../helpers/cli.js';
import { tempDir } from '../helpers/stores.js';

describe('kerno approvals (inbox)', () => {
  it('show prints deciders, approvals and similar decisions; approve records a vote', async () => {
    const { dir, cleanup } = tempDir('kerno-cli-approvals-');
    const url = `sqlite:${join(dir, 'kerno.db')}`;
    try {
      const kernel = await createKernel({
        store: url,
        bus: 'memory',
        learningFile: null,
        logger: silentLogger,
        registryKey: 'cli approvals key',
        registryScryptCost: 1024,
        agents: false,
      });
      const like = {
        agentId: 'run-1',
        agentName: 'payer',
        summary: 'Pay \u001b[31minvoice\u001b[0m?',
        action: 'pay',
        tool: 'stripe',
        resource: 'acct-1',
        approvers: { group: 'finance', required: 2 },
      };
      let id: string;
      try {
        const earlier = await kernel.approvals.open(like);
        await kernel.approvals.reject(earlier.id, { by: 'cfo', reason: 'duplicate' });
        id = (await kernel.approvals.open({ ...like, agentId: 'run-2' })).id;
      } finally {
        await kernel.close();
      }
      const env = { store: url };
      const shown = await cli('approvals', 'show', id, '--store', env.store);
      expect(shown.code, shown.stderr).toBe(0);
      expect(shown.stdout).toContain('summary:   Pay \\x1b[31minvoice\\x1b[0m?');
      expect(shown.stdout).not.toContain('\u001b');
      expect(shown.stdout).toContain('action:    pay  tool: stripe  resource: acct-1');
      expect(shown.stdout).toContain('deciders:  approver:finance');
      expect(shown.stdout).toContain('approvals: 0/2');
      expect(shown.stdout).toMatch(/similar requests:\n.*\n.*\nrejected\s+cfo\s+\S+\s+duplicate/);

      const vote = await cli('approvals', 'approve', id, '--store', env.store);
      expect(vote.code, vote.stderr).toBe(0);
      expect(vote.stdout).toBe(`approval recorded for ${id}: 1 of 2 approvers so far\n`);
      const ls = await cli('approvals', 'ls', '--store', env.store);
      expect(ls.stdout).toMatch(/1\/2\s+0 approved, 1 rejected/);
      const json = JSON.parse(
        (await cli('approvals', 'show', id, '--store', env.store, '--json')).stdout,
      ) as { votes: { by: string }[]; similar: { decision: string }[] };
      expect(json.votes).toHaveLength(1);
      expect(json.similar).toEqual([expect.objectContaining({ decision: 'rejected', by: 'cfo' })]);

      const missing = await cli('approvals', 'show', 'nope', '--store', env.store);
      expect(missing.code).toBe(2);
      expect(missing.stderr).toContain('NOT_FOUND');
    } finally {
      cleanup();
    }
  });

  it('tokens create --approver stores approver groups and refuses a bad group', async () => {
    const { dir, cleanup } = tempDir('kerno-cli-tokens-');
    try {
      const made = await cli(
        '--home',
        dir,
        'tokens',
        'create',
        '--tenant',
        'acme',
        '--approver',
        'finance',
        '--approver',
        'ops',
        '--json',
      );
      expect(made.code, made.stderr).toBe(0);
      expect(readTokens(dir)[0]).toMatchObject({ tenant: 'acme', approver: ['finance', 'ops'] });
      const ls = await cli('--home', dir, 'tokens', 'ls');
      expect(ls.stdout).toMatch(/tenant\s+acme\s+finance,ops/);
      const bad = await cli('--home', dir, 'tokens', 'create', '--approver', 'no spaces');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain('An approver group is');
    } finally {
      cleanup();
    }
  });
});
