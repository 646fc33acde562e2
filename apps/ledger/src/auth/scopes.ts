export const SCOPES = ['ledger:write', 'ledger:read', 'audit:read', 'ledger:admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiTokenConfig {
  readonly name: string;
  readonly token: string;
  readonly scopes: readonly Scope[];
}

/** Who is calling: the service token's name and what it may do. Never holds the token itself. */
export interface Principal {
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
}
