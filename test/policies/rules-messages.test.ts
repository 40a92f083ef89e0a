/**
 * Approval rules, what a user reads and what the audit keeps, word for word: every refusal of a
 * rule spec (the field and what to write), the reason of a decision, the audit entry of each
 * outcome, a `DENIED` error's message and details; and the matching corners (regex characters,
 * anchors, glob-only allow-lists, a stopped engine). Found by mutation testing (docs/testing.md).
 */
import { describe, expect, it } from 'vitest';
import { createAuditTrail } from '../../src/audit/audit-trail.js';
import { isKernelError } from '../../src/errors.js';
import { createPolicyStore } from '../../src/policies/policy-store.js';
import {
  RuleIndex,
  createApprovalRules,
  deniedError,
  parseRuleSpec,
  type RuleSpec,
} from '../../src/policies/rules.js';
import { createMemoryLog } from '../../src/storage/memory/memory-log.js';
import { ManualClock } from '../../src/util/clock.js';
import type { Logger } from '../../src/util/logger.js';

const SHAPE =
  '(a rule is { "effect": "allow"|"deny"|"ask", "match": { "action", "tool", "resource", "agent", "tenant" }, "priority", "approval" })';
const GROUP_WORDS =
  'a group is 1–64 letters, digits, ".", "_", "-" or ":" (the token scope approver:<group>)';

