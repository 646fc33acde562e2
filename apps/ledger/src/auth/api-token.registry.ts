import { hash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCOPES, type ApiTokenConfig, type Principal } from './scopes.js';

export const API_TOKEN_REGISTRY = Symbol('API_TOKEN_REGISTRY');

interface Entry {
  readonly digest: Buffer;
  readonly principal: Principal;
}

// One call (no Hash object): every request's token is digested, and the object was half the cost.
function digestOf(token: string): Buffer {
  return hash('sha256', token, 'buffer');
}

/**
 * Knows the service tokens by their SHA-256 digests only, and compares digests in constant time
 * against every entry, so neither a token nor its position leaks through timing.
 */
export class ApiTokenRegistry {
  private readonly entries: readonly Entry[];

  constructor(tokens: readonly ApiTokenConfig[]) {
    this.entries = tokens.map((t) => ({
      digest: digestOf(t.token),
      principal: { name: t.name, scopes: new Set(t.scopes) },
    }));
  }

  authenticate(token: string): Principal | undefined {
    const digest = digestOf(token);
    let found: Principal | undefined;
    for (const entry of this.entries) {
      if (timingSafeEqual(entry.digest, digest)) found = entry.principal;
    }
    return found;
  }
}

export const GENERATED_ADMIN_TOKEN_FILE = 'admin-token';

/**
 * With no tokens configured the ledger never runs open: it creates one admin token (all scopes) in the
 * data directory, readable only by its owner, and keeps using it across restarts.
 */
export function loadOrCreateAdminToken(dataDir: string): { token: ApiTokenConfig; file: string; created: boolean } {
  const file = join(dataDir, GENERATED_ADMIN_TOKEN_FILE);
  mkdirSync(dataDir, { recursive: true });
  let created = false;
  if (!existsSync(file)) {
    writeFileSync(file, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
    created = true;
  }
  chmodSync(file, 0o600);
  const secret = readFileSync(file, 'utf8').trim();
  return { token: { name: 'generated-admin', token: secret, scopes: [...SCOPES] }, file, created };
}
