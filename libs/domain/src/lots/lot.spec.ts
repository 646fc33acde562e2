import { iso, instantOf, type Instant } from '../shared/time.js';
import {
  allocate,
  availableAt,
  compareSpendingOrder,
  insertInSpendingOrder,
  isUsableAt,
  paidLotExpiry,
  type Lot,
} from './lot.js';

function expiryOfLotBoughtAt(purchasedAt: string): string {
  return iso(paidLotExpiry(instantOf(purchasedAt)));
}

function lot(
  purchaseId: string,
  fields: { expiresAt: string; purchasedAt?: string; paid?: boolean; remaining?: number; credits?: number },
): Lot {
  const credits = fields.credits ?? 10;
  return {
    purchaseId,
    creditType: 'api',
    paid: fields.paid ?? true,
    source: (fields.paid ?? true) ? 'purchase' : 'grant',
    credits,
    purchasedAt: instantOf(fields.purchasedAt ?? '2026-01-01T00:00:00.000Z'),
    expiresAt: instantOf(fields.expiresAt),
    remaining: fields.remaining ?? credits,
    expired: 0,
    refunded: false,
  };
}

function inSpendingOrder(lots: readonly Lot[]): string[] {
  return [...lots].sort(compareSpendingOrder).map((l) => l.purchaseId);
}

describe('a paid lot expires 12 calendar months after its purchase (rule 3)', () => {
  it.each([
    ['2026-01-31T00:00:00.000Z', '2027-01-31T00:00:00.000Z'],
    ['2025-03-31T00:00:00.000Z', '2026-03-31T00:00:00.000Z'],
    ['2026-07-15T00:00:00.000Z', '2027-07-15T00:00:00.000Z'],
  ])('bought %s, it expires %s', (purchasedAt, expiresAt) => {
    expect(expiryOfLotBoughtAt(purchasedAt)).toBe(expiresAt);
  });

  it('bought on 29 February, it expires on 28 February of the next year (the month end clamps)', () => {
    expect(expiryOfLotBoughtAt('2024-02-29T00:00:00.000Z')).toBe('2025-02-28T00:00:00.000Z');
  });

  it('keeps the time of day of the purchase, to the millisecond', () => {
    expect(expiryOfLotBoughtAt('2026-01-31T13:45:12.345Z')).toBe('2027-01-31T13:45:12.345Z');
    expect(expiryOfLotBoughtAt('2024-02-29T23:59:59.999Z')).toBe('2025-02-28T23:59:59.999Z');
  });

  it('is calendar months, not 365 days: across a leap day it is 366 days later', () => {
    const purchasedAt = instantOf('2027-06-01T00:00:00.000Z');
    expect((paidLotExpiry(purchasedAt) - purchasedAt) / 86_400_000).toBe(366);
  });
});

describe('a lot can be spent strictly before its expiry instant', () => {
  const expiresAt = '2027-01-31T00:00:00.000Z';
  const expiry: Instant = instantOf(expiresAt);

  it('is usable the millisecond before it expires', () => {
    expect(isUsableAt(lot('a', { expiresAt }), expiry - 1)).toBe(true);
  });

  it('is no longer usable at its expiry instant', () => {
    expect(isUsableAt(lot('a', { expiresAt }), expiry)).toBe(false);
  });

  it('is not usable once nothing remains of it', () => {
    expect(isUsableAt(lot('a', { expiresAt, remaining: 0 }), expiry - 1)).toBe(false);
  });

  it('counts towards the available balance only while usable', () => {
    const lots = [lot('a', { expiresAt, remaining: 7 }), lot('b', { expiresAt: '2027-06-01T00:00:00.000Z', remaining: 5 })];
    expect(availableAt(lots, expiry - 1)).toBe(12);
    expect(availableAt(lots, expiry)).toBe(5);
  });
});

