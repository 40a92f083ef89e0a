/**
 * The route table: every route of the daemon's OpenAPI document and the client method that calls
 * it, `'<group>.<method>'` → `[HTTP method, OpenAPI path]`. The client's methods call through it
 * (so a method cannot name a path the table does not), and test/client/coverage.test.ts checks it
 * against `/api/openapi.json`: a route with no entry, an entry with no route, or a path
 * parameter renamed fails the test.
 *
 * Adding a route: add its entry here and its method on the group in `client.ts`.
 *
 * @module
 */

/** The HTTP methods the API uses. */
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** Every route the client calls. */
export const ROUTES = {
  'system.health': ['GET', '/health'],
  'system.metrics': ['GET', '/metrics'],
  'system.openapi': ['GET', '/api/openapi.json'],

  'agents.list': ['GET', '/api/agents'],
  'agents.get': ['GET', '/api/agents/{id}'],
  'agents.spawn': ['POST', '/api/agents'],
  'agents.stop': ['DELETE', '/api/agents/{id}'],
  'agents.restart': ['POST', '/api/agents/{id}/restart'],

  'ledger.append': ['POST', '/api/ledger'],
  'ledger.query': ['GET', '/api/ledger'],
  'ledger.import': ['POST', '/api/ledger/import'],
  'ledger.export': ['GET', '/api/ledger/export'],
  'ledger.verify': ['GET', '/api/ledger/verify'],
  'ledger.repair': ['POST', '/api/ledger/repair'],

  'audit.entries': ['GET', '/api/audit'],
  'audit.head': ['GET', '/api/audit/head'],
  'audit.verify': ['GET', '/api/audit/verify'],
  'audit.import': ['POST', '/api/audit/import'],
  'audit.export': ['GET', '/api/audit/export'],
  'audit.repair': ['POST', '/api/audit/repair'],

  'approvals.list': ['GET', '/api/approvals'],
  'approvals.get': ['GET', '/api/approvals/{id}'],
  'approvals.approve': ['POST', '/api/approvals/{id}/approve'],
  'approvals.reject': ['POST', '/api/approvals/{id}/reject'],

  'recovery.list': ['GET', '/api/recovery'],
  'recovery.get': ['GET', '/api/recovery/{runId}'],

  'modules.list': ['GET', '/api/modules'],

  'config.list': ['GET', '/api/config'],
  'config.get': ['GET', '/api/config/{key}'],
  'config.set': ['PUT', '/api/config/{key}'],
  'config.delete': ['DELETE', '/api/config/{key}'],
  'config.encrypt': ['POST', '/api/config/encrypt'],
  'config.rotateKey': ['POST', '/api/config/rotate-key'],

  'runs.define': ['POST', '/api/runs/agents'],
  'runs.start': ['POST', '/api/runs'],
  'runs.list': ['GET', '/api/runs'],
  'runs.page': ['GET', '/api/runs'],
  'runs.get': ['GET', '/api/runs/{id}'],
  'runs.signal': ['POST', '/api/runs/{id}/signal'],
  'runs.cancel': ['POST', '/api/runs/{id}/cancel'],
  'runs.resume': ['POST', '/api/runs/{id}/resume'],
  'runs.rerun': ['POST', '/api/runs/{id}/rerun'],
  'runs.fork': ['POST', '/api/runs/{id}/fork'],

  'learning.stats': ['GET', '/api/learning/stats'],
  'learning.patterns': ['GET', '/api/learning/patterns'],
  'learning.recall': ['GET', '/api/learning/recall'],
  'learning.import': ['POST', '/api/learning/import'],
  'learning.export': ['GET', '/api/learning/export'],

  'policies.list': ['GET', '/api/policies'],
  'policies.get': ['GET', '/api/policies/{kind}/{name}'],
  'policies.history': ['GET', '/api/policies/{kind}/{name}/history'],
  'policies.set': ['PUT', '/api/policies/{kind}/{name}'],
  'policies.delete': ['DELETE', '/api/policies/{kind}/{name}'],

  'budgets.list': ['GET', '/api/budgets'],
  'budgets.decide': ['POST', '/api/budgets/gates/{id}'],

  'schedules.list': ['GET', '/api/schedules'],
  'schedules.get': ['GET', '/api/schedules/{name}'],

  'queues.list': ['GET', '/api/queues'],

  'events.stream': ['GET', '/api/events'],
} as const satisfies Record<string, readonly [HttpMethod, string]>;

/** A route's name: `'runs.get'`. */
export type RouteName = keyof typeof ROUTES;

/**
 * Routes of the document the client leaves to other clients on purpose, with why. The coverage
 * test accepts these (and fails if one no longer exists).
 */
export const NOT_CLIENT_ROUTES: Readonly<Record<string, string>> = {
  'POST /mcp': 'the MCP endpoint: use an MCP client (@modelcontextprotocol/sdk) with the token',
  'GET /mcp': 'the MCP endpoint (streamable HTTP)',
  'DELETE /mcp': 'the MCP endpoint (streamable HTTP)',
  'GET /': 'the dashboard page, for browsers',
  'GET /favicon.ico': 'a dashboard file, for browsers',
  'GET /ui/*': 'dashboard files, for browsers',
};
