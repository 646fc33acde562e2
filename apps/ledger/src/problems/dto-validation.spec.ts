import { plainToInstance } from 'class-transformer';
import { validateSync } from 'class-validator';
import { AccountEventsQueryDto, FinancePositionQueryDto, LedgerEventsQueryDto, StatementQueryDto } from '../audit/audit-params.js';
import { AdjustCreditsDto } from '../credit-accounts/adjustments/adjust-credits.dto.js';
import { PurchaseCreditsDto } from '../credit-accounts/purchases/purchase-credits.dto.js';
import { batchChargeOf, BatchChargeDto, ChargeRecordsBatchDto } from '../credit-accounts/record-charges/charge-records-batch.js';
import { ChargeRecordsDto } from '../credit-accounts/record-charges/charge-records.dto.js';
import { RefundPurchaseDto } from '../credit-accounts/refunds/refund-purchase.dto.js';
import { RevealCompaniesDto } from '../credit-accounts/reveals/reveal-companies.dto.js';
import { DispatchWebhookDto } from '../credit-accounts/webhook-dispatches/dispatch-webhook.dto.js';
import { UsageRangeDto } from '../usage/usage-range.js';
import { DTO_VALIDATION, dtoErrors, passesDtoRules } from './dto-validation.js';

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

/** A small deterministic generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
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
    else body[pick(['extra', 'accountID', 'toString', 'records '])] = pick(POOL);
  }
  return body;
}

describe('the DTO rules run directly', () => {
  it.each(VALID.map(([type, body]) => [type.name, type, body] as const))(
    'never pass a %s that class-validator would refuse, and pass those it accepts',
    (_name, type, base) => {
      const next = random(0x5eed ^ type.name.length);
      const outcomes = { valid: 0, invalid: 0, compiled: passesDtoRules(Object.assign(new type(), base)) };
      for (let i = 0; i < 3_000; i++) {
        const dto = Object.assign(new type(), mutate(base, next));
        const accepted = validateSync(dto, DTO_VALIDATION).length === 0;
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

describe('a batch charge built by copying its fields', () => {
  it('is what class-transformer builds, for every mutated charge', () => {
    const next = random(0xba7c4);
    const base = { accountId: 'acct-1', requestId: 'req-1', endpoint: 'company_search', records: 2, allowPartial: false, userId: 'u-1', occurredAt: instant };
    for (let i = 0; i < 3_000; i++) {
      const raw = mutate(base, next);
      const copied = batchChargeOf(raw);
      expect(copied).toBeInstanceOf(BatchChargeDto);
      // class-transformer drops a field named like an inherited method; the copy keeps it, to be refused.
      // (In the app, the pipe's copy of the whole body has dropped it before: the routes agree.)
      if ('toString' in raw && Object.hasOwn(raw, 'toString')) {
        expect(dtoErrors(copied).map((error) => error.property)).toContain('toString');
        continue;
      }
      const transformed = plainToInstance(BatchChargeDto, raw, { enableImplicitConversion: false });
      expect({ ...copied }).toEqual({ ...transformed });
      expect(dtoErrors(copied)).toEqual(dtoErrors(transformed));
    }
  });
});
