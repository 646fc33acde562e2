import { jest } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// The comparison must be constant time: node:crypto is wrapped so the test can see timingSafeEqual used.
const realCrypto = await import('node:crypto');
const timingSafeEqual = jest.fn(realCrypto.timingSafeEqual);
jest.unstable_mockModule('node:crypto', () => ({ ...realCrypto, default: realCrypto, timingSafeEqual }));
const { UsagePageLinks, loadOrCreateLinkSecret, LINK_SECRET_FILE } = await import('./usage-page-links.js');

const SECRET = Buffer.alloc(32, 7);
const START = Date.parse('2026-04-01T12:00:00.000Z');
const BASE = 'https://ledger.example.com';

function fixture() {
  const clock = { at: START, now: () => clock.at };
  const links = new UsagePageLinks(SECRET, clock);
  const query = (url: string) => Object.fromEntries(new URL(url).searchParams) as { exp?: string; sig?: string };
  return { clock, links, query };
}

describe('signed usage-page links', () => {
  beforeEach(() => timingSafeEqual.mockClear());

  it('points at the account page with an expiry 15 minutes ahead and a signature', () => {
    const { links } = fixture();
    const { url, expiresAt } = links.sign('acme:eu@1', `${BASE}/`);
    const parsed = new URL(url);
    expect(parsed.origin + parsed.pathname).toBe(`${BASE}/usage-page/acme%3Aeu%401`);
    expect(parsed.searchParams.get('exp')).toBe(String(START + 15 * 60_000));
    expect(parsed.searchParams.get('sig')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt).toBe('2026-04-01T12:15:00.000Z');
  });

  it('verifies its own link until it expires', () => {
    const { clock, links, query } = fixture();
    const link = query(links.sign('acme', BASE).url);
    expect(links.verify('acme', link)).toBe('valid');
    clock.at = START + 15 * 60_000 - 1;
    expect(links.verify('acme', link)).toBe('valid');
  });

  it('calls a link expired from its expiry instant on', () => {
    const { clock, links, query } = fixture();
    const link = query(links.sign('acme', BASE).url);
    clock.at = START + 15 * 60_000;
    expect(links.verify('acme', link)).toBe('expired');
    clock.at += 24 * 3_600_000;
    expect(links.verify('acme', link)).toBe('expired');
  });

  it('honours a custom lifetime', () => {
    const clock = { now: () => START };
    const { url } = new UsagePageLinks(SECRET, clock, 60_000).sign('acme', BASE);
    expect(new URL(url).searchParams.get('exp')).toBe(String(START + 60_000));
  });

  it('never lets a link for one account open another', () => {
    const { links, query } = fixture();
    const link = query(links.sign('acme', BASE).url);
    expect(links.verify('acme2', link)).toBe('invalid');
    expect(links.verify('ACME', link)).toBe('invalid');
  });

  it('rejects a tampered signature, comparing in constant time', () => {
    const { links, query } = fixture();
    const link = query(links.sign('acme', BASE).url);
    const last = link.sig!.at(-1) === 'A' ? 'B' : 'A';
    expect(links.verify('acme', { ...link, sig: `${link.sig!.slice(0, -1)}${last}` })).toBe('invalid');
    expect(timingSafeEqual).toHaveBeenCalledTimes(1);
    expect(links.verify('acme', link)).toBe('valid');
    expect(timingSafeEqual).toHaveBeenCalledTimes(2);
  });

  it('rejects a stretched expiry as invalid, not merely expired', () => {
    const { clock, links, query } = fixture();
    const link = query(links.sign('acme', BASE).url);
    expect(links.verify('acme', { ...link, exp: String(Number(link.exp) + 3_600_000) })).toBe('invalid');
    clock.at = START + 3_600_000;
    expect(links.verify('acme', { ...link, exp: String(Number(link.exp) - 1) })).toBe('invalid');
  });

  it('rejects missing or malformed parameters without throwing', () => {
    const { links, query } = fixture();
    const link = query(links.sign('acme', BASE).url);
    expect(links.verify('acme', {})).toBe('invalid');
    expect(links.verify('acme', { exp: link.exp })).toBe('invalid');
    expect(links.verify('acme', { sig: link.sig })).toBe('invalid');
    expect(links.verify('acme', { ...link, sig: link.sig!.slice(1) })).toBe('invalid');
    expect(links.verify('acme', { ...link, sig: `${link.sig}==` })).toBe('invalid');
    expect(links.verify('acme', { ...link, exp: `${link.exp}.0` })).toBe('invalid');
    expect(links.verify('acme', { ...link, exp: '-1' })).toBe('invalid');
    expect(links.verify('acme', { exp: ['1'], sig: [link.sig] } as never)).toBe('invalid');
  });

  it('does not verify a link signed with another secret', () => {
    const { links, query } = fixture();
    const other = new UsagePageLinks(Buffer.alloc(32, 8), { now: () => START });
    expect(links.verify('acme', query(other.sign('acme', BASE).url))).toBe('invalid');
  });

  it('refuses a secret too short to be safe', () => {
    expect(() => new UsagePageLinks(Buffer.alloc(16), { now: () => START })).toThrow(/at least 32 bytes/);
  });
});

describe('the link secret', () => {
  let dataDir: string;
  beforeEach(() => {
    dataDir = mkdtempSync(join(tmpdir(), 'usage-links-'));
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('is 32 random bytes created in the data dir, readable only by its owner', () => {
    const secret = loadOrCreateLinkSecret(join(dataDir, 'nested'));
    const file = join(dataDir, 'nested', LINK_SECRET_FILE);
    expect(secret).toHaveLength(32);
    expect(readFileSync(file).equals(secret)).toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('is the same after a restart, so outstanding links stay valid', () => {
    const first = loadOrCreateLinkSecret(dataDir);
    const second = loadOrCreateLinkSecret(dataDir);
    expect(second.equals(first)).toBe(true);
    const clock = { now: () => START };
    const { url } = new UsagePageLinks(first, clock).sign('acme', BASE);
    const query = Object.fromEntries(new URL(url).searchParams);
    expect(new UsagePageLinks(second, clock).verify('acme', query)).toBe('valid');
  });

  it('differs between two data dirs', () => {
    const other = mkdtempSync(join(tmpdir(), 'usage-links-'));
    try {
      expect(loadOrCreateLinkSecret(dataDir).equals(loadOrCreateLinkSecret(other))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('refuses a truncated secret file rather than signing with a weak key', () => {
    writeFileSync(join(dataDir, LINK_SECRET_FILE), Buffer.alloc(5));
    expect(() => loadOrCreateLinkSecret(dataDir)).toThrow(/holds 5 bytes/);
  });

  it('comes from LEDGER_LINK_SECRET when the caller passes it, and then writes no file', () => {
    const fromEnv = realCrypto.randomBytes(48);
    expect(loadOrCreateLinkSecret(dataDir, fromEnv.toString('base64')).equals(fromEnv)).toBe(true);
    expect(() => statSync(join(dataDir, LINK_SECRET_FILE))).toThrow();
  });

  it('rejects an environment secret that is not base64 or shorter than 32 bytes', () => {
    expect(() => loadOrCreateLinkSecret(dataDir, Buffer.alloc(31).toString('base64'))).toThrow(/at least 32 bytes \(got 31\)/);
    expect(() => loadOrCreateLinkSecret(dataDir, `${Buffer.alloc(32).toString('base64')}!`)).toThrow(/must be base64/);
    expect(() => loadOrCreateLinkSecret(dataDir, '')).toThrow(/must be base64/);
  });
});
