/**
 * Budgets, what a user reads and what the numbers are, exactly: every refusal of a budget spec
 * and a usage report, the breach reason in plain words (each period, resource and scope), the
 * raise-or-stop gate's text, the usage rows, the ledger event a report writes, and the edges of
 * the projection (a limit reached exactly, two budgets sharing a window, usage older than the
 * window at a restart, the runs remembered). Found by mutation testing (docs/testing.md).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createKernel, type Kernel, type KernelOptions } from '../../src/kernel.js';
import { isKernelError } from '../../src/errors.js';
import {
  createBudgets,
  formatMicros,
  parseBudget,
  parseUsageReport,
  raisedLimit,
  type BudgetSpec,
} from '../../src/policies/budgets.js';
import { ManualClock } from '../../src/util/clock.js';
import { silentLogger } from '../../src/util/logger.js';
import { tempDir } from '../helpers/stores.js';

const DAY = 86_400_000;
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 4, 12);

const dirs: (() => void)[] = [];
afterAll(() => {
  for (const cleanup of dirs) cleanup();
});

function open(options: KernelOptions = {}): Promise<Kernel> {
  const { dir, cleanup } = tempDir('kerno-budget-words-');
  dirs.push(cleanup);
  return createKernel({
    store: 'memory:',
    stateDir: dir,
    logger: silentLogger,
    registryKey: 'budget words key',
    registryScryptCost: 1024,
    runRetention: false,
    agents: false,
    ...options,
  });
}

function refusal(parse: (v: unknown) => unknown, value: unknown): string {
  try {
    parse(value);
  } catch (error) {
    expect(isKernelError(error, 'INVALID_ARGUMENT'), JSON.stringify(value)).toBe(true);
    return (error as Error).message;
  }
  throw new Error(`accepted ${JSON.stringify(value)}`);
}

describe('budget spec refusals', () => {
  it('name the field and say what to write, word for word', () => {
    const name = 'is a name (1–128 characters)';
    const day = 'windowMs is a duration in ms ≥ 1000, e.g. 86400000 for a day';
    const cases: [unknown, string][] = [
      ['x', 'A budget: Invalid input: expected object, received string'],
      [{ agent: '', calls: 1, perRun: true }, `Budget field agent: ${name}`],
      [{ agent: 'x'.repeat(129), calls: 1, perRun: true }, `Budget field agent: ${name}`],
      [{ tenant: 7, calls: 1, perRun: true }, `Budget field tenant: ${name}`],
      [
        { tenant: 'ac\u0007me', calls: 1, perRun: true },
        'Budget field tenant: holds no control characters',
      ],
      [
        { agent: 'a\u007f', calls: 1, perRun: true },
        'Budget field agent: holds no control characters',
      ],
      [{ tokens: 1.5, perRun: true }, 'Budget field tokens: tokens is a whole number ≥ 0'],
      [{ tokens: '10', perRun: true }, 'Budget field tokens: tokens is a whole number ≥ 0'],
      [{ calls: -1, perRun: true }, 'Budget field calls: calls is a whole number ≥ 0'],
      [{ calls: 2 ** 53, perRun: true }, 'Budget field calls: calls is a whole number ≥ 0'],
      [
        { costMicros: 1.5, perRun: true },
        'Budget field costMicros: costMicros (micro-dollars: 5000000 is $5.00) is a whole number ≥ 0',
      ],
      [{ calls: 1, windowMs: 999 }, `Budget field windowMs: ${day}`],
      [{ calls: 1, windowMs: 1000.5 }, `Budget field windowMs: ${day}`],
      [{ calls: 1, windowMs: 'day' }, `Budget field windowMs: ${day}`],
      [{ calls: 1, windowMs: 366 * DAY + 1 }, 'Budget field windowMs: windowMs is at most a year'],
      [{ calls: 1, perRun: 'yes' }, 'Budget field perRun: perRun is true or false'],
      [
        { calls: 1, perRun: true, onBreach: 'warn' },
        'Budget field onBreach: onBreach is "ask" or "stop"',
      ],
      [
        { calls: 1, perRun: true, raiseFactor: 1 },
        'Budget field raiseFactor: raiseFactor is a number > 1, e.g. 1.5',
      ],
      [
        { calls: 1, perRun: true, raiseFactor: '2' },
        'Budget field raiseFactor: raiseFactor is a number > 1, e.g. 1.5',
      ],
      [
        { calls: 1, perRun: true, askTimeoutMs: 999 },
        'Budget field askTimeoutMs: askTimeoutMs is a duration in ms ≥ 1000',
      ],
      [
        { calls: 1, perRun: true, askTimeoutMs: 'soon' },
        'Budget field askTimeoutMs: askTimeoutMs is a duration in ms ≥ 1000',
      ],
      [
        { calls: 1, perRun: true, cost: 1, limit: 2 },
        'A budget has no field "cost", "limit"; its fields are agent, tenant, tokens, costMicros, calls, windowMs, perRun, onBreach, raiseFactor, askTimeoutMs',
      ],
      [
        { agent: 'research', windowMs: DAY },
        'A budget needs at least one limit: tokens, costMicros (micro-dollars) or calls, e.g. { "agent": "research", "costMicros": 5000000, "windowMs": 86400000 }',
      ],
      [
        { calls: 1, perRun: false },
        'A budget needs a period: "windowMs": 86400000 for a sliding day, and/or "perRun": true for each run',
      ],
    ];
    for (const [spec, message] of cases) {
      expect(refusal(parseBudget, spec), JSON.stringify(spec).slice(0, 60)).toBe(message);
    }
  });

  it('accept the bounds themselves and each limit alone', () => {
    const full: BudgetSpec = {
      agent: 'x'.repeat(128),
      tenant: 't',
      tokens: 0,
      costMicros: Number.MAX_SAFE_INTEGER,
      calls: 3,
      windowMs: 1000,
      perRun: true,
      onBreach: 'stop',
      raiseFactor: 1000,
      askTimeoutMs: 1000,
    };
    expect(parseBudget(full)).toEqual(full);
    expect(parseBudget({ calls: 1, windowMs: 366 * DAY })).toEqual({
      calls: 1,
      windowMs: 366 * DAY,
    });
    expect(parseBudget({ tokens: 5, perRun: true })).toEqual({ tokens: 5, perRun: true });
    expect(parseBudget({ calls: 1, perRun: true, onBreach: 'ask' })).toEqual({
      calls: 1,
      perRun: true,
      onBreach: 'ask',
    });
    expect(parseBudget({ costMicros: 5, perRun: true })).toEqual({ costMicros: 5, perRun: true });
    expect(refusal(parseBudget, { calls: 1, perRun: true, raiseFactor: 1001 })).toMatch(
      /^Budget field raiseFactor: /,
    );
  });

  it('refuse a usage report that is not whole numbers ≥ 0 and a short model name', () => {
    const needs =
      'reportUsage needs { tokens?, costMicros?, model? }, e.g. { tokens: 1200, costMicros: 3400, model: "gpt-4o" }';
    const whole = (name: string, got: string): string =>
      `reportUsage: ${name} is a whole number ≥ 0 (costMicros in micro-dollars: 1000000 is $1.00), got ${got}`;
    const model = 'reportUsage: model is a string of ≤ 200 characters';
    const cases: [unknown, string][] = [
      [null, needs],
      ['1200', needs],
      [{ tokens: -1 }, whole('tokens', '-1')],
      [{ tokens: 1.5 }, whole('tokens', '1.5')],
      [{ costMicros: '3' }, whole('costMicros', '"3"')],
      [{ costMicros: 2 ** 53 }, whole('costMicros', '9007199254740992')],
      [{ model: 4 }, model],
      [{ model: 'm'.repeat(201) }, model],
    ];
    for (const [report, message] of cases) {
      expect(refusal(parseUsageReport, report), JSON.stringify(report)).toBe(message);
    }
    expect(parseUsageReport({ tokens: 0, costMicros: 0, model: 'm'.repeat(200) })).toStrictEqual({
      tokens: 0,
      costMicros: 0,
      model: 'm'.repeat(200),
    });
    expect(parseUsageReport({})).toStrictEqual({});
    expect(parseUsageReport({ model: 'gpt' })).toStrictEqual({ model: 'gpt' });
  });
});

describe('money and raises', () => {
  it('shows micro-dollars as dollars: whole above $100, four places below a dime', () => {
    expect(
      [0, 15_000, 99_999, 100_000, 5_020_000, 99_990_000, 100_000_000, 123_456_789].map(
        formatMicros,
      ),
    ).toEqual(['$0.00', '$0.0150', '$0.1000', '$0.10', '$5.02', '$99.99', '$100', '$123']);
  });

  it('raises by the factor until above what was used, and at least to 1', () => {
    expect(raisedLimit(0, 0, 1.5)).toBe(1);
    expect(raisedLimit(10, 10, 1.5)).toBe(15);
    expect(raisedLimit(10, 15, 1.5)).toBe(23);
    expect(raisedLimit(3, 2, 1.1)).toBe(4);
  });
});

describe('breach reasons in plain words', () => {
  it('say who spent what of which budget over which period', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      const cases: [BudgetSpec, string][] = [
        [
          { tokens: 1000, windowMs: HOUR },
          'all agents together used 1,200 of the 1,000 hourly tokens',
        ],
        [
          { tenant: 'acme', calls: 1, windowMs: 7 * DAY },
          'tenant acme made 1 of its 1 weekly model calls',
        ],
        [
          { agent: 'r', tenant: 'acme', costMicros: 2000, windowMs: 30 * DAY },
          'r spent $0.0034 of its $0.0020 30-day budget',
        ],
        [{ agent: 'r', tokens: 5, windowMs: 2 * DAY }, 'r used 1,200 of its 5 2-day tokens'],
        [{ agent: 'r', tokens: 5, windowMs: 3 * HOUR }, 'r used 1,200 of its 5 3-hour tokens'],
        [
          { agent: 'r', tokens: 5, windowMs: 90 * 60_000 },
          'r used 1,200 of its 5 90-minute tokens',
        ],
        [{ agent: 'r', tokens: 5, windowMs: 90_000 }, 'r used 1,200 of its 5 90-second tokens'],
        [{ agent: 'r', calls: 1, windowMs: DAY }, 'r made 1 of its 1 daily model calls'],
        [
          { agent: 'r', costMicros: 1000, perRun: true },
          'r spent $0.0034 of its $0.0010 per-run budget',
        ],
      ];
      await kernel.budgets.report(
        { agent: 'r', tenant: 'acme', runId: 'run-1' },
        { tokens: 1200, costMicros: 3400 },
      );
      for (const [spec, reason] of cases) {
        await kernel.policies.set('budget', 'b', spec);
        await kernel.budgets.settled();
        expect(
          kernel.budgets.check({ agent: 'r', tenant: 'acme', runId: 'run-1' })?.reason,
          JSON.stringify(spec),
        ).toBe(reason);
      }
    } finally {
      await kernel.close();
    }
  });
});

/** A usage event as another writer appends it to the ledger. */
function outcome(data: Record<string, unknown>): Parameters<Kernel['ledger']['append']>[0] {
  return {
    type: 'OutcomeRecorded',
    data: {
      chain_id: 'c',
      step: 'Evaluation',
      passed: true,
      stop_reason: null,
      latency_ms: null,
      tokens: null,
      cost_microdollars: null,
      backend: null,
      ...data,
    },
  };
}

