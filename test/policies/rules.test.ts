/**
 * Approval rules (policy kind `rule`): validation, matching (exact, glob, allow-list, absent
 * fields), precedence (priority, then deny > ask > allow), the default effect, recompiling on a
 * policy change, and the audit entry of every decision.
 */
import { describe, expect, it } from 'vitest';
import { createAuditTrail } from '../../src/audit/audit-trail.js';
import { isKernelError, ManualClock } from '../../src/index.js';
import { createPolicyStore } from '../../src/policies/policy-store.js';
import {
  RuleIndex,
  createApprovalRules,
  parseRuleSpec,
  type RuleSpec,
} from '../../src/policies/rules.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';

async function setup(defaultEffect?: 'allow' | 'deny' | 'ask') {
  const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
  const log = createMemoryLog();
  const audit = createAuditTrail({ log, clock });
  const policies = createPolicyStore({ log, audit, clock });
  const rules = createApprovalRules({
    policies,
    audit,
    ...(defaultEffect === undefined ? {} : { defaultEffect }),
  });
  await policies.start();
  return { clock, log, audit, policies, rules };
}

function index(rules: Record<string, RuleSpec>): RuleIndex {
  return new RuleIndex(
    Object.entries(rules).map(([name, spec]) => ({ name, version: 1, spec: parseRuleSpec(spec) })),
  );
}

