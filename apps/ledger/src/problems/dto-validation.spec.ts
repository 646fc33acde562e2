import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { plainToInstance } from 'class-transformer';
import { getMetadataStorage, validateSync } from 'class-validator';
import { AccountEventsQueryDto, FinancePositionQueryDto, LedgerEventsQueryDto, StatementQueryDto } from '../audit/audit-params.js';
import { AdjustCreditsDto } from '../credit-accounts/adjustments/adjust-credits.dto.js';
import { PurchaseCreditsDto } from '../credit-accounts/purchases/purchase-credits.dto.js';
import { batchChargeOf, BatchChargeDto, ChargeRecordsBatchDto } from '../credit-accounts/record-charges/charge-records-batch.js';
import { ChargeRecordsDto } from '../credit-accounts/record-charges/charge-records.dto.js';
import { RefundPurchaseDto } from '../credit-accounts/refunds/refund-purchase.dto.js';
import { RevealCompaniesDto } from '../credit-accounts/reveals/reveal-companies.dto.js';
import { DispatchWebhookDto } from '../credit-accounts/webhook-dispatches/dispatch-webhook.dto.js';
import { UsageRangeDto } from '../usage/usage-range.js';
import { DTO_VALIDATION, dtoErrors, passesDtoRules, withUnknownFields } from './dto-validation.js';
import { dtoOf } from './validation.pipe.js';
import { seededRandom } from '../../../../libs/ledger/src/testing/seeded-random.js';

const instant = '2026-06-01T12:00:00.000Z';

/** One valid body or query per DTO; the test mutates them. */
const VALID: readonly (readonly [new () => object, Record<string, unknown>])[] = [
  [ChargeRecordsDto, { requestId: 'req-1', endpoint: 'job_search', records: 3, allowPartial: true, apiKeyId: 'key-1', userId: 'u-1', occurredAt: instant }],
  [BatchChargeDto, { accountId: 'acct-1', requestId: 'req-1', endpoint: 'company_search', records: 0 }],
  [ChargeRecordsBatchDto, { charges: [{}, 1] }],
  [PurchaseCreditsDto, { purchaseId: 'p-1', creditType: 'api', credits: 100, paid: true, source: 'purchase', amountMinor: 990, currency: 'USD', invoiceId: 'inv-1', expiresAt: instant, occurredAt: instant }],
  [DispatchWebhookDto, { webhookEventId: 'we-1', webhookId: 'wh-1', recordType: 'job', occurredAt: instant }],
  [AdjustCreditsDto, { adjustmentId: 'adj-1', creditType: 'company', credits: -5, reason: 'goodwill', userId: 'u-1' }],
  [RefundPurchaseDto, { purchaseId: 'p-1', reason: 'asked for it' }],
  [RevealCompaniesDto, { requestId: 'r-1', companyIds: ['co-1', 'co-2'], action: 'reveal' }],
  [UsageRangeDto, { from: '2026-06-01', to: '2026-06-30', timezone: 'Europe/Madrid' }],
  [AccountEventsQueryDto, { from: '0', limit: '100' }],
  [LedgerEventsQueryDto, { after: '5:5', limit: '1000' }],
  [StatementQueryDto, { from: '2026-01-01', to: instant }],
  [FinancePositionQueryDto, { asOf: instant }],
];

const POOL: readonly unknown[] = [
  'req-1', 'acct-1', '', ' ', 'a'.repeat(128), 'a'.repeat(129), 'bad id!', '-leading', 'job_search', 'company_search', 'technographics',
  'webhooks', 'api', 'company', 'purchase', 'trial', 'grant', 'auto_recharge', 'job', 'reveal', 'export', 'USD', 'usd', 'US',
  instant, '2026-06-01T12:00:00+02:00', '2026-06-01', '2026-13-01T00:00:00Z', '2026-06-01T12:00:00', '2026-06-31', '100', '0', '00',
  '1000', '1001', '5:3', 'UTC', 'Europe/Madrid', 'enough reason', 'ab', 'x'.repeat(501), '\u0000',
  0, 1, -1, 3, 1.5, -5, 1_000_000, 1_000_001, 1_000_000_000, 1_000_000_001, -1_000_000_001, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53,
  true, false, null, [], ['co-1'], ['co-1', 'co 2'], [1], Array.from({ length: 1001 }, (_, i) => `co-${i}`), {}, { a: 1 },
];

