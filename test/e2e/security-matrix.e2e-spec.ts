import { ledgerOnLoopback, type LedgerOnLoopback } from '../support/ledger-on-loopback.js';

/**
 * Every route against every kind of caller. The table below is the contract, written apart from the
 * code: a route that loses its scope, or gains the wrong one, fails here.
 */
const SCOPES = ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] as const;
type Scope = (typeof SCOPES)[number];
const A = '/v1/accounts/acct-1';

const ROUTES: [method: 'GET' | 'POST' | 'PUT' | 'DELETE', path: string, scope: Scope][] = [
  ['POST', `${A}/purchases`, 'ledger:write'],
  ['POST', `${A}/reveals`, 'ledger:write'],
  ['GET', `${A}/reveals`, 'ledger:read'],
  ['GET', `${A}/reveals/c1`, 'ledger:read'],
  ['POST', `${A}/record-charges`, 'ledger:write'],
  ['POST', '/v1/record-charges:batch', 'ledger:write'],
  ['POST', `${A}/webhook-dispatches`, 'ledger:write'],
  ['GET', `${A}/balance`, 'ledger:read'],
  ['GET', `${A}/usage`, 'ledger:read'],
  ['POST', `${A}/usage-page-links`, 'ledger:read'],
  ['POST', `${A}/refunds`, 'ledger:admin'],
  ['POST', `${A}/adjustments`, 'ledger:admin'],
  ['GET', `${A}/auto-recharge-rules`, 'ledger:admin'],
  ['PUT', `${A}/auto-recharge-rules/api`, 'ledger:admin'],
  ['DELETE', `${A}/auto-recharge-rules/api`, 'ledger:admin'],
  ['POST', `${A}/auto-recharges/ar-api-1/failures`, 'ledger:write'],
  ['GET', '/v1/auto-recharges', 'ledger:read'],
  ['GET', `${A}/balance-alerts`, 'ledger:read'],
  ['PUT', `${A}/balance-alerts/api`, 'ledger:write'],
  ['GET', '/v1/balance-alerts', 'ledger:read'],
  ['GET', `${A}/events`, 'audit:read'],
  ['GET', '/v1/audit/events', 'audit:read'],
  ['GET', '/v1/audit/accounts/acct-1/statement?from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z', 'audit:read'],
  ['GET', '/v1/audit/accounts/acct-1/balance', 'audit:read'],
  ['GET', '/v1/audit/liability', 'audit:read'],
  ['GET', '/v1/audit/breakage', 'audit:read'],
];

const tokenOf = (scope: Scope) => `token-for-${scope.replace(':', '-')}-0123456789`;

describe('who may call what', () => {
  let ledger: LedgerOnLoopback;
  let baseUrl: string;

  beforeAll(async () => {
    ledger = await ledgerOnLoopback('security', {
      LEDGER_API_TOKENS: JSON.stringify(SCOPES.map((scope) => ({ name: scope.replace(':', '-'), token: tokenOf(scope), scopes: [scope] }))),
    });
    baseUrl = ledger.baseUrl;
  });

  afterAll(() => ledger.close());

  async function call(method: string, url: string, authorization?: string) {
    const hasBody = method === 'POST' || method === 'PUT';
    const response = await fetch(new URL(url, baseUrl), {
      method,
      headers: { ...(authorization ? { authorization } : {}), ...(hasBody ? { 'content-type': 'application/json' } : {}) },
      ...(hasBody ? { body: '{}' } : {}),
    });
    const body = await response.text();
    return {
      statusCode: response.status,
      headers: Object.fromEntries(response.headers),
      body,
      json: () => JSON.parse(body) as Record<string, unknown>,
    };
  }

  describe.each(ROUTES)('%s %s (needs %s)', (method, path, required) => {
    it('refuses a caller with no token, a malformed header or an unknown token: 401', async () => {
      for (const authorization of [undefined, 'Basic dXNlcjpwYXNz', 'Bearer', `Bearer not-a-known-token-at-all-000`]) {
        const response = await call(method, path, authorization);
        expect(response.statusCode).toBe(401);
        expect(response.headers['content-type']).toContain('application/problem+json');
        expect(response.json()).toMatchObject({ code: 'UNAUTHENTICATED' });
      }
    });

    it.each(SCOPES)('with only %s', async (scope) => {
      const response = await call(method, path, `Bearer ${tokenOf(scope)}`);
      if (scope === required) {
        expect([401, 403]).not.toContain(response.statusCode);
        expect(response.statusCode).toBeLessThan(500);
      } else {
        expect(response.statusCode).toBe(403);
        expect(response.json()).toMatchObject({ code: 'SCOPE_MISSING', requiredScope: required });
      }
    });
  });

  it('serves health, readiness, metrics and the API description to anyone, and the usage page only through a signed link', async () => {
    for (const path of ['/health', '/ready', '/metrics', '/docs/json']) expect((await call('GET', path)).statusCode).toBe(200);
    const page = await call('GET', '/usage-page/acct-1');
    expect(page.statusCode).toBe(403);
    expect(page.json()).toMatchObject({ code: 'LINK_INVALID' });
  });

  it('never echoes a token back, in a body or a header', async () => {
    for (const [method, path] of ROUTES) {
      const response = await call(method, path, `Bearer ${tokenOf('ledger:read')}`);
      expect(response.body).not.toContain(tokenOf('ledger:read'));
      expect(JSON.stringify(response.headers)).not.toContain(tokenOf('ledger:read'));
    }
  });
});