describe('rule specs', () => {
  it('accepts a full rule and refuses bad ones, saying what to write', () => {
    expect(
      parseRuleSpec({
        effect: 'ask',
        priority: 10,
        match: { action: 'deploy', resource: ['prod/*', 'staging'] },
        approval: { group: 'ops', approvers: 2, onTimeout: 'escalate', escalateTo: 'cto' },
      }),
    ).toMatchObject({ effect: 'ask', approval: { approvers: 2 } });
    const bad: [unknown, RegExp][] = [
      [{ effect: 'maybe' }, /effect must be "allow", "deny" or "ask"/],
      [{ effect: 'allow', match: { action: '' } }, /match\.action/],
      [{ effect: 'allow', match: { tool: [] } }, /allow-list holds at least one value/],
      [{ effect: 'allow', match: { colour: 'red' } }, /match/],
      [{ effect: 'allow', approval: { group: 'ops' } }, /only an "ask" rule opens a gate/],
      [{ effect: 'ask', approval: { onTimeout: 'escalate' } }, /needs escalateTo/],
      [{ effect: 'ask', approval: { escalateTo: 'cto' } }, /escalateTo needs onTimeout/],
      [{ effect: 'ask', approval: { approvers: 0 } }, /approvers is at least 1/],
      [{ effect: 'allow', priority: 1.5 }, /priority is an integer/],
      ['deny', /rule/],
    ];
    for (const [spec, message] of bad) {
      let error: unknown;
      try {
        parseRuleSpec(spec);
      } catch (e) {
        error = e;
      }
      expect(isKernelError(error, 'INVALID_ARGUMENT'), JSON.stringify(spec)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it('the policy store refuses an invalid rule with the validator’s message', async () => {
    const { policies } = await setup();
    await expect(policies.set('rule', 'r', { effect: 'nope' })).rejects.toThrow(/effect must be/);
  });
});

describe('rule matching', () => {
  it('exact, glob and allow-list patterns; a named field does not match a request without it', () => {
    const idx = index({
      reads: { effect: 'allow', match: { tool: ['read_file', 'search', 'web.*'] } },
      prod: { effect: 'deny', match: { action: 'deploy', resource: 'prod/*' } },
      tenant: { effect: 'ask', match: { tenant: 'acme', action: 'pay*' } },
    });
    expect(idx.match({ action: 'x', tool: 'read_file' })?.name).toBe('reads');
    expect(idx.match({ action: 'x', tool: 'web.fetch' })?.name).toBe('reads');
    expect(idx.match({ action: 'x', tool: 'web' })).toBeUndefined();
    expect(idx.match({ action: 'x', tool: 'write_file' })).toBeUndefined();
    expect(idx.match({ action: 'deploy', resource: 'prod/api' })?.name).toBe('prod');
    expect(idx.match({ action: 'deploy', resource: 'staging/api' })).toBeUndefined();
    expect(idx.match({ action: 'deploy' })).toBeUndefined();
    expect(idx.match({ action: 'payment.send', tenant: 'acme' })?.name).toBe('tenant');
    expect(idx.match({ action: 'payment.send', tenant: 'globex' })).toBeUndefined();
    expect(idx.match({ action: 'payment.send', tenant: null })).toBeUndefined();
    // regex characters in a pattern are literal
    const dots = index({ d: { effect: 'deny', match: { action: 'a.b' } } });
    expect(dots.match({ action: 'aXb' })).toBeUndefined();
    expect(dots.match({ action: 'a.b' })?.name).toBe('d');
  });

  it('precedence: higher priority first, then deny over ask over allow; a rule with no match is a catch-all', () => {
    const idx = index({
      'allow-deploys': { effect: 'allow', match: { action: 'deploy' } },
      'ask-deploys': { effect: 'ask', match: { action: 'deploy*' } },
      'deny-prod': { effect: 'deny', match: { resource: 'prod' } },
      'allow-hotfix': {
        effect: 'allow',
        priority: 10,
        match: { action: 'deploy', tool: 'hotfix' },
      },
      'deny-all': { effect: 'deny', priority: -1000 },
    });
    // same priority: ask beats allow, deny beats both
    expect(idx.match({ action: 'deploy' })?.name).toBe('ask-deploys');
    expect(idx.match({ action: 'deploy', resource: 'prod' })?.name).toBe('deny-prod');
    // a higher priority wins over a more restrictive rule
    expect(idx.match({ action: 'deploy', resource: 'prod', tool: 'hotfix' })?.name).toBe(
      'allow-hotfix',
    );
    // the catch-all decides what nothing else matches
    expect(idx.match({ action: 'read' })?.name).toBe('deny-all');
  });

  it('with many rules the exact-action index and the glob rules merge in precedence order', () => {
    const rules: Record<string, RuleSpec> = {};
    for (let i = 0; i < 500; i++) {
      rules[`exact-${i}`] = { effect: 'allow', match: { action: `act-${i}`, tool: `tool-${i}` } };
      rules[`glob-${i}`] = { effect: 'deny', priority: i % 2, match: { action: `act-${i}*` } };
    }
    const idx = index(rules);
    expect(idx.size).toBe(1000);
    // glob-7 has priority 1: above exact-7 (priority 0)
    expect(idx.match({ action: 'act-7', tool: 'tool-7' })?.name).toBe('glob-7');
    // glob-8 (priority 0, deny) beats exact-8 (priority 0, allow) by restrictiveness
    expect(idx.match({ action: 'act-8', tool: 'tool-8' })?.name).toBe('glob-8');
    // act-81x matches glob-8 (priority 0) and glob-81 (priority 1): the higher priority wins
    expect(idx.match({ action: 'act-81x' })?.name).toBe('glob-81');
    // act-80x matches glob-8 and glob-80 (both priority 0, deny): the name orders them
    expect(idx.match({ action: 'act-80x' })?.name).toBe('glob-8');
    expect(idx.match({ action: 'none' })).toBeUndefined();
  });
});

describe('the rule engine', () => {
  it('allow, deny, ask and the default; recompiles when a rule changes; audits each decision', async () => {
    const { policies, rules, audit } = await setup();
    expect(rules.evaluate({ action: 'deploy' })).toMatchObject({
      effect: 'allow',
      rule: null,
      version: null,
    });
    await policies.set('rule', 'ask-deploys', {
      effect: 'ask',
      match: { action: 'deploy' },
      approval: { group: 'ops' },
    });
    expect(rules.evaluate({ action: 'deploy' })).toMatchObject({
      effect: 'ask',
      rule: 'ask-deploys',
      version: 1,
      approval: { group: 'ops' },
    });
    await policies.set('rule', 'ask-deploys', { effect: 'deny', match: { action: 'deploy' } });
    expect(rules.evaluate({ action: 'deploy' })).toMatchObject({
      effect: 'deny',
      rule: 'ask-deploys',
      version: 2,
    });
    await policies.delete('rule', 'ask-deploys');
    expect(rules.evaluate({ action: 'deploy' }).rule).toBeNull();

    await policies.set('rule', 'no-rm', { effect: 'deny', match: { tool: 'rm' } });
    const d = await rules.decide(
      { action: 'cleanup', tool: 'rm', agent: 'janitor' },
      { runId: 'run-1' },
    );
    expect(d).toMatchObject({ effect: 'deny', rule: 'no-rm', version: 1 });
    await rules.decide({ action: 'read', agent: 'janitor' });
    await audit.flush();
    const entries = (await audit.entries()).filter((e) => e.resource.startsWith('rule:'));
    expect(entries.map((e) => [e.action.type, e.resource, e.actor])).toEqual([
      ['AccessDenied', 'rule:no-rm', 'janitor'],
      ['Other', 'rule:default', 'janitor'],
    ]);
    expect(entries[0]!.metadata).toMatchObject({
      authorization: {
        effect: 'deny',
        rule: 'no-rm',
        version: 1,
        tool: 'rm',
        runId: 'run-1',
      },
    });
    expect(entries[1]!.metadata).toMatchObject({
      authorization: { effect: 'allow', rule: null, version: null },
    });
  });

  it('a default effect other than allow applies when no rule matches', async () => {
    const { rules } = await setup('deny');
    expect(rules.evaluate({ action: 'anything' })).toMatchObject({ effect: 'deny', rule: null });
    expect(() => rules.evaluate({ action: '' })).toThrow(/authorize needs/);
  });
});