function refusal(spec: unknown): string {
  try {
    parseRuleSpec(spec);
  } catch (error) {
    expect(isKernelError(error, 'INVALID_ARGUMENT'), JSON.stringify(spec)).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(spec)}`);
}

async function engine(options: { logger?: Logger; defaultEffect?: 'allow' | 'deny' | 'ask' } = {}) {
  const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
  const log = createMemoryLog();
  const audit = createAuditTrail({ log, clock });
  const policies = createPolicyStore({ log, audit, clock });
  const rules = createApprovalRules({ policies, audit, ...options });
  await policies.start();
  const entries = async () => {
    await audit.flush();
    return (await audit.entries()).filter((e) => e.resource.startsWith('rule:'));
  };
  return { audit, policies, rules, entries };
}

function index(rules: Record<string, RuleSpec>): RuleIndex {
  return new RuleIndex(
    Object.entries(rules).map(([name, spec]) => ({ name, version: 1, spec: parseRuleSpec(spec) })),
  );
}

describe('rule spec refusals', () => {
  it('name the field and say what to write, word for word', () => {
    const cases: [unknown, string][] = [
      ['deny', 'rule: Invalid input: expected object, received string'],
      [{ effect: 'ask', extra: 1 }, 'rule: Unrecognized key: "extra"'],
      [{ effect: 'maybe' }, 'effect: effect must be "allow", "deny" or "ask"'],
      [
        { effect: 'allow', match: { action: '' } },
        'match.action: a pattern is a non-empty string ("deploy", "prod/*")',
      ],
      [
        { effect: 'allow', match: { tool: ['read_file', ''] } },
        'match.tool.1: an allow-list holds non-empty strings',
      ],
      [
        { effect: 'allow', match: { resource: [] } },
        'match.resource: an allow-list holds at least one value: ["read_file", "search"]',
      ],
      [{ effect: 'allow', priority: 1.5 }, 'priority: priority is an integer (higher first)'],
      [
        { effect: 'allow', priority: 1_000_001 },
        'priority: Too big: expected number to be <=1000000',
      ],
      [
        { effect: 'allow', priority: -1_000_001 },
        'priority: Too small: expected number to be >=-1000000',
      ],
      [
        { effect: 'allow', description: 'x'.repeat(501) },
        'description: Too big: expected string to have <=500 characters',
      ],
      [{ effect: 'ask', approval: { group: 'ops team' } }, `approval.group: ${GROUP_WORDS}`],
      [
        { effect: 'ask', approval: { approvers: 0 } },
        'approval.approvers: approvers is at least 1',
      ],
      [
        { effect: 'ask', approval: { approvers: 101 } },
        'approval.approvers: Too big: expected number to be <=100',
      ],
      [
        { effect: 'ask', approval: { approvers: 1.5 } },
        'approval.approvers: Invalid input: expected int, received number',
      ],
      [
        { effect: 'ask', approval: { timeoutSecs: 0 } },
        'approval.timeoutSecs: timeoutSecs is a positive number of seconds',
      ],
      [
        { effect: 'ask', approval: { timeoutSecs: 366 * 86400 + 1 } },
        'approval.timeoutSecs: Too big: expected number to be <=31622400',
      ],
      [
        { effect: 'ask', approval: { timeoutSecs: 1.5 } },
        'approval.timeoutSecs: Invalid input: expected int, received number',
      ],
      [
        { effect: 'ask', approval: { onTimeout: 'later' } },
        'approval.onTimeout: onTimeout must be "reject", "approve" or "escalate"',
      ],
      [
        { effect: 'ask', approval: { onTimeout: 'escalate', escalateTo: 'the cto' } },
        `approval.escalateTo: ${GROUP_WORDS}`,
      ],
      [
        { effect: 'deny', approval: { group: 'ops' } },
        'approval: only an "ask" rule opens a gate: drop approval or set effect to "ask"',
      ],
      [
        { effect: 'ask', approval: { onTimeout: 'escalate' } },
        'approval.escalateTo: onTimeout "escalate" needs escalateTo: the group the gate goes to',
      ],
      [
        { effect: 'ask', approval: { onTimeout: 'reject', escalateTo: 'cto' } },
        'approval.onTimeout: escalateTo needs onTimeout: "escalate"',
      ],
    ];
    for (const [spec, message] of cases) {
      expect(refusal(spec), JSON.stringify(spec).slice(0, 80)).toBe(`Rule ${message} ${SHAPE}`);
    }
  });

  it('take a group of 1–64 letters, digits and . _ - : only, from its first character to its last', () => {
    for (const ok of ['ops', 'a', 'team.eu_1:on-call', 'x'.repeat(64)]) {
      expect(parseRuleSpec({ effect: 'ask', approval: { group: ok } }).approval?.group).toBe(ok);
    }
    for (const bad of ['-ops', '.ops', 'ops!', 'x'.repeat(65), '']) {
      expect(refusal({ effect: 'ask', approval: { group: bad } })).toBe(
        `Rule approval.group: ${GROUP_WORDS} ${SHAPE}`,
      );
    }
  });

  it('accept the bounds themselves', () => {
    expect(
      parseRuleSpec({
        effect: 'ask',
        priority: 1_000_000,
        description: 'x'.repeat(500),
        match: { tool: Array.from({ length: 1000 }, (_, i) => `t${i}`) },
        approval: { approvers: 100, timeoutSecs: 366 * 86400, onTimeout: 'approve' },
      }),
    ).toMatchObject({ priority: 1_000_000, approval: { approvers: 100, onTimeout: 'approve' } });
    expect(parseRuleSpec({ effect: 'deny', priority: -1_000_000 }).priority).toBe(-1_000_000);
    expect(parseRuleSpec({ effect: 'ask', approval: { approvers: 1, timeoutSecs: 1 } })).toEqual({
      effect: 'ask',
      approval: { approvers: 1, timeoutSecs: 1 },
    });
    expect(() =>
      parseRuleSpec({
        effect: 'allow',
        match: { tool: Array.from({ length: 1001 }, (_, i) => `t${i}`) },
      }),
    ).toThrow(/^Rule match\.tool: /);
  });

  it('an unknown default effect is refused when the engine is made', async () => {
    const log = createMemoryLog();
    const policies = createPolicyStore({ log });
    expect(() =>
      createApprovalRules({ policies, defaultEffect: 'maybe' as unknown as 'allow' }),
    ).toThrow(
      expect.objectContaining({
        code: 'INVALID_ARGUMENT',
        message: 'defaultRuleEffect must be "allow", "deny" or "ask", got "maybe"',
      }),
    );
    for (const effect of ['allow', 'deny', 'ask'] as const) {
      expect(createApprovalRules({ policies, defaultEffect: effect }).defaultEffect).toBe(effect);
    }
  });
});

describe('rule matching corners', () => {
  it('treats regex characters literally and anchors a glob at both ends', () => {
    const idx = index({
      specials: {
        effect: 'deny',
        match: { tool: ['a+b', 'c?d', '(e)', '[f]', 'g|h', 'i{2}', 'j^k$', 'l\\m'] },
      },
      prefix: { effect: 'deny', match: { action: 'deploy*' } },
      suffix: { effect: 'deny', match: { resource: '*/prod' } },
      middle: { effect: 'deny', match: { agent: 'bot-*-eu' } },
    });
    for (const tool of ['a+b', 'c?d', '(e)', '[f]', 'g|h', 'i{2}', 'j^k$', 'l\\m']) {
      expect(idx.match({ action: 'x', tool })?.name, tool).toBe('specials');
    }
    for (const tool of ['aab', 'cd', 'e', 'f', 'g', 'h', 'ii', 'jk', 'l\\\\m', 'lm']) {
      expect(idx.match({ action: 'x', tool }), tool).toBeUndefined();
    }
    expect(idx.match({ action: 'deploy' })?.name).toBe('prefix');
    expect(idx.match({ action: 'deploy-prod' })?.name).toBe('prefix');
    expect(idx.match({ action: 'redeploy' })).toBeUndefined();
    expect(idx.match({ action: 'x', resource: 'eu/prod' })?.name).toBe('suffix');
    expect(idx.match({ action: 'x', resource: 'eu/prod/db' })).toBeUndefined();
    expect(idx.match({ action: 'x', agent: 'bot-1-eu' })?.name).toBe('middle');
    expect(idx.match({ action: 'x', agent: 'bot--eu' })?.name).toBe('middle');
    expect(idx.match({ action: 'x', agent: 'bot-1-eu-2' })).toBeUndefined();
    // `*` spans any characters, a line break too
    expect(idx.match({ action: 'deploy\nnow' })?.name).toBe('prefix');
  });

  it('an allow-list of globs only, or of exact values and globs, matches any of them', () => {
    const idx = index({
      globs: { effect: 'ask', match: { action: ['pay*', 'refund*'] } },
      mixed: { effect: 'deny', match: { tool: ['rm', 'shred*'] } },
    });
    expect(idx.match({ action: 'payment' })?.name).toBe('globs');
    expect(idx.match({ action: 'refund.full' })?.name).toBe('globs');
    expect(idx.match({ action: 'charge' })).toBeUndefined();
    expect(idx.match({ action: 'x', tool: 'rm' })?.name).toBe('mixed');
    expect(idx.match({ action: 'x', tool: 'shred-all' })?.name).toBe('mixed');
    expect(idx.match({ action: 'x', tool: 'rmdir' })).toBeUndefined();
  });

  it('every field a rule names must match: agent and tenant too', () => {
    const idx = index({
      both: { effect: 'deny', match: { action: 'send', agent: 'mailer', tenant: 'acme' } },
    });
    expect(idx.match({ action: 'send', agent: 'mailer', tenant: 'acme' })?.name).toBe('both');
    expect(idx.match({ action: 'send', agent: 'mailer', tenant: 'globex' })).toBeUndefined();
    expect(idx.match({ action: 'send', agent: 'other', tenant: 'acme' })).toBeUndefined();
    expect(idx.match({ action: 'send', tenant: 'acme' })).toBeUndefined();
    expect(idx.match({ action: 'sent', agent: 'mailer', tenant: 'acme' })).toBeUndefined();
  });

  it('orders rules of one priority and effect by name, whatever order they were set in', () => {
    const specs: [string, RuleSpec][] = [
      ['b', { effect: 'ask', match: { action: 'x' } }],
      ['a', { effect: 'ask', match: { action: 'x*' } }],
      ['c', { effect: 'ask' }],
    ];
    for (const order of [specs, [...specs].reverse(), [specs[1]!, specs[2]!, specs[0]!]]) {
      const idx = new RuleIndex(order.map(([name, spec]) => ({ name, version: 3, spec })));
      expect(idx.match({ action: 'x' })?.name).toBe('a');
      expect(idx.match({ action: 'y' })?.name).toBe('c');
    }
    // a negative priority sorts below the default 0; allow loses to ask at the same priority
    const idx = index({
      low: { effect: 'deny', priority: -1, match: { action: 'x' } },
      allow: { effect: 'allow', match: { action: 'x' } },
      ask: { effect: 'ask', match: { action: 'x*' } },
    });
    expect(idx.match({ action: 'x' })?.name).toBe('ask');
  });
});

describe('rule order among many of one priority and effect', () => {
  it('is by name, whatever order the rules come in', () => {
    const name = (k: number): string => `rule-${String(k).padStart(3, '0')}`;
    // rule k matches the tools 0…k: a request for tool v matches rules v…299, the first by name is v
    const ks = Array.from({ length: 300 }, (_, k) => k);
    for (let i = ks.length - 1; i > 0; i--) {
      const j = (i * 7919 + 13) % (i + 1);
      [ks[i], ks[j]] = [ks[j]!, ks[i]!];
    }
    const idx = new RuleIndex(
      ks.map((k) => ({
        name: name(k),
        version: 1,
        spec: { effect: 'deny', match: { tool: ks.filter((v) => v <= k).map(String) } },
      })),
    );
    for (let v = 0; v < 300; v++) {
      expect(idx.match({ action: 'x', tool: String(v) })?.name).toBe(name(v));
    }
  });
});

describe('decisions and their audit', () => {
  it('say why: the rule’s description, its name and version, or the default', async () => {
    const { policies, rules } = await engine({ defaultEffect: 'ask' });
    expect(rules.evaluate({ action: 'deploy' })).toStrictEqual({
      effect: 'ask',
      rule: null,
      version: null,
      reason: 'no rule matches: the default is ask',
    });
    await policies.set('rule', 'reads', { effect: 'allow', match: { action: 'read' } });
    await policies.set('rule', 'reads', { effect: 'allow', match: { action: 'read' } });
    expect(rules.evaluate({ action: 'read' })).toStrictEqual({
      effect: 'allow',
      rule: 'reads',
      version: 2,
      reason: 'rule reads@2',
    });
    await policies.set('rule', 'pay', {
      effect: 'ask',
      match: { action: 'pay' },
      description: 'payments need finance',
      approval: { group: 'finance' },
    });
    expect(rules.evaluate({ action: 'pay' })).toStrictEqual({
      effect: 'ask',
      rule: 'pay',
      version: 1,
      approval: { group: 'finance' },
      reason: 'payments need finance',
    });
    // a stopped engine no longer follows rule changes
    rules.close();
    await policies.delete('rule', 'reads');
    expect(rules.evaluate({ action: 'read' }).rule).toBe('reads');
  });

  it('refuse a request that is not { action, tool?, resource?, agent? } of strings', async () => {
    const { rules } = await engine();
    const needs = 'authorize needs { action: string, tool?: string, resource?: string }';
    for (const bad of [undefined, null, 'deploy', 7, {}, { action: 7 }, { action: '' }]) {
      expect(() => rules.evaluate(bad as never)).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT', message: needs }),
      );
    }
    for (const field of ['tool', 'resource', 'agent']) {
      expect(() => rules.evaluate({ action: 'x', [field]: 3 })).toThrow(
        expect.objectContaining({
          code: 'INVALID_ARGUMENT',
          message: `authorize: ${field} must be a string`,
        }),
      );
    }
    expect(rules.evaluate({ action: 'x', tool: 't', resource: 'r', agent: 'a' }).effect).toBe(
      'allow',
    );
  });

  it('audit each outcome with what was asked, the rule and the run', async () => {
    const { policies, rules, entries } = await engine();
    await policies.set('rule', 'deploys', { effect: 'ask', match: { action: 'deploy' } });
    const request = { action: 'deploy', tool: 'kubectl', resource: 'prod/api', agent: 'ci' };
    const asked = await rules.decide(request, { runId: 'run-1', step: 'ship' });
    await rules.audit(request, asked, { runId: 'run-1', outcome: 'approved' });
    await rules.audit(request, asked, { outcome: 'rejected' });
    await rules.decide({ action: 'read' });
    const [ask, approved, rejected, read] = await entries();
    expect(ask).toMatchObject({
      actor: 'ci',
      resource: 'rule:deploys',
      action: {
        type: 'Other',
        data: { detail: 'authorize deploy tool=kubectl resource=prod/api: ask (deploys@1)' },
      },
      metadata: {
        authorization: {
          effect: 'ask',
          outcome: 'ask',
          rule: 'deploys',
          version: 1,
          action: 'deploy',
          tool: 'kubectl',
          resource: 'prod/api',
          agent: 'ci',
          tenant: null,
          runId: 'run-1',
          step: 'ship',
        },
      },
    });
    expect(approved!.action).toEqual({
      type: 'Other',
      data: { detail: 'authorize deploy tool=kubectl resource=prod/api: approved (deploys@1)' },
    });
    expect(rejected).toMatchObject({
      action: {
        type: 'AccessDenied',
        data: { permission: 'deploy tool=kubectl resource=prod/api' },
      },
      metadata: { authorization: { effect: 'ask', outcome: 'rejected', runId: null, step: null } },
    });
    expect(read).toMatchObject({
      actor: 'system',
      resource: 'rule:default',
      action: { type: 'Other', data: { detail: 'authorize read: allow (default)' } },
      metadata: {
        authorization: {
          effect: 'allow',
          outcome: 'allow',
          rule: null,
          version: null,
          action: 'read',
          tool: null,
          resource: null,
          agent: null,
          tenant: null,
          runId: null,
          step: null,
        },
      },
    });
  });

  it('a decision that cannot be audited fails, and says so in the log', async () => {
    const errors: [string, unknown][] = [];
    const logger: Logger = {
      debug: () => undefined,
      info: () => undefined,
      warn: () => undefined,
      error: (message, fields) => errors.push([message, fields]),
    };
    const { audit, rules } = await engine({ logger });
    audit.close();
    await expect(rules.decide({ action: 'deploy' })).rejects.toMatchObject({ code: 'CLOSED' });
    expect(errors).toEqual([
      ['Could not audit an authorization decision', { error: 'The audit trail is closed' }],
    ]);
  });

  it('a rule engine without an audit trail decides all the same', async () => {
    const policies = createPolicyStore({ log: createMemoryLog() });
    const rules = createApprovalRules({ policies });
    await policies.start();
    await policies.set('rule', 'no', { effect: 'deny' });
    await expect(rules.decide({ action: 'x' })).resolves.toMatchObject({ effect: 'deny' });
  });
});

describe('a DENIED error', () => {
  it('names what was asked, what denied it and why, with the details', () => {
    const ruled = deniedError(
      { action: 'delete', tool: 'rm', resource: '/data' },
      { rule: 'no-rm', version: 4 },
      'the approval was rejected by cfo',
    );
    expect(isKernelError(ruled, 'DENIED')).toBe(true);
    expect(ruled.message).toBe(
      'delete tool=rm resource=/data is denied by rule no-rm@4: the approval was rejected by cfo',
    );
    expect(ruled.details).toStrictEqual({
      action: 'delete',
      tool: 'rm',
      resource: '/data',
      rule: 'no-rm',
      version: 4,
    });
    const byDefault = deniedError({ action: 'send' }, { rule: null, version: null });
    expect(byDefault.message).toBe('send is denied by the default rule effect');
    expect(byDefault.details).toStrictEqual({ action: 'send', rule: null, version: null });
  });
});
