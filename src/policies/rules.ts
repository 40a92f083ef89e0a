/**
 * Approval rules (policy kind `rule`): declarative rules matched on the action, the tool, the
 * resource, the agent and the tenant of a request, each with an effect — `allow`, `deny`, or
 * `ask` (open an approval gate and wait for a human).
 *
 * One policy is one rule. A field of `match` is an exact value, a glob (`*` matches any run of
 * characters, `deploy:*`), or an allow-list of those (`["read_file", "search"]`: any of them). A
 * field left out matches everything; a field given does not match a request without that field.
 *
 * **Precedence**: the highest `priority` wins (default 0); among matching rules of the same
 * priority the most restrictive wins (`deny` over `ask` over `allow`); a rule with no `match`
 * matches every request, so `{ "effect": "deny", "priority": -1000 }` makes deny the default.
 * When no rule matches, the engine's default effect applies (`allow` unless the kernel was opened
 * with `defaultRuleEffect`), recorded as decided by `default`.
 *
 * The rules are compiled into one index (sorted by precedence, keyed by exact action), so a
 * decision looks only at the rules for its action plus those whose action is a glob or absent:
 * with 1,000 rules a decision is a few microseconds (bench/suites/rules.ts).
 *
 * @example
 * await kernel.policies.set('rule', 'deploys-ask', {
 *   effect: 'ask', match: { action: 'deploy', resource: 'prod/*' },
 *   approval: { group: 'ops', approvers: 2, timeoutSecs: 3600, onTimeout: 'escalate', escalateTo: 'cto' },
 * });
 *
 * @module
 */
import { z } from 'zod';
import type { AuditTrail } from '../audit/audit-trail.js';
import { KernelError, errorMessage } from '../errors.js';
import type { Logger } from '../util/logger.js';
import { silentLogger } from '../util/logger.js';
import type { PolicyStore, PolicyVersion } from './policy-store.js';

/** What a matching rule does. */
export type RuleEffect = 'allow' | 'deny' | 'ask';

/** An exact value, a `*` glob, or an allow-list of those. */
export type RulePattern = string | readonly string[];

/** Which requests a rule applies to (every field given must match). */
export interface RuleMatch {
  readonly action?: RulePattern | undefined;
  readonly tool?: RulePattern | undefined;
  readonly resource?: RulePattern | undefined;
  readonly agent?: RulePattern | undefined;
  readonly tenant?: RulePattern | undefined;
}

/** How the gate an `ask` rule opens is decided. */
export interface RuleApproval {
  /** Who may decide: tokens with the scope `approver:<group>` (and admin tokens). */
  readonly group?: string | undefined;
  /** Distinct approvers needed (n of m; default 1). One rejection rejects. */
  readonly approvers?: number | undefined;
  /** Seconds before `onTimeout` applies (default 1800). */
  readonly timeoutSecs?: number | undefined;
  /** What the timeout does (default `reject`); `escalate` hands the gate to `escalateTo`. */
  readonly onTimeout?: 'reject' | 'approve' | 'escalate' | undefined;
  /** The group an escalated gate goes to (with `onTimeout: 'escalate'`). */
  readonly escalateTo?: string | undefined;
}

/** A rule policy's spec. */
export interface RuleSpec {
  readonly effect: RuleEffect;
  readonly match?: RuleMatch | undefined;
  /** Higher first (default 0). */
  readonly priority?: number | undefined;
  readonly description?: string | undefined;
  /** For `ask`: who decides, how many, and what a timeout does. */
  readonly approval?: RuleApproval | undefined;
}

/** What is asked for. */
export interface AuthorizeRequest {
  /** What the agent is about to do (`deploy`, `payment.send`). */
  readonly action: string;
  readonly tool?: string | undefined;
  readonly resource?: string | undefined;
  /** The agent's name. */
  readonly agent?: string | undefined;
  readonly tenant?: string | null | undefined;
}

/** A decision and what decided it. */
export interface RuleDecision {
  readonly effect: RuleEffect;
  /** The rule that decided, or `null` for the default. */
  readonly rule: string | null;
  /** That rule's policy version. */
  readonly version: number | null;
  /** For `ask`: the rule's approval settings. */
  readonly approval?: RuleApproval | undefined;
  /** The rule's description, or why the default applied. */
  readonly reason: string;
}

const GROUP = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