describe('usage rows and checks', () => {
  it('breach at the limit exactly, name the scope, and show per-run rows without a window', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'pair', {
        agent: 'r',
        tenant: 'acme',
        tokens: 100,
        calls: 3,
        perRun: true,
        windowMs: DAY,
      });
      await kernel.policies.set('budget', 'acme', {
        tenant: 'acme',
        costMicros: 10,
        windowMs: DAY,
      });
      await kernel.policies.set('budget', 'global', { calls: 3, windowMs: HOUR, onBreach: 'stop' });
      const subject = { agent: 'r', tenant: 'acme', runId: 'run-1' };
      await kernel.budgets.report(subject, { tokens: 99 });
      expect(kernel.budgets.check(subject)).toBeNull();
      await kernel.budgets.report(subject, { tokens: 1 });
      // the first budget in order: the global one (not reached), then the agent in tenant's
      expect(kernel.budgets.check(subject)).toStrictEqual({
        budget: 'pair',
        version: 1,
        resource: 'tokens',
        period: 'window',
        used: 100,
        limit: 100,
        onBreach: 'ask',
        reason: 'r used 100 of its 100 daily tokens',
      });
      const rows = kernel.budgets.usage({ run: 'run-1' });
      expect(rows).toStrictEqual([
        {
          budget: 'acme',
          version: 1,
          scope: 'tenant acme',
          agent: null,
          tenant: 'acme',
          period: 'window',
          windowMs: DAY,
          resource: 'costMicros',
          used: 0,
          limit: 10,
          percent: 0,
          breached: false,
        },
        {
          budget: 'global',
          version: 1,
          scope: 'global',
          agent: null,
          tenant: null,
          period: 'window',
          windowMs: HOUR,
          resource: 'calls',
          used: 2,
          limit: 3,
          percent: 66.7,
          breached: false,
        },
        ...['window', 'run'].flatMap((period) =>
          (['tokens', 'calls'] as const).map((resource) => ({
            budget: 'pair',
            version: 1,
            scope: 'agent r in tenant acme',
            agent: 'r',
            tenant: 'acme',
            period,
            windowMs: period === 'window' ? DAY : null,
            resource,
            used: resource === 'tokens' ? 100 : 2,
            limit: resource === 'tokens' ? 100 : 3,
            percent: resource === 'tokens' ? 100 : 66.7,
            breached: resource === 'tokens',
            ...(period === 'run' ? { run: 'run-1' } : {}),
          })),
        ),
      ]);
      // a third call reaches the global stop budget
      await kernel.budgets.report({ agent: 'x', tenant: 'acme' }, { costMicros: 1 });
      expect(kernel.budgets.usage({ tenant: 'acme' })[0]).toMatchObject({ used: 1, percent: 10 });
      expect(kernel.budgets.check({ agent: 'y' })).toMatchObject({
        budget: 'global',
        resource: 'calls',
        onBreach: 'stop',
        reason: 'all agents together made 3 of the 3 hourly model calls',
      });
      // an agent's query shows its own and the shared budgets, never another agent's
      await kernel.policies.set('budget', 'other', { agent: 'o', calls: 1, perRun: true });
      expect(new Set(kernel.budgets.usage({ agent: 'r' }).map((r) => r.budget))).toEqual(
        new Set(['acme', 'global', 'pair']),
      );
      expect(new Set(kernel.budgets.usage({ agent: 'o' }).map((r) => r.budget))).toEqual(
        new Set(['acme', 'global', 'other']),
      );
    } finally {
      await kernel.close();
    }
  });

  it('a limit of 0 is reached at once: 0 % used, then 100 % once anything is spent', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'zero', { tenant: 'zed', calls: 0, windowMs: DAY });
      expect(kernel.budgets.usage({ tenant: 'zed' })).toMatchObject([
        { used: 0, percent: 0, breached: true },
      ]);
      expect(kernel.budgets.check({ agent: 'z', tenant: 'zed' })?.reason).toBe(
        'tenant zed made 0 of its 0 daily model calls',
      );
      await kernel.budgets.report({ agent: 'z', tenant: 'zed' }, {});
      expect(kernel.budgets.usage({ tenant: 'zed' })).toMatchObject([{ used: 1, percent: 100 }]);
    } finally {
      await kernel.close();
    }
  });

  it('usage without an agent or tenant never counts toward a budget of one named "null"', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'a', { agent: 'null', calls: 9, windowMs: DAY });
      await kernel.policies.set('budget', 't', { tenant: 'null', calls: 9, windowMs: DAY });
      await kernel.policies.set('budget', 'at', {
        agent: 'r',
        tenant: 'null',
        calls: 9,
        windowMs: DAY,
      });
      await kernel.policies.set('budget', 'null-in-acme', {
        agent: 'null',
        tenant: 'acme',
        calls: 9,
        windowMs: DAY,
      });
      await kernel.budgets.report({ agent: 'r' }, {});
      await kernel.ledger.append(outcome({ tokens: 1 }));
      // no agent, in tenant acme: counts for acme, not for an agent named "null" in acme
      await kernel.ledger.append(outcome({ tokens: 2 }), { tenantId: 'acme' });
      await kernel.budgets.settled();
      await kernel.budgets.report({ agent: 'null', tenant: 'null' }, {});
      await expect
        .poll(() => kernel.budgets.usage().map((r) => [r.budget, r.used]))
        .toEqual([
          ['a', 1],
          ['at', 0],
          ['null-in-acme', 0],
          ['t', 1],
        ]);
    } finally {
      await kernel.close();
    }
  });

  it('a per-run budget not reached does not hide a window budget reached', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'run', { tokens: 100, perRun: true });
      await kernel.policies.set('budget', 'day', { agent: 'r', tokens: 10, windowMs: DAY });
      await kernel.budgets.report({ agent: 'r', runId: 'run-1' }, { tokens: 10 });
      expect(kernel.budgets.check({ agent: 'r', runId: 'run-1' })?.budget).toBe('day');
    } finally {
      await kernel.close();
    }
  });

  it('a run is not held to a window budget by its usage that aged out of the window', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'hour', { agent: 'r', tokens: 10, windowMs: HOUR });
      const subject = { agent: 'r', runId: 'run-1' };
      await kernel.budgets.report(subject, { tokens: 10 });
      expect(kernel.budgets.check(subject)).toMatchObject({ budget: 'hour', period: 'window' });
      clock.advance(2 * HOUR);
      expect(kernel.budgets.check(subject)).toBeNull();
    } finally {
      await kernel.close();
    }
  });

  it('count usage once in two budgets of one scope and window, and apart per resource', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'tokens', { agent: 'r', tokens: 1000, windowMs: DAY });
      await kernel.policies.set('budget', 'cost', { agent: 'r', costMicros: 1000, windowMs: DAY });
      await kernel.budgets.report({ agent: 'r' }, { tokens: 10, costMicros: 20 });
      await kernel.budgets.report({ agent: 'r' }, { tokens: 1 });
      expect(kernel.budgets.usage().map((r) => [r.budget, r.resource, r.used])).toEqual([
        ['cost', 'costMicros', 20],
        ['tokens', 'tokens', 11],
      ]);
      // neither reached: no breach for the agent, with or without a run
      expect(kernel.budgets.check({ agent: 'r' })).toBeNull();
      expect(kernel.budgets.check({ agent: 'r', runId: 'run-1' })).toBeNull();
    } finally {
      await kernel.close();
    }
  });

  it('show the run that spent most against the limits, or the run asked about', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'run', {
        agent: 'r',
        tokens: 1000,
        costMicros: 100,
        calls: 10,
        perRun: true,
      });
      await kernel.budgets.report({ agent: 'r', runId: 'tokens' }, { tokens: 500 });
      await kernel.budgets.report({ agent: 'r', runId: 'cost' }, { costMicros: 60 });
      await kernel.budgets.report({ agent: 'r', runId: 'idle' }, {});
      await kernel.budgets.report({ agent: 'o', runId: 'other' }, { costMicros: 99 });
      const top = (query?: { run?: string }) =>
        kernel.budgets.usage(query).map((r) => [r.run, r.resource, r.used]);
      // 60 % of the cost limit beats 50 % of the tokens; another agent's run is not shown
      expect(top()).toEqual([
        ['cost', 'tokens', 0],
        ['cost', 'costMicros', 60],
        ['cost', 'calls', 1],
      ]);
      expect(top({ run: 'tokens' })).toEqual([
        ['tokens', 'tokens', 500],
        ['tokens', 'costMicros', 0],
        ['tokens', 'calls', 1],
      ]);
      expect(top({ run: 'nope' })).toEqual([
        ['nope', 'tokens', 0],
        ['nope', 'costMicros', 0],
        ['nope', 'calls', 0],
      ]);
      await kernel.budgets.report({ agent: 'r', runId: 'calls' }, {});
      for (let i = 0; i < 8; i++) await kernel.budgets.report({ agent: 'r', runId: 'calls' }, {});
      expect(top()[2]).toEqual(['calls', 'calls', 9]);
    } finally {
      await kernel.close();
    }
  });

  it('weighs runs only by the limits a budget has', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'tokens', { tokens: 100, perRun: true });
      await kernel.policies.set('budget', 'cost', { costMicros: 100, perRun: true });
      await kernel.budgets.report({ agent: 'r', runId: 'small' }, { tokens: 1, costMicros: 90 });
      await kernel.budgets.report({ agent: 'r', runId: 'big' }, { tokens: 90, costMicros: 1 });
      expect(kernel.budgets.usage().map((r) => [r.budget, r.run, r.used])).toEqual([
        ['cost', 'small', 90],
        ['tokens', 'big', 90],
      ]);
      await kernel.policies.set('budget', 'calls', { calls: 10, perRun: true });
      await kernel.budgets.report({ agent: 'r', runId: 'big' }, {});
      expect(kernel.budgets.usage().find((r) => r.budget === 'calls')).toMatchObject({
        run: 'big',
        used: 2,
      });
    } finally {
      await kernel.close();
    }
  });

  it('a tenant asking about a run sees only its own tenant’s usage of it', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'any', { tokens: 100, perRun: true });
      await kernel.policies.set('budget', 'acme', { tenant: 'acme', tokens: 100, perRun: true });
      await kernel.budgets.report({ agent: 'r', tenant: 'acme', runId: 'run-1' }, { tokens: 5 });
      await kernel.budgets.report({ agent: 'r', tenant: 'beta', runId: 'run-1' }, { tokens: 50 });
      await kernel.budgets.report({ agent: 'r', tenant: 'beta', runId: 'run-2' }, { tokens: 70 });
      expect(kernel.budgets.usage({ tenant: 'acme', run: 'run-1' })).toMatchObject([
        { budget: 'acme', run: 'run-1', used: 5 },
      ]);
      // the tenant's own budget shows the tenant's top run; a shared one every tenant's
      expect(kernel.budgets.usage().map((r) => [r.budget, r.run, r.used])).toEqual([
        ['acme', 'run-1', 5],
        ['any', 'run-2', 70],
      ]);
      // the operator asking about run-1 of any tenant: the one of that id that spent most
      expect(kernel.budgets.usage({ run: 'run-1' }).map((r) => [r.budget, r.used])).toEqual([
        ['acme', 5],
        ['any', 50],
      ]);
    } finally {
      await kernel.close();
    }
  });

  it('without a run, a per-run budget shows zero and no run', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'run', { calls: 2, perRun: true });
      expect(kernel.budgets.usage()).toHaveLength(1);
      expect(Object.keys(kernel.budgets.usage()[0]!)).not.toContain('run');
      expect(kernel.budgets.usage()[0]).toMatchObject({ used: 0, period: 'run', windowMs: null });
      // usage without a run counts toward no run
      await kernel.budgets.report({ agent: 'r' }, { tokens: 3 });
      expect(kernel.budgets.usage()[0]).toMatchObject({ used: 0 });
      expect(kernel.budgets.check({ agent: 'r' })).toBeNull();
    } finally {
      await kernel.close();
    }
  });
});

