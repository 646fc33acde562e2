import type { IdempotencyEntry } from './credit-account.state.js';
import { entryKey, entryText, IdempotencyEntries } from './idempotency-entries.js';

const charge: IdempotencyEntry = { kind: 'records', fingerprint: 'v1:1x2y3z4w5v6u', recordsBilled: 20, unitPrice: 3, creditsCharged: 60, apiAvailable: 940, companyAvailable: 5 };
const webhook: IdempotencyEntry = { kind: 'webhook', fingerprint: 'v1:abc', status: 'not_triggered', creditsCharged: 0, apiAvailable: 0, companyAvailable: 5 };

function reveal(): Extract<IdempotencyEntry, { kind: 'reveal' }> {
  return { kind: 'reveal', fingerprint: 'v1:r', action: 'reveal', at: 1_000, charged: [{ companyId: 'c1', windowEndsAt: 2_000 }], apiAvailable: 1, companyAvailable: 2 };
}

describe('the idempotency entries of an account', () => {
  describe('when a charge and a webhook were recorded', () => {
    const entries = new IdempotencyEntries().set('request:q1', charge).set('webhook:e1', webhook);

    it('answers each key with the entry it was given', () => {
      expect(entries.size).toBe(2);
      expect(entries.has('request:q1')).toBe(true);
      expect(entries.get('request:q1')).toStrictEqual(charge);
      expect(entries.get('webhook:e1')).toStrictEqual(webhook);
      expect(entries.has('request:q2')).toBe(false);
      expect(entries.get('request:q2')).toBeUndefined();
    });

    it('holds them as the lines the snapshot store keeps', () => {
      expect(entries.textOf('request:q1')).toBe('r20,3,60,940,5,v1:1x2y3z4w5v6u');
      expect(entries.textOf('webhook:e1')).toBe('wn0,0,5,v1:abc');
    });

    it('answers with the entry set last as it was given, and decodes the others from their lines', () => {
      expect(entries.get('webhook:e1')).toBe(webhook);
      expect(entries.get('request:q1')).not.toBe(charge);
      expect(entries.get('request:q1')).toStrictEqual(charge);
    });

    it('decodes an entry whose line is the same text as the last one set', () => {
      const twin = new IdempotencyEntries().set('request:a', charge).set('request:b', { ...charge });
      expect(twin.get('request:a')).toStrictEqual(charge);
      expect(twin.get('request:b')).toStrictEqual(charge);
    });
  });

  describe('when a reveal was recorded', () => {
    it('keeps its entry as the object, which grows as the request is applied one company at a time', () => {
      const entry = reveal();
      const entries = new IdempotencyEntries().set('request:r1', entry);
      const held = entries.get('request:r1');
      expect(held).toBe(entry);
      if (held?.kind !== 'reveal') throw new Error('a reveal');
      held.charged.push({ companyId: 'c2', windowEndsAt: 2_000 });
      expect(entries.textOf('request:r1')).toBe(entryText(held));
      expect(JSON.parse(entries.textOf('request:r1')!).charged).toHaveLength(2);
    });
  });

  it('lists its keys in the order they were first set, and its entries decoded', () => {
    const entries = new IdempotencyEntries().set('webhook:e1', webhook).set('request:r1', reveal()).set('request:q1', charge);
    entries.set('webhook:e1', { ...webhook, status: 'dispatched', creditsCharged: 1 });
    expect([...entries.keys()]).toEqual(['webhook:e1', 'request:r1', 'request:q1']);
    expect([...entries]).toStrictEqual([
      ['webhook:e1', { ...webhook, status: 'dispatched', creditsCharged: 1 }],
      ['request:r1', reveal()],
      ['request:q1', charge],
    ]);
  });

  it('keeps only the keys asked for, sharing what it holds, and leaves itself whole', () => {
    const revealed = reveal();
    const entries = new IdempotencyEntries().set('request:q1', charge).set('request:r1', revealed).set('webhook:e1', webhook);
    const only = entries.only(['request:r1', 'webhook:e1', 'request:never']);
    expect([...only.keys()]).toEqual(['request:r1', 'webhook:e1']);
    expect(only.get('request:r1')).toBe(revealed);
    expect(only.get('webhook:e1')).toStrictEqual(webhook);
    expect(entries.size).toBe(3);
  });

  it('makes keys of a prefix and an id', () => {
    expect(entryKey('request:', 'q-000000000001')).toBe('request:q-000000000001');
    expect(new IdempotencyEntries().set(entryKey('request:', 'q-1'), charge).has('request:q-1')).toBe(true);
  });
});