/**
 * Fields named like methods of `Object.prototype`. class-validator's whitelist takes those with
 * arguments (`hasOwnProperty`…) for fields with rules; the ledger refuses them all.
 */
const PROTOTYPE_NAMES = ['toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable', '__defineGetter__', '__lookupSetter__'];

/** Whether class-validator accepts `dto` once the fields no rule names are refused, as the ledger does. */
function accepts(dto: object): boolean {
  return withUnknownFields(dto, validateSync(dto, DTO_VALIDATION)).length === 0;
}

function mutate(base: Record<string, unknown>, next: () => number): Record<string, unknown> {
  const body: Record<string, unknown> = { ...base };
  const keys = Object.keys(base);
  const pick = <T>(items: readonly T[]) => items[Math.floor(next() * items.length)]!;
  for (let changes = Math.floor(next() * 3); changes > 0; changes--) {
    const roll = next();
    if (roll < 0.6) body[pick(keys)] = pick(POOL);
    else if (roll < 0.85) delete body[pick(keys)];
    // (`constructor` and `__proto__` are not among them: the validation pipe strips those first.)
    else body[pick(['extra', 'accountID', 'records ', ...PROTOTYPE_NAMES])] = pick(POOL);
  }
  return body;
}

describe('the DTO rules run directly', () => {
  it.each(VALID.map(([type, body]) => [type.name, type, body] as const))(
    'never pass a %s that class-validator would refuse, and pass those it accepts',
    (_name, type, base) => {
      const next = seededRandom(0x5eed ^ type.name.length);
      const outcomes = { valid: 0, invalid: 0, compiled: passesDtoRules(Object.assign(new type(), base)) };
      for (let i = 0; i < 3_000; i++) {
        const dto = Object.assign(new type(), mutate(base, next));
        const accepted = accepts(dto);
        const passes = passesDtoRules(dto);
        if (passes) expect([dto, accepted]).toEqual([dto, true]);
        // Where the rules compile, the answers agree both ways; where they do not, class-validator decides.
        if (outcomes.compiled) expect([dto, passes]).toEqual([dto, accepted]);
        outcomes[accepted ? 'valid' : 'invalid']++;
        expect(dtoErrors(dto).length === 0).toBe(accepted);
      }
      expect(outcomes.valid).toBeGreaterThan(100);
      expect(outcomes.invalid).toBeGreaterThan(100);
    },
  );

  it('compile for the charge routes, the hot ones', () => {
    for (const [type, body] of VALID.filter(([type]) => [ChargeRecordsDto, BatchChargeDto, ChargeRecordsBatchDto, PurchaseCreditsDto, DispatchWebhookDto].includes(type as never))) {
      expect([type.name, passesDtoRules(Object.assign(new type(), body))]).toEqual([type.name, true]);
    }
  });

  it('leave to class-validator what they cannot run as it does (rules on each item of an array)', () => {
    expect(passesDtoRules(Object.assign(new RevealCompaniesDto(), { requestId: 'r-1', companyIds: ['co-1'], action: 'reveal' }))).toBe(false);
    expect(dtoErrors(Object.assign(new RevealCompaniesDto(), { requestId: 'r-1', companyIds: ['co-1'], action: 'reveal' }))).toEqual([]);
  });

  it('refuse a property no rule names, as class-validator does', () => {
    const dto = Object.assign(new ChargeRecordsDto(), { requestId: 'req-1', endpoint: 'job_search', records: 1, sneaky: 1 });
    expect(passesDtoRules(dto)).toBe(false);
    expect(dtoErrors(dto).map((e) => e.property)).toEqual(['sneaky']);
  });
});