const pattern = z.union([
  z.string().min(1, 'a pattern is a non-empty string ("deploy", "prod/*")'),
  z
    .array(z.string().min(1, 'an allow-list holds non-empty strings'))
    .min(1, 'an allow-list holds at least one value: ["read_file", "search"]')
    .max(1000),
]);

const group = z
  .string()
  .regex(
    GROUP,
    'a group is 1–64 letters, digits, ".", "_", "-" or ":" (the token scope approver:<group>)',
  );

const specSchema = z
  .strictObject({
    effect: z.enum(['allow', 'deny', 'ask'], {
      message: 'effect must be "allow", "deny" or "ask"',
    }),
    match: z
      .strictObject({
        action: pattern.optional(),
        tool: pattern.optional(),
        resource: pattern.optional(),
        agent: pattern.optional(),
        tenant: pattern.optional(),
      })
      .optional(),
    priority: z
      .number()
      .int('priority is an integer (higher first)')
      .min(-1_000_000)
      .max(1_000_000)
      .optional(),
    description: z.string().max(500).optional(),
    approval: z
      .strictObject({
        group: group.optional(),
        approvers: z.number().int().min(1, 'approvers is at least 1').max(100).optional(),
        timeoutSecs: z
          .number()
          .int()
          .min(1, 'timeoutSecs is a positive number of seconds')
          .max(366 * 86400)
          .optional(),
        onTimeout: z
          .enum(['reject', 'approve', 'escalate'], {
            message: 'onTimeout must be "reject", "approve" or "escalate"',
          })
          .optional(),
        escalateTo: group.optional(),
      })
      .optional(),
  })
  .superRefine((s, ctx) => {
    if (s.approval !== undefined && s.effect !== 'ask') {
      ctx.addIssue({
        code: 'custom',
        path: ['approval'],
        message: 'only an "ask" rule opens a gate: drop approval or set effect to "ask"',
      });
    }
    const a = s.approval;
    if (a?.onTimeout === 'escalate' && a.escalateTo === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['approval', 'escalateTo'],
        message: 'onTimeout "escalate" needs escalateTo: the group the gate goes to',
      });
    }
    if (a?.escalateTo !== undefined && a.onTimeout !== 'escalate') {
      ctx.addIssue({
        code: 'custom',
        path: ['approval', 'onTimeout'],
        message: 'escalateTo needs onTimeout: "escalate"',
      });
    }
  });

/**
 * The validator of kind `rule`: checks a rule spec strictly (an unknown key is refused) and
 * throws `INVALID_ARGUMENT` naming the field and what to write.
 */
export function parseRuleSpec(spec: unknown): RuleSpec {
  const parsed = specSchema.safeParse(spec);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0]!;
  const where = issue.path.length === 0 ? 'rule' : issue.path.join('.');
  throw new KernelError(
    'INVALID_ARGUMENT',
    `Rule ${where}: ${issue.message} (a rule is { "effect": "allow"|"deny"|"ask", "match": { "action", "tool", "resource", "agent", "tenant" }, "priority", "approval" })`,
  );
}

/** One compiled field: exact values and globs. */
interface FieldMatcher {
  readonly exact: ReadonlySet<string> | null;
  readonly globs: readonly RegExp[];
}

interface CompiledRule {
  readonly ordinal: number;
  readonly name: string;
  readonly version: number;
  readonly spec: RuleSpec;
  readonly action: FieldMatcher | null;
  readonly tool: FieldMatcher | null;
  readonly resource: FieldMatcher | null;
  readonly agent: FieldMatcher | null;
  readonly tenant: FieldMatcher | null;
}

const RESTRICTIVE: Record<RuleEffect, number> = { deny: 0, ask: 1, allow: 2 };

function isGlob(p: string): boolean {
  return p.includes('*');
}

