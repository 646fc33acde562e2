import { withoutSignatures } from './request-observability.js';

describe('the URL an access-log line gives', () => {
  it("leaves out a signed link's signature, wherever it is in the query and however it is spelled", () => {
    expect(withoutSignatures('/usage-page/acme?exp=1775060400000&sig=c2lnbmF0dXJl')).toBe('/usage-page/acme?exp=1775060400000&sig=[redacted]');
    expect(withoutSignatures('/usage-page/acme?sig=abc%2Fdef&from=2026-01-01')).toBe('/usage-page/acme?sig=[redacted]&from=2026-01-01');
    expect(withoutSignatures('/usage-page/acme?exp=1&sig=a&sig=b')).toBe('/usage-page/acme?exp=1&sig=[redacted]&sig=[redacted]');
    expect(withoutSignatures('/usage-page/acme?exp=1&sig=')).toBe('/usage-page/acme?exp=1&sig=[redacted]');
  });

  it('is the URL itself otherwise', () => {
    for (const url of ['/v1/accounts/acme/usage?from=2026-01-01&to=2026-01-31', '/v1/accounts/sig=1/balance', '/usage-page/acme?design=1', '/health']) {
      expect(withoutSignatures(url)).toBe(url);
    }
  });
});