describe('fields named like methods of Object.prototype', () => {
  it.each(PROTOTYPE_NAMES)('refuses %s as a field no rule names', (name) => {
    const dto = dtoOf(ChargeRecordsDto, { requestId: 'req-1', endpoint: 'job_search', records: 1, [name]: 'x' });
    expect(dtoErrors(dto)).toEqual([expect.objectContaining({ property: name, constraints: { whitelistValidation: `property ${name} should not exist` } })]);
  });

  it('are refused once even where class-validator already reports them', () => {
    const dto = dtoOf(ChargeRecordsDto, { requestId: 'req-1', endpoint: 'job_search', records: 1, toString: 'x', hasOwnProperty: 'y', extra: 1 });
    expect(dtoErrors(dto).map((error) => error.property).sort()).toEqual(['extra', 'hasOwnProperty', 'toString']);
  });
});

describe('a DTO built by copying its fields', () => {
  it.each(VALID.map(([type, body]) => [type.name, type, body] as const))(
    'is what class-transformer builds for a %s, for every mutated body but fields named like inherited methods',
    (_name, type, base) => {
      const next = seededRandom(0xba7c4 ^ type.name.length);
      for (let i = 0; i < 3_000; i++) {
        const raw = mutate(base, next);
        const copied = dtoOf(type, raw);
        expect(copied).toBeInstanceOf(type);
        const inherited = Object.keys(raw).filter((key) => PROTOTYPE_NAMES.includes(key));
        if (inherited.length > 0) {
          // class-transformer drops such a field without a word; the copy keeps it, and it is refused.
          expect(dtoErrors(copied).map((error) => error.property)).toEqual(expect.arrayContaining(inherited));
          continue;
        }
        const transformed = plainToInstance(type, raw, { enableImplicitConversion: false });
        expect({ ...copied }).toEqual({ ...transformed });
        expect(dtoErrors(copied)).toEqual(dtoErrors(transformed));
      }
    },
  );

  it('copies the batch route charges the same way', () => {
    const raw = { accountId: 'acct-1', requestId: 'req-1', endpoint: 'company_search', records: 2 };
    expect(batchChargeOf(raw)).toEqual(dtoOf(BatchChargeDto, raw));
  });

  it('is right for every DTO a controller takes: none has a class-transformer rule', async () => {
    // class-transformer keeps its rules (@Type, @Transform, @Expose, @Exclude) in a storage it does not
    // export from its index; a rule there would make a copy wrong.
    const storage = createRequire(import.meta.url)('class-transformer/cjs/storage.js').defaultMetadataStorage as Record<string, Map<unknown, unknown>>;
    const rules = ['_typeMetadatas', '_transformMetadatas', '_exposeMetadatas', '_excludeMetadatas'].map((name) => storage[name]!);
    expect(rules.every((map) => map instanceof Map)).toBe(true);
    const root = new URL('../', import.meta.url);
    const files = (readdirSync(root, { recursive: true }) as string[]).filter(
      (file) => file.endsWith('.ts') && !file.endsWith('.spec.ts') && readFileSync(new URL(file, root), 'utf8').includes('@Controller('),
    );
    const dtos = new Set<Function>();
    for (const file of files) {
      const module = (await import(new URL(file, root).href)) as Record<string, unknown>;
      for (const exported of Object.values(module)) {
        if (typeof exported !== 'function' || Reflect.getMetadata('path', exported) === undefined) continue;
        for (const method of Object.getOwnPropertyNames(exported.prototype)) {
          const params = (Reflect.getMetadata('design:paramtypes', exported.prototype, method) ?? []) as unknown[];
          for (const param of params) {
            if (typeof param !== 'function') continue;
            const validated = getMetadataStorage().getTargetValidationMetadatas(param, undefined as unknown as string, false, false, undefined);
            if (validated.length > 0) dtos.add(param);
          }
        }
      }
    }
    expect([...dtos].map((dto) => dto.name)).toEqual(expect.arrayContaining(['ChargeRecordsDto', 'ChargeRecordsBatchDto', 'RevealCompaniesDto', 'UsagePageQueryDto']));
    expect(dtos.size).toBeGreaterThanOrEqual(20);
    expect([...dtos].filter((dto) => rules.some((map) => map.has(dto))).map((dto) => dto.name)).toEqual([]);
  });
});
