export const SCOPES = ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiTokenConfig {
  readonly name: string;
  readonly token: string;
  readonly scopes: readonly Scope[];
  /** Requests per rate-limit window for this token, instead of the ledger's default (0: no limit). */
  readonly rateLimit?: number;
}

/** Who is calling: the service token's name and what it may do. Never holds the token itself. */
export interface Principal {
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
}