describe('spending order (rule 4)', () => {
  it('spends first the lot that expires soonest, even if it was bought later', () => {
    const older = lot('older', { purchasedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z' });
    const trial = lot('trial', {
      purchasedAt: '2026-03-01T00:00:00.000Z',
      expiresAt: '2026-03-15T00:00:00.000Z',
      paid: false,
    });
    expect(inSpendingOrder([older, trial])).toEqual(['trial', 'older']);
  });

  it('when two lots expire at the same instant, spends the unpaid one before the paid one', () => {
    const paid = lot('a-paid', { purchasedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z' });
    const grant = lot('b-grant', {
      purchasedAt: '2026-06-01T00:00:00.000Z',
      expiresAt: '2027-01-01T00:00:00.000Z',
      paid: false,
    });
    expect(inSpendingOrder([paid, grant])).toEqual(['b-grant', 'a-paid']);
  });

  it('when expiry and paid-ness tie, spends the older purchase first', () => {
    const newer = lot('a-newer', { purchasedAt: '2026-02-01T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z' });
    const older = lot('b-older', { purchasedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z' });
    expect(inSpendingOrder([newer, older])).toEqual(['b-older', 'a-newer']);
  });

  it('when everything else ties, orders by purchase id', () => {
    const b = lot('lot-b', { expiresAt: '2027-01-01T00:00:00.000Z' });
    const a = lot('lot-a', { expiresAt: '2027-01-01T00:00:00.000Z' });
    expect(inSpendingOrder([b, a])).toEqual(['lot-a', 'lot-b']);
  });

  it('keeps an account list in that order whatever order the lots arrive in', () => {
    const lots = [
      lot('paid-late', { purchasedAt: '2026-02-01T00:00:00.000Z', expiresAt: '2027-02-01T00:00:00.000Z' }),
      lot('paid-b', { purchasedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z' }),
      lot('grant', { purchasedAt: '2026-01-05T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z', paid: false }),
      lot('paid-a', { purchasedAt: '2026-01-01T00:00:00.000Z', expiresAt: '2027-01-01T00:00:00.000Z' }),
      lot('trial', { purchasedAt: '2026-01-10T00:00:00.000Z', expiresAt: '2026-01-24T00:00:00.000Z', paid: false }),
    ];
    const expected = ['trial', 'grant', 'paid-a', 'paid-b', 'paid-late'];
    for (const arrival of [lots, [...lots].reverse()]) {
      const account: Lot[] = [];
      for (const l of arrival) insertInSpendingOrder(account, l);
      expect(account.map((l) => l.purchaseId)).toEqual(expected);
    }
  });
});

describe('allocating a charge across lots', () => {
  const chargeAt = instantOf('2026-03-01T10:00:00.000Z');
  const lots = [
    lot('trial', { expiresAt: '2026-03-15T00:00:00.000Z', paid: false, credits: 5 }),
    lot('jan', { expiresAt: '2027-01-10T00:00:00.000Z', credits: 100, remaining: 10 }),
    lot('feb', { expiresAt: '2027-02-10T00:00:00.000Z', credits: 100 }),
  ];

  it('takes each lot in spending order until the charge is paid', () => {
    expect(allocate(lots, 20, chargeAt)).toEqual([
      { purchaseId: 'trial', credits: 5 },
      { purchaseId: 'jan', credits: 10 },
      { purchaseId: 'feb', credits: 5 },
    ]);
  });

  it('takes only from the first lot when it is enough', () => {
    expect(allocate(lots, 5, chargeAt)).toEqual([{ purchaseId: 'trial', credits: 5 }]);
  });

  it('skips a lot that has expired by the time of the charge', () => {
    expect(allocate(lots, 12, instantOf('2026-03-15T00:00:00.000Z'))).toEqual([
      { purchaseId: 'jan', credits: 10 },
      { purchaseId: 'feb', credits: 2 },
    ]);
  });

  it('never takes more than the lots have', () => {
    expect(() => allocate(lots, 116, chargeAt)).toThrow('1 credits could not be allocated');
  });
});
