import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export type LinkVerdict = 'valid' | 'expired' | 'invalid';

/** Nest token for the app's one `UsagePageLinks`, built at start-up from the configured secret. */
export const USAGE_PAGE_LINKS = Symbol('USAGE_PAGE_LINKS');

export const LINK_SECRET_FILE = 'usage-link-secret';
export const MIN_LINK_SECRET_BYTES = 32;

/** `exp` is milliseconds since the epoch; sixteen digits reach far past any real expiry. */
const EXP_PATTERN = /^\d{1,16}$/;
/** HMAC-SHA256 is 32 bytes: 43 base64url characters without padding. */
const SIG_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/**
 * Signed, expiring links to an account's usage page. A browser cannot send a bearer token, so the link
 * itself is the credential: an HMAC over the account and the expiry, checked on every request. The
 * account is part of what is signed, so a link for one account never opens another's page, and the
 * expiry is too, so it cannot be stretched.
 */
export class UsagePageLinks {
  constructor(
    private readonly secret: Buffer,
    private readonly clock: { now(): number },
    private readonly ttlMs = 15 * 60_000,
  ) {
    if (secret.length < MIN_LINK_SECRET_BYTES) {
      throw new Error(`the usage-page link secret must be at least ${MIN_LINK_SECRET_BYTES} bytes (got ${secret.length})`);
    }
  }

  sign(accountId: string, baseUrl: string): { url: string; expiresAt: string } {
    const exp = this.clock.now() + this.ttlMs;
    const sig = this.signature(accountId, String(exp));
    const url = `${baseUrl.replace(/\/+$/, '')}/usage-page/${encodeURIComponent(accountId)}?exp=${exp}&sig=${sig}`;
    return { url, expiresAt: new Date(exp).toISOString() };
  }

  verify(accountId: string, query: { exp?: string; sig?: string }): LinkVerdict {
    const { exp, sig } = query;
    if (typeof exp !== 'string' || typeof sig !== 'string' || !EXP_PATTERN.test(exp) || !SIG_PATTERN.test(sig)) {
      return 'invalid';
    }
    const expected = Buffer.from(this.signature(accountId, exp), 'base64url');
    const given = Buffer.from(sig, 'base64url');
    // Constant time, so the signature cannot be discovered byte by byte from response times. The
    // pattern above fixes the length, which timingSafeEqual requires and which is not secret.
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
    // Expiry is judged only once the signature holds, so a forged `exp` is invalid, never "expired".
    return Number(exp) <= this.clock.now() ? 'expired' : 'valid';
  }

  /**
   * The purpose prefix keeps these signatures from being valid for anything else signed with the same
   * key; `exp` is digits only, so the last newline splits the message and no two (account, exp) pairs
   * sign the same bytes.
   */
  private signature(accountId: string, exp: string): string {
    return createHmac('sha256', this.secret).update(`usage-page\n${accountId}\n${exp}`, 'utf8').digest('base64url');
  }
}

/**
 * The key for usage-page links. From `LEDGER_LINK_SECRET` when the caller passes it (base64, at least 32
 * bytes: what several instances behind one load balancer must share); otherwise 32 random bytes kept in
 * `<dataDir>/usage-link-secret`, readable only by the owner, so links survive a restart.
 */
export function loadOrCreateLinkSecret(dataDir: string, fromEnv?: string): Buffer {
  if (fromEnv !== undefined) return parseEnvSecret(fromEnv);

  const file = join(dataDir, LINK_SECRET_FILE);
  mkdirSync(dataDir, { recursive: true });
  try {
    return readSecretFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  // Written whole under a temporary name, then linked into place: link() refuses to replace an existing
  // file, so two instances starting together agree on one key and neither reads a half-written one.
  const temp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  writeFileSync(temp, randomBytes(MIN_LINK_SECRET_BYTES), { mode: 0o600, flag: 'wx', flush: true });
  try {
    linkSync(temp, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temp);
  }
  return readSecretFile(file);
}

function readSecretFile(file: string): Buffer {
  const secret = readFileSync(file);
  if (secret.length < MIN_LINK_SECRET_BYTES) {
    throw new Error(
      `${file} holds ${secret.length} bytes, fewer than the ${MIN_LINK_SECRET_BYTES} a link secret needs; ` +
        'delete it to have a new one created (outstanding usage-page links stop working)',
    );
  }
  return secret;
}

function parseEnvSecret(value: string): Buffer {
  const trimmed = value.trim();
  // Buffer.from(…, 'base64') skips characters it does not know, so a typo would silently shorten the key.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(trimmed) || trimmed.length % 4 !== 0) {
    throw new Error('LEDGER_LINK_SECRET must be base64 (for example the output of `openssl rand -base64 32`)');
  }
  const secret = Buffer.from(trimmed, 'base64');
  if (secret.length < MIN_LINK_SECRET_BYTES) {
    throw new Error(`LEDGER_LINK_SECRET must decode to at least ${MIN_LINK_SECRET_BYTES} bytes (got ${secret.length})`);
  }
  return secret;
}