describe('the usage projection', () => {
  it('writes each report to the ledger with its agent, run, tenant and model, once per event id', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      const subject = { agent: 'r', tenant: 'acme', runId: 'run-1' };
      await kernel.budgets.report(
        subject,
        { tokens: 5, costMicros: 7, model: 'm' },
        { eventId: 'e-1' },
      );
      await kernel.budgets.report(
        subject,
        { tokens: 5, costMicros: 7, model: 'm' },
        { eventId: 'e-1' },
      );
      await kernel.budgets.report({ agent: 'solo' }, {});
      const records = await kernel.ledger.query({ kinds: ['OutcomeRecorded'] });
      expect(records.map((r) => r.envelope)).toMatchObject([
        {
          event_id: 'e-1',
          tenant_id: 'acme',
          correlation_id: 'run-1',
          event: {
            type: 'OutcomeRecorded',
            data: {
              chain_id: 'usage:run-1',
              step: 'Evaluation',
              passed: true,
              tokens: 5,
              cost_microdollars: 7,
              backend: 'm',
              metadata: { agent: 'r', source: 'kerno.usage', run: 'run-1' },
            },
          },
        },
        {
          tenant_id: null,
          correlation_id: null,
          event: {
            data: {
              chain_id: 'usage:solo',
              tokens: null,
              cost_microdollars: null,
              backend: null,
              metadata: { agent: 'solo', source: 'kerno.usage' },
            },
          },
        },
      ]);
      expect(
        (records[1]!.envelope.event as { data: { metadata: object } }).data.metadata,
      ).not.toHaveProperty('run');
      await kernel.policies.set('budget', 'run', {
        agent: 'r',
        tenant: 'acme',
        calls: 9,
        perRun: true,
      });
      expect(kernel.budgets.usage({ run: 'run-1' })[0]).toMatchObject({ used: 1 });
    } finally {
      await kernel.close();
    }
  });

  it('reads other writers’ events: a run from metadata, no agent, no tokens, not run summaries', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'all', { tokens: 1000, costMicros: 1000, windowMs: DAY });
      await kernel.policies.set('budget', 'runs', { tokens: 1000, perRun: true });
      await kernel.policies.set('budget', 'r', { agent: 'r', tokens: 1000, windowMs: DAY });
      await kernel.ledger.append(outcome({ tokens: 4, metadata: { run: 'run-m' } }));
      await kernel.ledger.append(outcome({ cost_microdollars: 6, metadata: { agent: 'r' } }));
      // a finished run's summary repeats its steps' usage: not counted again
      await kernel.ledger.append(
        outcome({ tokens: 100, backend: 'kerno-runs', metadata: { agent: 'r', run: 'run-m' } }),
      );
      // the follow delivers in order: once this last event counts, the summary was read
      await kernel.ledger.append(outcome({ tokens: 10, metadata: { agent: 's' } }));
      await kernel.budgets.settled();
      const rows = () => kernel.budgets.usage().map((r) => [r.budget, r.resource, r.used, r.run]);
      await expect.poll(() => rows()[0]).toEqual(['all', 'tokens', 14, undefined]);
      expect(rows()).toEqual([
        ['all', 'tokens', 14, undefined],
        ['all', 'costMicros', 6, undefined],
        ['r', 'tokens', 0, undefined],
        ['runs', 'tokens', 4, 'run-m'],
      ]);
    } finally {
      await kernel.close();
    }
  });

  it('counts usage stamped a little in the future in the newest bucket, where it ages like now', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'hour', { tokens: 1000, windowMs: HOUR });
      await kernel.ledger.append(outcome({ tokens: 7 }), {
        occurredAt: new Date(T0 + 4 * 60_000).toISOString(),
      });
      const used = () => kernel.budgets.usage()[0]?.used;
      await expect.poll(used).toBe(7);
      clock.advance(5 * 60_000);
      expect(used()).toBe(7);
      // a raise keeps the window's sums: the usage still ages from where it was counted
      await kernel.policies.set('budget', 'hour', { tokens: 2000, windowMs: HOUR });
      await kernel.budgets.settled();
      expect(used()).toBe(7);
      // an hour after it was counted (57 minutes after its stamp): aged out
      clock.advance(56 * 60_000);
      expect(used()).toBe(0);
    } finally {
      await kernel.close();
    }
  });

  it('slides tokens and calls out bucket by bucket, as it does costs', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'hour', {
        agent: 'r',
        tokens: 100,
        calls: 9,
        windowMs: HOUR,
      });
      await kernel.budgets.report({ agent: 'r' }, { tokens: 5 });
      clock.advance(HOUR / 2);
      await kernel.budgets.report({ agent: 'r' }, { tokens: 7 });
      const used = () => kernel.budgets.usage().map((r) => [r.resource, r.used, r.scope]);
      expect(used()).toEqual([
        ['tokens', 12, 'agent r'],
        ['calls', 2, 'agent r'],
      ]);
      clock.advance(HOUR / 2 + HOUR / 64);
      expect(used()).toEqual([
        ['tokens', 7, 'agent r'],
        ['calls', 1, 'agent r'],
      ]);
    } finally {
      await kernel.close();
    }
  });

  it('a new budget is filled only with its own agent’s and tenant’s past usage', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.budgets.report({ agent: 'r', tenant: 'acme' }, { tokens: 1 });
      await kernel.budgets.report({ agent: 's', tenant: 'acme' }, { tokens: 10 });
      await kernel.budgets.report({ agent: 'r', tenant: 'beta' }, { tokens: 100 });
      await kernel.budgets.report({ agent: 'r' }, { tokens: 1000 });
      clock.advance(HOUR);
      await kernel.policies.set('budget', 'r-acme', {
        agent: 'r',
        tenant: 'acme',
        tokens: 9,
        windowMs: DAY,
      });
      await kernel.policies.set('budget', 'acme', { tenant: 'acme', tokens: 9, windowMs: DAY });
      await kernel.policies.set('budget', 'r', { agent: 'r', tokens: 9, windowMs: DAY });
      // an hour-long window does not reach back to usage an hour and more old
      await kernel.policies.set('budget', 'recent', { tokens: 9, windowMs: HOUR / 2 });
      await kernel.budgets.settled();
      expect(kernel.budgets.usage().map((r) => [r.budget, r.used])).toEqual([
        ['acme', 11],
        ['r', 1101],
        ['r-acme', 1],
        ['recent', 0],
      ]);
    } finally {
      await kernel.close();
    }
  });

  it('a budget set while usage is reported and appended counts each event once', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.budgets.report({ agent: 'r' }, { tokens: 1 });
      await Promise.all([
        kernel.budgets.report({ agent: 'r' }, { tokens: 20 }),
        kernel.ledger.append(outcome({ tokens: 300, metadata: { agent: 'r' } })),
        kernel.policies.set('budget', 'day', { agent: 'r', tokens: 10_000, windowMs: DAY }),
        kernel.budgets.report({ agent: 'r' }, { tokens: 4000 }),
        kernel.ledger.append(outcome({ tokens: 50_000, metadata: { agent: 's' } })),
      ]);
      await kernel.ledger.append(outcome({ tokens: 600_000, metadata: { agent: 'r' } }));
      await kernel.budgets.settled();
      await expect.poll(() => kernel.budgets.usage()[0]?.used).toBeGreaterThan(600_000);
      expect(kernel.budgets.usage().map((r) => [r.budget, r.used])).toEqual([['day', 604_321]]);
    } finally {
      await kernel.close();
    }
  });

  it('settled() waits until a new budget holds its past usage, even called at the change itself', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.budgets.report({ agent: 'r' }, { tokens: 7 });
      let seen: Promise<number[]> | undefined;
      // called from a listener after the projection's own: the window exists, not yet filled
      const off = kernel.policies.onChange(() => {
        seen ??= kernel.budgets.settled().then(() => kernel.budgets.usage().map((r) => r.used));
      });
      await kernel.policies.set('budget', 'day', { agent: 'r', tokens: 100, windowMs: DAY });
      off();
      expect(await seen).toEqual([7]);
    } finally {
      await kernel.close();
    }
  });

  it('says in the log when the ledger holds a record it cannot read', async () => {
    const logged: [string, unknown][] = [];
    const note = (message: string, fields?: unknown): void => {
      logged.push([message, fields]);
    };
    const logger = { debug: note, info: note, warn: note, error: note };
    const kernel = await open({ clock: new ManualClock(T0), logger });
    try {
      // written past the ledger (which validates every envelope): not JSON
      await kernel.storage.log.append('experience', [
        { timeMs: T0, body: '{not json', kind: 'OutcomeRecorded' },
      ]);
      await kernel.policies.set('budget', 'day', { tokens: 10, windowMs: DAY });
      await kernel.budgets.settled();
      const json: unknown = expect.stringMatching(/JSON/);
      const error = { error: json };
      expect(logged).toContainEqual(['A budget window could not be filled from the ledger', error]);
      await expect
        .poll(() => logged)
        .toContainEqual(['The budget projection stopped following the ledger', error]);
    } finally {
      await kernel.close();
    }
  });

  it('a budget deleted and set again counts the usage spent while it was gone', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      const spec = { agent: 'r', tokens: 1000, windowMs: DAY };
      await kernel.policies.set('budget', 'day', spec);
      await kernel.budgets.report({ agent: 'r' }, { tokens: 1 });
      await kernel.policies.delete('budget', 'day');
      expect(kernel.budgets.usage()).toEqual([]);
      await kernel.budgets.report({ agent: 'r' }, { tokens: 20 });
      await kernel.policies.set('budget', 'day', spec);
      await kernel.budgets.settled();
      expect(kernel.budgets.usage().map((r) => [r.budget, r.version, r.used])).toEqual([
        ['day', 3, 21],
      ]);
      expect(kernel.budgets.check({ agent: 'r' })).toBeNull();
      await kernel.budgets.report({ agent: 'r' }, { tokens: 979 });
      expect(kernel.budgets.check({ agent: 'r' })).toMatchObject({
        budget: 'day',
        used: 1000,
        reason: 'r used 1,000 of its 1,000 daily tokens',
      });
    } finally {
      await kernel.close();
    }
  });

  it('replays the ledger at start: usage older than the window does not count, and old runs are forgotten', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'day', { agent: 'r', tokens: 1000, windowMs: DAY });
      await kernel.policies.set('budget', 'run', { agent: 'r', tokens: 1000, perRun: true });
      await kernel.budgets.report({ agent: 'r', runId: 'old' }, { tokens: 500 });
      // a day later to the ms: the old usage's bucket is the one that just slid out
      clock.advance(DAY);
      await kernel.budgets.report({ agent: 'r', runId: 'a' }, { tokens: 1 });
      await kernel.budgets.report({ agent: 'r', runId: 'b' }, { tokens: 2 });
      // a second projection of the same ledger, remembering two runs
      const logged: string[] = [];
      const note = (message: string): void => {
        logged.push(message);
      };
      const again = createBudgets({
        ledger: kernel.ledger,
        policies: kernel.policies,
        clock,
        maxRuns: 2,
        logger: { debug: note, info: note, warn: note, error: note },
      });
      await again.start();
      try {
        expect(again.usage().map((r) => [r.budget, r.used, r.run])).toEqual([
          ['day', 3, undefined],
          ['run', 2, 'b'],
        ]);
        expect(again.usage({ run: 'old' }).find((r) => r.budget === 'run')?.used).toBe(0);
        expect(again.usage({ run: 'a' }).find((r) => r.budget === 'run')?.used).toBe(1);
        expect(kernel.budgets.usage({ run: 'old' }).find((r) => r.budget === 'run')?.used).toBe(
          500,
        );
        expect(kernel.budgets.usage().find((r) => r.budget === 'day')?.used).toBe(3);
      } finally {
        await again.close();
      }
      // closing is quiet; a closed projection counts nothing more
      expect(logged).toEqual([]);
      await kernel.budgets.report({ agent: 'r', runId: 'a' }, { tokens: 4 });
      expect(again.usage().find((r) => r.budget === 'day')?.used).toBe(3);
      // nor follows the policies: a budget set after it closed is not filled from the ledger
      await kernel.policies.set('budget', 'late', { agent: 'r', tokens: 1000, windowMs: HOUR });
      await again.settled();
      expect(again.usage().find((r) => r.budget === 'late')?.used).toBe(0);
      await kernel.budgets.settled();
      expect(kernel.budgets.usage().find((r) => r.budget === 'late')?.used).toBe(7);
    } finally {
      await kernel.close();
    }
  });
});