function globRegExp(p: string): RegExp {
  const body = p
    .split('*')
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`, 's');
}

function compileField(p: RulePattern | undefined): FieldMatcher | null {
  if (p === undefined) return null;
  const list = typeof p === 'string' ? [p] : p;
  const exact = list.filter((v) => !isGlob(v));
  return {
    exact: exact.length === 0 ? null : new Set(exact),
    globs: list.filter(isGlob).map(globRegExp),
  };
}

function fieldMatches(m: FieldMatcher | null, value: string | null | undefined): boolean {
  if (m === null) return true;
  if (value === undefined || value === null) return false;
  if (m.exact?.has(value) === true) return true;
  for (const g of m.globs) if (g.test(value)) return true;
  return false;
}

function matches(r: CompiledRule, q: AuthorizeRequest): boolean {
  return (
    fieldMatches(r.tool, q.tool) &&
    fieldMatches(r.resource, q.resource) &&
    fieldMatches(r.agent, q.agent) &&
    fieldMatches(r.tenant, q.tenant) &&
    fieldMatches(r.action, q.action)
  );
}

/** A named, versioned rule to compile. */
export interface NamedRule {
  readonly name: string;
  readonly version: number;
  readonly spec: RuleSpec;
}

/** Rules compiled into a precedence-sorted index keyed by exact action. */
export class RuleIndex {
  readonly #byAction = new Map<string, CompiledRule[]>();
  /** Rules whose action is absent or has a glob: candidates for every request. */
  readonly #wild: CompiledRule[] = [];
  readonly size: number;

  constructor(rules: readonly NamedRule[]) {
    const sorted = [...rules].sort(
      (a, b) =>
        (b.spec.priority ?? 0) - (a.spec.priority ?? 0) ||
        RESTRICTIVE[a.spec.effect] - RESTRICTIVE[b.spec.effect] ||
        (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
    );
    this.size = sorted.length;
    sorted.forEach((r, ordinal) => {
      const m = r.spec.match ?? {};
      const compiled: CompiledRule = {
        ordinal,
        name: r.name,
        version: r.version,
        spec: r.spec,
        action: compileField(m.action),
        tool: compileField(m.tool),
        resource: compileField(m.resource),
        agent: compileField(m.agent),
        tenant: compileField(m.tenant),
      };
      const a = compiled.action;
      if (a === null || a.globs.length > 0) this.#wild.push(compiled);
      if (a?.exact != null) {
        for (const v of a.exact) {
          const list = this.#byAction.get(v);
          if (list === undefined) this.#byAction.set(v, [compiled]);
          else list.push(compiled);
        }
      }
    });
  }

  /** The first matching rule in precedence order, or `undefined`. */
  match(q: AuthorizeRequest): CompiledRule | undefined {
    const exact = this.#byAction.get(q.action);
    const wild = this.#wild;
    let i = 0;
    let j = 0;
    const ne = exact?.length ?? 0;
    const nw = wild.length;
    // Merge the two precedence-sorted lists; the first rule that matches decides.
    while (i < ne || j < nw) {
      let r: CompiledRule;
      if (j >= nw || (i < ne && exact![i]!.ordinal < wild[j]!.ordinal)) r = exact![i++]!;
      else r = wild[j++]!;
      if (matches(r, q)) return r;
    }
    return undefined;
  }
}

/** Options for {@link createApprovalRules}. */
export interface ApprovalRulesOptions {
  /** Where the rule policies live (kind `rule`); the engine follows its changes. */
  readonly policies: PolicyStore;
  /** Every decision is audited here (rule name and version, or `default`). */
  readonly audit?: AuditTrail | undefined;
  /** The effect when no rule matches (default `allow`). */
  readonly defaultEffect?: RuleEffect | undefined;
  readonly logger?: Logger | undefined;
}

/** Context recorded with an audited decision. */
export interface DecisionContext {
  /** The run the decision was made in. */
  readonly runId?: string | undefined;
  /** A step the decision guards. */
  readonly step?: string | undefined;
}

/** Creates the rule engine over the policy store (registers the `rule` validator). */
export function createApprovalRules(options: ApprovalRulesOptions): ApprovalRules {
  return new ApprovalRules(options);
}

/** The approval-rule engine: compiled rules, recompiled when a rule policy changes. */
export class ApprovalRules {
  readonly #policies: PolicyStore;
  readonly #audit: AuditTrail | undefined;
  readonly #logger: Logger;
  readonly defaultEffect: RuleEffect;
  #index: RuleIndex | undefined;
  readonly #detach: () => void;

  constructor(options: ApprovalRulesOptions) {
    this.#policies = options.policies;
    this.#audit = options.audit;
    this.#logger = options.logger ?? silentLogger;
    this.defaultEffect = options.defaultEffect ?? 'allow';
    if (!['allow', 'deny', 'ask'].includes(this.defaultEffect)) {
      throw new KernelError(
        'INVALID_ARGUMENT',
        `defaultRuleEffect must be "allow", "deny" or "ask", got ${JSON.stringify(this.defaultEffect)}`,
      );
    }
    this.#policies.register('rule', parseRuleSpec);
    this.#detach = this.#policies.onChange((change) => {
      if (change.kind === 'rule') this.#index = undefined;
    });
  }

  /** The current rule policies, by name. */
  list(): PolicyVersion<RuleSpec>[] {
    return this.#policies.list<RuleSpec>('rule');
  }

  #compiled(): RuleIndex {
    this.#index ??= new RuleIndex(
      this.list().map((p) => ({ name: p.name, version: p.version, spec: p.spec! })),
    );
    return this.#index;
  }

  /** Decides a request (no audit): the first rule in precedence order, or the default. */
  evaluate(request: AuthorizeRequest): RuleDecision {
    checkRequest(request);
    const r = this.#compiled().match(request);
    if (r === undefined) {
      return {
        effect: this.defaultEffect,
        rule: null,
        version: null,
        reason: `no rule matches: the default is ${this.defaultEffect}`,
      };
    }
    return {
      effect: r.spec.effect,
      rule: r.name,
      version: r.version,
      ...(r.spec.approval === undefined ? {} : { approval: r.spec.approval }),
      reason: r.spec.description ?? `rule ${r.name}@${r.version}`,
    };
  }

  /** Decides a request and records the decision in the audit trail. */
  async decide(request: AuthorizeRequest, context: DecisionContext = {}): Promise<RuleDecision> {
    const decision = this.evaluate(request);
    await this.audit(request, decision, context);
    return decision;
  }

  /**
   * Records a decision in the audit trail: `AccessDenied` for a deny (or a rejected ask),
   * `Other` otherwise, with the rule name and version (or `default`) in the metadata.
   */
  async audit(
    request: AuthorizeRequest,
    decision: Pick<RuleDecision, 'effect' | 'rule' | 'version'>,
    context: DecisionContext & { outcome?: string } = {},
  ): Promise<void> {
    if (this.#audit === undefined) return;
    const by = decision.rule === null ? 'default' : `${decision.rule}@${decision.version}`;
    const what = describe(request);
    const outcome = context.outcome ?? decision.effect;
    try {
      await this.#audit.append(
        request.agent ?? 'system',
        outcome === 'deny' || outcome === 'rejected'
          ? { type: 'AccessDenied', data: { permission: what } }
          : { type: 'Other', data: { detail: `authorize ${what}: ${outcome} (${by})` } },
        `rule:${decision.rule ?? 'default'}`,
        {
          authorization: {
            effect: decision.effect,
            outcome,
            rule: decision.rule,
            version: decision.version,
            action: request.action,
            tool: request.tool ?? null,
            resource: request.resource ?? null,
            agent: request.agent ?? null,
            tenant: request.tenant ?? null,
            runId: context.runId ?? null,
            step: context.step ?? null,
          },
        },
      );
    } catch (error) {
      this.#logger.error('Could not audit an authorization decision', {
        error: errorMessage(error),
      });
      throw error;
    }
  }

  /** Stops following rule changes. */
  close(): void {
    this.#detach();
  }
}

/** `deploy tool=kubectl resource=prod/api`: how a request is named in messages and the audit. */
export function describe(q: AuthorizeRequest): string {
  return [
    q.action,
    ...(q.tool === undefined ? [] : [`tool=${q.tool}`]),
    ...(q.resource === undefined ? [] : [`resource=${q.resource}`]),
  ].join(' ');
}

function checkRequest(q: AuthorizeRequest): void {
  if (typeof q !== 'object' || q === null || typeof q.action !== 'string' || q.action === '') {
    throw new KernelError(
      'INVALID_ARGUMENT',
      'authorize needs { action: string, tool?: string, resource?: string }',
    );
  }
  for (const f of ['tool', 'resource', 'agent'] as const) {
    const v = q[f];
    if (v !== undefined && typeof v !== 'string') {
      throw new KernelError('INVALID_ARGUMENT', `authorize: ${f} must be a string`);
    }
  }
}

/** The typed error for a denied action, naming what decided. */
export function deniedError(
  request: AuthorizeRequest,
  decision: Pick<RuleDecision, 'rule' | 'version'>,
  why?: string,
): KernelError<'DENIED'> {
  const by =
    decision.rule === null
      ? 'the default rule effect'
      : `rule ${decision.rule}@${decision.version}`;
  return new KernelError(
    'DENIED',
    `${describe(request)} is denied by ${by}${why === undefined ? '' : `: ${why}`}`,
    {
      details: {
        action: request.action,
        ...(request.tool === undefined ? {} : { tool: request.tool }),
        ...(request.resource === undefined ? {} : { resource: request.resource }),
        rule: decision.rule,
        version: decision.version,
      },
    },
  );
}