describe('the raise-or-stop gate', () => {
  it('raises a window budget above the window’s usage, and takes a new limit of 0 or more', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'day', { agent: 'r', tokens: 10, windowMs: DAY });
      const subject = { agent: 'r', runId: 'run-1' };
      await kernel.budgets.report(subject, { tokens: 40 });
      // a subject without a run is checked against the window only
      expect(kernel.budgets.check({ agent: 'r' })).toMatchObject({ budget: 'day', used: 40 });
      const first = await kernel.budgets.openGate('k1', subject, kernel.budgets.check(subject)!);
      await kernel.budgets.decide(first.gate, { approve: true });
      // ×1.5 until above the 40 used: 15, 23, 35, 53
      expect(kernel.policies.get('budget', 'day')?.spec).toMatchObject({ tokens: 53 });
      await kernel.budgets.report(subject, { tokens: 13 });
      const second = await kernel.budgets.openGate('k2', subject, kernel.budgets.check(subject)!);
      await kernel.budgets.decide(second.gate, { approve: true, limits: { tokens: 0 } });
      expect(kernel.policies.get('budget', 'day')).toMatchObject({
        version: 3,
        spec: { tokens: 0 },
      });
      // a budget at version 10 and more is still found by its gate
      for (let i = 0; i < 8; i++) {
        await kernel.policies.set('budget', 'day', { agent: 'r', tokens: 1, windowMs: DAY });
      }
      const third = await kernel.budgets.openGate('k3', subject, kernel.budgets.check(subject)!);
      expect(kernel.approvals.get(third.gate)!.resource).toBe('budget/day@11/tokens');
      await kernel.budgets.decide(third.gate, { approve: true, limits: { tokens: 100 } });
      expect(kernel.policies.get('budget', 'day')).toMatchObject({
        version: 12,
        spec: { tokens: 100 },
      });
    } finally {
      await kernel.close();
    }
  });

  it('two gates of one breach approved at once raise the budget once, and both are approved', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'run', { agent: 'r', tokens: 10, perRun: true });
      const one = { agent: 'r', runId: 'run-1' };
      const two = { agent: 'r', runId: 'run-2' };
      await kernel.budgets.report(one, { tokens: 10 });
      await kernel.budgets.report(two, { tokens: 12 });
      const a = await kernel.budgets.openGate('k1', one, kernel.budgets.check(one)!);
      const b = await kernel.budgets.openGate('k2', two, kernel.budgets.check(two)!);
      const decided = await Promise.all([
        kernel.budgets.decide(a.gate, { approve: true }),
        kernel.budgets.decide(b.gate, { approve: true }),
      ]);
      expect(decided.map((g) => g.decision?.approved)).toEqual([true, true]);
      expect(kernel.policies.get('budget', 'run')).toMatchObject({
        version: 2,
        spec: { tokens: 15 },
      });
    } finally {
      await kernel.close();
    }
  });

  it('a gate of another action is not a budget gate, whatever its resource says', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'cap', { calls: 1, perRun: true });
      const other = await kernel.approvals.open({
        agentId: 'run-1',
        summary: 'deploy?',
        action: 'deploy',
        resource: 'budget/cap@1/calls',
      });
      await expect(kernel.budgets.decide(other.id, { approve: true })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
      });
    } finally {
      await kernel.close();
    }
  });

  it('asks in plain words what approving does, for the operator only, and times out to a stop', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'tok', {
        agent: 'r',
        tokens: 1000,
        perRun: true,
        raiseFactor: 2,
        askTimeoutMs: 90_500,
      });
      const subject = { agent: 'r', tenant: 'acme', runId: 'run-1' };
      await kernel.budgets.report(subject, { tokens: 2500 });
      const breach = kernel.budgets.check(subject)!;
      expect(kernel.budgets.gateRequest(breach)).toEqual({
        summary: 'r used 2,500 of its 1,000 per-run tokens: raise the budget or stop the run?',
        rationale:
          'Budget tok (version 1) is at its tokens limit. Approve to raise it to 4,000 (×2; or decide with a new limit) and resume; reject to stop the run (budget exceeded).',
        action: 'budget.raise',
        resource: 'budget/tok@1/tokens',
        timeoutSecs: 91,
      });
      const { gate, decision } = await kernel.budgets.openGate('budget:1', subject, breach);
      expect(decision).toBeNull();
      const snapshot = kernel.approvals.get(gate)!;
      expect(snapshot).toMatchObject({
        action: 'budget.raise',
        resource: 'budget/tok@1/tokens',
        reason: 'r used 2,500 of its 1,000 per-run tokens',
        agentName: 'r',
        tenantId: 'acme',
        origin: 'agent',
        deadlineMs: T0 + 91_000,
        request: {
          agent_id: 'run-1',
          summary: 'r used 2,500 of its 1,000 per-run tokens: raise the budget or stop the run?',
          timeout: { timeout_secs: 91, action: 'Reject' },
          context_data: [
            { label: 'budget', value: 'tok' },
            { label: 'used', value: '2500' },
            { label: 'limit', value: '1000' },
            { label: 'resource', value: 'tokens' },
          ],
        },
      });
      // the same key finds the same gate
      expect((await kernel.budgets.openGate('budget:1', subject, breach)).gate).toBe(gate);
      // the spending tenant cannot raise its own budget
      await expect(
        kernel.approvals.approve(gate, {
          by: 'acme-user',
          decider: { admin: false, tenant: 'acme' },
        }),
      ).rejects.toSatisfy((e) => isKernelError(e));
      expect(kernel.approvals.get(gate)!.decision).toBeNull();
      // approved: raised as the gate said, by the factor (×2 from 1,000 until above the 2,500
      // the run spent)
      await kernel.approvals.approve(gate, { by: 'ops' });
      await kernel.budgets.applyApproval(gate);
      expect(kernel.policies.get('budget', 'tok')).toMatchObject({
        version: 2,
        updatedBy: 'ops',
        spec: { tokens: 4000 },
      });
      // applying the same approval again raises nothing (the budget moved on)
      await kernel.budgets.applyApproval(gate);
      expect(kernel.policies.get('budget', 'tok')?.version).toBe(2);
    } finally {
      await kernel.close();
    }
  });

  it('costs show as dollars; the default factor is 1.5 and the default wait 7 days', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'usd', { costMicros: 2_000_000, windowMs: DAY });
      await kernel.budgets.report({ agent: 'r' }, { costMicros: 2_000_000 });
      const request = kernel.budgets.gateRequest(kernel.budgets.check({ agent: 'r' })!);
      expect(request.rationale).toBe(
        'Budget usd (version 1) is at its costMicros limit. Approve to raise it to $3.00 (×1.5; or decide with a new limit) and resume; reject to stop the run (budget exceeded).',
      );
      expect(request.timeoutSecs).toBe(7 * 86_400);
    } finally {
      await kernel.close();
    }
  });

  it('a projection without approval gates cannot ask', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    const bare = createBudgets({
      ledger: kernel.ledger,
      policies: kernel.policies,
      clock: new ManualClock(T0),
    });
    try {
      await kernel.policies.set('budget', 'b', { calls: 0, perRun: true });
      await bare.start();
      const breach = bare.check({ agent: 'r', runId: 'run-1' });
      expect(breach).toBeNull();
      await bare.report({ agent: 'r', runId: 'run-1' }, {});
      await expect(
        bare.openGate(
          'k',
          { agent: 'r', runId: 'run-1' },
          bare.check({ agent: 'r', runId: 'run-1' })!,
        ),
      ).rejects.toThrow(
        expect.objectContaining({
          code: 'SERVICE_UNAVAILABLE',
          message:
            'This kernel has no approval gate to ask about a budget; open it with createKernel',
        }),
      );
      await expect(bare.decide('g-1', { approve: true })).rejects.toMatchObject({
        code: 'NOT_FOUND',
        message: 'No approval gate g-1; list them with kerno approvals ls',
      });
      // nothing to apply without gates
      await expect(bare.applyApproval('g-1')).resolves.toBeUndefined();
    } finally {
      await bare.close();
      await kernel.close();
    }
  });

  it('a raise past the largest whole number is refused and the gate stays open', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      const limit = 7_000_000_000_000_000;
      await kernel.policies.set('budget', 'huge', { agent: 'r', tokens: limit, perRun: true });
      const subject = { agent: 'r', runId: 'run-1' };
      await kernel.budgets.report(subject, { tokens: limit });
      const { gate } = await kernel.budgets.openGate('k', subject, kernel.budgets.check(subject)!);
      // × 1.5 is above Number.MAX_SAFE_INTEGER: the new version does not validate
      await expect(kernel.budgets.decide(gate, { approve: true })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: 'Budget field tokens: tokens is a whole number ≥ 0',
      });
      expect(kernel.approvals.get(gate)?.decision).toBeNull();
      expect(kernel.policies.get('budget', 'huge')).toMatchObject({ version: 1 });
    } finally {
      await kernel.close();
    }
  });

  it('decides only budget gates, with whole-number limits of known resources', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'cap', {
        agent: 'r',
        calls: 1,
        tokens: 10,
        perRun: true,
      });
      const subject = { agent: 'r', runId: 'run-1' };
      await kernel.budgets.report(subject, { tokens: 3 });
      const { gate } = await kernel.budgets.openGate('k', subject, kernel.budgets.check(subject)!);
      const other = await kernel.approvals.open({
        agentId: 'run-2',
        summary: 'deploy?',
        action: 'deploy',
      });
      await expect(kernel.budgets.decide(other.id, { approve: true })).rejects.toMatchObject({
        code: 'INVALID_ARGUMENT',
        message: `Gate ${other.id} is not a budget gate; decide it with kerno approvals approve|reject`,
      });
      for (const [limits, shown] of [
        [{ cost: 5 }, 'cost: 5'],
        [{ calls: -1 }, 'calls: -1'],
        [{ calls: 1.5 }, 'calls: 1.5'],
        [{ tokens: '9' }, 'tokens: "9"'],
      ] as const) {
        await expect(
          kernel.budgets.decide(gate, { approve: true, limits: limits as never }),
        ).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
          message: `A raised limit is tokens, costMicros or calls, a whole number ≥ 0; got ${shown}`,
        });
      }
      expect(kernel.approvals.get(gate)!.decision).toBeNull();
      // approved with no new limit (an empty one): the breached limit × 1.5, by "operator"
      const snapshot = await kernel.budgets.decide(gate, { approve: true, limits: {} });
      expect(snapshot.decision).toMatchObject({ approved: true, decidedBy: 'operator' });
      const raised = kernel.policies.get('budget', 'cap')!;
      expect(raised).toMatchObject({
        version: 2,
        updatedBy: 'operator',
        spec: { calls: 2, tokens: 10 },
      });
      await kernel.audit.flush();
      const audited = (await kernel.audit.entries({})).filter(
        (e) => e.resource === 'policy/budget/cap',
      );
      expect(JSON.stringify(audited.at(-1)!.metadata)).toContain(
        `raised by operator, approving budget gate ${kernel.approvals.get(gate)!.gateId}`,
      );
    } finally {
      await kernel.close();
    }
  });

  it('a rejection says budget exceeded unless a reason is given; an approval’s reason is kept', async () => {
    const clock = new ManualClock(T0);
    const kernel = await open({ clock });
    try {
      await kernel.policies.set('budget', 'cap', { calls: 1, perRun: true });
      const open1 = async (run: string) => {
        const subject = { agent: 'r', runId: run };
        await kernel.budgets.report(subject, {});
        return (await kernel.budgets.openGate(`k-${run}`, subject, kernel.budgets.check(subject)!))
          .gate;
      };
      const a = await open1('run-a');
      expect((await kernel.budgets.decide(a, { approve: false })).decision).toMatchObject({
        approved: false,
        decidedBy: 'operator',
        reason: 'budget exceeded',
      });
      const b = await open1('run-b');
      expect(
        (await kernel.budgets.decide(b, { approve: false, by: 'eve', reason: 'too costly' }))
          .decision,
      ).toMatchObject({ approved: false, decidedBy: 'eve', reason: 'too costly' });
      expect(kernel.policies.get('budget', 'cap')?.version).toBe(1);
      const c = await open1('run-c');
      await kernel.budgets.decide(c, { approve: true, by: 'zoe', reason: 'quarter end' });
      expect(kernel.policies.get('budget', 'cap')).toMatchObject({ version: 2, updatedBy: 'zoe' });
      await kernel.audit.flush();
      const audited = (await kernel.audit.entries({})).filter(
        (e) => e.resource === 'policy/budget/cap',
      );
      expect(JSON.stringify(audited.at(-1)!.metadata)).toContain('quarter end');
      // the budget changed since gate d was opened: approving it raises nothing more
      await kernel.budgets.report({ agent: 'r', runId: 'run-d' }, {});
      const d = await open1('run-d');
      await kernel.policies.set('budget', 'cap', { calls: 50, perRun: true });
      await kernel.budgets.decide(d, { approve: true, limits: { calls: 7 } });
      expect(kernel.policies.get('budget', 'cap')).toMatchObject({
        version: 3,
        spec: { calls: 50 },
      });
    } finally {
      await kernel.close();
    }
  });

  it('gives a run its hooks: report, check, open and apply an approval', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'cap', { agent: 'r', calls: 1, perRun: true });
      const host = kernel.budgets.hostFor({ id: 'run-1', agent: 'r', tenant: 'acme' });
      expect(host.check()).toBeNull();
      await host.report({ tokens: 3 }, 'usage-1');
      await host.report({ tokens: 3 }, 'usage-1');
      const breach = host.check();
      expect(breach).toMatchObject({ budget: 'cap', used: 1, limit: 1 });
      const opened = await host.open('budget:1', breach!);
      expect(opened.decision).toBeNull();
      expect(kernel.approvals.get(opened.gate)).toMatchObject({ tenantId: 'acme', agentName: 'r' });
      await kernel.approvals.approve(opened.gate, { by: 'ops', note: 'ok once' });
      expect(await host.open('budget:1', breach!)).toEqual({
        gate: opened.gate,
        decision: { approved: true, reason: null, decidedBy: 'ops' },
      });
      await host.approved(opened.gate);
      await kernel.audit.flush();
      const audited = (await kernel.audit.entries({})).filter(
        (e) => e.resource === 'policy/budget/cap',
      );
      expect(JSON.stringify(audited.at(-1)!.metadata)).toContain(
        `raised by ops, approving budget gate ${kernel.approvals.get(opened.gate)!.gateId}`,
      );
      expect(kernel.policies.get('budget', 'cap')).toMatchObject({
        version: 2,
        spec: { calls: 2 },
      });
      expect(host.check()).toBeNull();
      const records = await kernel.ledger.query({
        kinds: ['OutcomeRecorded'],
        correlationId: 'run-1',
      });
      expect(records.map((r) => [r.envelope.event_id, r.envelope.tenant_id])).toEqual([
        ['usage-1', 'acme'],
      ]);
    } finally {
      await kernel.close();
    }
  });

  it('a gate that only looks like a budget’s is not one; a decided gate is not decided again', async () => {
    const kernel = await open({ clock: new ManualClock(T0) });
    try {
      await kernel.policies.set('budget', 'cap', { calls: 1, perRun: true });
      for (const resource of [
        'my-budget/cap@1/calls',
        'budget/cap@1/calls-2',
        'budget/cap@x/calls',
      ]) {
        const fake = await kernel.approvals.open({
          agentId: 'run-9',
          key: resource,
          summary: 'raise?',
          action: 'budget.raise',
          resource,
        });
        await expect(kernel.budgets.decide(fake.id, { approve: true })).rejects.toMatchObject({
          code: 'INVALID_ARGUMENT',
        });
        await kernel.approvals.approve(fake.id, { by: 'ops' });
        await kernel.budgets.applyApproval(fake.id);
      }
      expect(kernel.policies.get('budget', 'cap')?.version).toBe(1);
      const subject = { agent: 'r', runId: 'run-1' };
      await kernel.budgets.report(subject, {});
      const { gate } = await kernel.budgets.openGate('k', subject, kernel.budgets.check(subject)!);
      const decided = await kernel.budgets.decide(gate, {
        approve: true,
        by: 'ann',
        reason: 'fine',
      });
      expect(decided.decision).toMatchObject({ approved: true, decidedBy: 'ann', note: 'fine' });
      await expect(
        kernel.budgets.decide(gate, { approve: true, limits: { calls: 99 } }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(kernel.policies.get('budget', 'cap')).toMatchObject({
        version: 2,
        spec: { calls: 2 },
      });
      // a rejected gate raises nothing when applied
      await kernel.budgets.report({ agent: 'r', runId: 'run-2' }, {});
      await kernel.budgets.report({ agent: 'r', runId: 'run-2' }, {});
      const second = await kernel.budgets.openGate(
        'k2',
        { agent: 'r', runId: 'run-2' },
        kernel.budgets.check({ agent: 'r', runId: 'run-2' })!,
      );
      await kernel.budgets.decide(second.gate, { approve: false });
      await kernel.budgets.applyApproval(second.gate);
      // nor is a rejected gate approved afterwards, raising the budget on the way
      await expect(
        kernel.budgets.decide(second.gate, { approve: true, limits: { calls: 50 } }),
      ).rejects.toMatchObject({ code: 'CONFLICT' });
      expect(kernel.policies.get('budget', 'cap')?.version).toBe(2);
    } finally {
      await kernel.close();
    }
  });
});
