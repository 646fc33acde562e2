import { given, historyOf } from '../testing/decider-specification.js';
import {
  ACCOUNT,
  at,
  daysAfter,
  daysBefore,
  paidLot,
  purchaseCredits,
  revealCompanies,
} from '../testing/credit-account.fixtures.js';
import { iso, type Instant } from '../shared/time.js';
import type { RevealCompanies } from './credit-account.commands.js';
import { fingerprintOf } from './credit-account.decider.js';
import type { CompanyRevealed, CreditAccountEvent, RevealServedFree } from './credit-account.events.js';

const NOW = at('2026-06-01T10:00:00.000Z');
const PACK_BOUGHT = at('2026-01-05T00:00:00.000Z');
const buyPack = (credits: number) =>
  purchaseCredits({ purchaseId: 'pack', creditType: 'company', credits, occurredAt: PACK_BOUGHT });

/** The event of a request served entirely from open windows: nothing charged, the request remembered. */
function servedFree(command: RevealCompanies, windowEndsAt: Instant): RevealServedFree {
  return {
    type: 'RevealServedFree',
    data: {
      accountId: ACCOUNT,
      requestId: command.requestId,
      action: command.action,
      companies: [...new Set(command.companyIds)].map((companyId) => ({ companyId, windowEndsAt: iso(windowEndsAt) })),
      servedAt: iso(command.occurredAt),
      ...(command.userId !== undefined ? { userId: command.userId } : {}),
      fingerprint: fingerprintOf(command),
    },
  };
}

/** The event of one company charged by a request, paid by one credit of `fromLot`. */
function companyRevealed(command: RevealCompanies, companyId: string, fromLot = 'pack'): CompanyRevealed {
  return {
    type: 'CompanyRevealed',
    data: {
      accountId: ACCOUNT,
      requestId: command.requestId,
      companyId,
      action: command.action,
      revealedAt: iso(command.occurredAt),
      windowEndsAt: iso(daysAfter(command.occurredAt, 90)),
      creditType: 'company',
      credits: 1,
      allocations: [{ purchaseId: fromLot, credits: 1 }],
      ...(command.userId !== undefined ? { userId: command.userId } : {}),
      fingerprint: fingerprintOf(command),
    },
  };
}

/** A team with 10 company credits that revealed `companyIds` at `revealedAt`. */
function revealedEarlier(revealedAt: Instant, companyIds: string[], fields: Partial<RevealCompanies> = {}): CreditAccountEvent[] {
  return historyOf(buyPack(10), revealCompanies({ requestId: 'r0', companyIds, occurredAt: revealedAt, ...fields }));
}

describe('company credits and reveal windows (rule 5)', () => {
  describe('when a company is revealed for the first time', () => {
    const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], userId: 'u-ana', occurredAt: NOW });

    it('charges 1 company credit and opens a 90-day window', () => {
      given(historyOf(buyPack(10)))
        .when(reveal)
        .then([companyRevealed(reveal, 'stripe')]);
    });

    it('answers what was charged and until when it stays free', () => {
      expect(given(historyOf(buyPack(10))).when(reveal).answer()).toStrictEqual({
        requestId: 'r1',
        action: 'reveal',
        charged: [{ companyId: 'stripe', windowEndsAt: '2026-08-30T10:00:00.000Z' }],
        alreadyRevealed: [],
        notCharged: [],
        creditsCharged: 1,
        balances: { api: { available: 0 }, company: { available: 9 } },
      });
    });
  });

  describe('when the company was revealed 89 days ago', () => {
    const history = revealedEarlier(daysBefore(NOW, 89), ['stripe']);
    const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], occurredAt: NOW });

    it('is free: nothing is charged, and the request is remembered', () => {
      given(history).when(reveal).then([servedFree(reveal, daysAfter(NOW, 1))]);
    });

    it('answers that it was already revealed, and until when', () => {
      given(history)
        .when(reveal)
        .thenAnswers({
          charged: [],
          alreadyRevealed: [{ companyId: 'stripe', windowEndsAt: iso(daysAfter(NOW, 1)) }],
          notCharged: [],
          creditsCharged: 0,
          balances: { api: { available: 0 }, company: { available: 9 } },
        });
    });

    it('exporting it is free too', () => {
      const exportIt = { ...reveal, action: 'export' as const };
      given(history).when(exportIt).then([servedFree(exportIt, daysAfter(NOW, 1))]);
    });
  });

  describe('when the company was revealed exactly 90 days ago', () => {
    const history = revealedEarlier(daysBefore(NOW, 90), ['stripe']);
    const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], occurredAt: NOW });

    it('the window has closed: the reveal costs 1 again and opens a new window', () => {
      given(history)
        .when(reveal)
        .then([companyRevealed(reveal, 'stripe')])
        .andAnswers({
          charged: [{ companyId: 'stripe', windowEndsAt: iso(daysAfter(NOW, 90)) }],
          alreadyRevealed: [],
          creditsCharged: 1,
          balances: { api: { available: 0 }, company: { available: 8 } },
        });
    });

    it('a millisecond earlier, it was still free', () => {
      const earlier = { ...reveal, occurredAt: NOW - 1 };
      given(history).when(earlier).then([servedFree(earlier, NOW)]);
    });
  });

  describe('when the company was revealed 91 days ago', () => {
    it('costs 1 again', () => {
      const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], occurredAt: NOW });
      given(revealedEarlier(daysBefore(NOW, 91), ['stripe']))
        .when(reveal)
        .then([companyRevealed(reveal, 'stripe')]);
    });
  });

  describe('when a company is exported', () => {
    const exportIt = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], action: 'export', occurredAt: NOW });

    it('costs like a reveal and opens a window', () => {
      given(historyOf(buyPack(10)))
        .when(exportIt)
        .then([companyRevealed(exportIt, 'stripe')])
        .andAnswers({ action: 'export', creditsCharged: 1, balances: { api: { available: 0 }, company: { available: 9 } } });
    });

    it('is free inside a window opened by a reveal, and a reveal is free inside a window opened by an export', () => {
      given(revealedEarlier(daysBefore(NOW, 30), ['stripe']))
        .when(exportIt)
        .then([servedFree(exportIt, daysAfter(NOW, 60))]);
      const revealIt = { ...exportIt, action: 'reveal' as const };
      given(revealedEarlier(daysBefore(NOW, 30), ['stripe'], { action: 'export' }))
        .when(revealIt)
        .then([servedFree(revealIt, daysAfter(NOW, 60))]);
    });
  });

  describe('when a request names the same company twice', () => {
    it('counts it once', () => {
      const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe', 'notion', 'stripe'], occurredAt: NOW });
      given(historyOf(buyPack(10)))
        .when(reveal)
        .then([companyRevealed(reveal, 'stripe'), companyRevealed(reveal, 'notion')])
        .andAnswers({ creditsCharged: 2, balances: { api: { available: 0 }, company: { available: 8 } } });
    });
  });

  describe('when a request names several companies, one of them revealed 10 days ago', () => {
    const history = revealedEarlier(daysBefore(NOW, 10), ['stripe']);
    const reveal = revealCompanies({ requestId: 'r1', companyIds: ['notion', 'stripe', 'figma'], occurredAt: NOW });

    it('charges only those outside a window', () => {
      given(history)
        .when(reveal)
        .then([companyRevealed(reveal, 'notion'), companyRevealed(reveal, 'figma')])
        .andAnswers({
          charged: [
            { companyId: 'notion', windowEndsAt: iso(daysAfter(NOW, 90)) },
            { companyId: 'figma', windowEndsAt: iso(daysAfter(NOW, 90)) },
          ],
          alreadyRevealed: [{ companyId: 'stripe', windowEndsAt: iso(daysAfter(NOW, 80)) }],
          notCharged: [],
          creditsCharged: 2,
          balances: { api: { available: 0 }, company: { available: 7 } },
        });
    });
  });

  describe('when the company credits are spread over two lots', () => {
    it('each company is paid by one credit, taken in spending order', () => {
      const history = historyOf(
        purchaseCredits({ purchaseId: 'trial', creditType: 'company', credits: 1, paid: false, expiresAt: at('2026-06-15T00:00:00.000Z'), occurredAt: PACK_BOUGHT }),
        buyPack(10),
      );
      const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe', 'notion', 'figma'], occurredAt: NOW });
      given(history)
        .when(reveal)
        .then([
          companyRevealed(reveal, 'stripe', 'trial'),
          companyRevealed(reveal, 'notion', 'pack'),
          companyRevealed(reveal, 'figma', 'pack'),
        ]);
    });
  });

  describe('when the company balance cannot pay for every company outside a window', () => {
    // 2 credits left; stripe is inside a window, so 3 of the 4 companies would cost.
    const twoCreditsLeft = historyOf(
      buyPack(3),
      revealCompanies({ requestId: 'r0', companyIds: ['stripe'], occurredAt: daysBefore(NOW, 10) }),
    );
    const reveal = revealCompanies({ requestId: 'r1', companyIds: ['stripe', 'notion', 'figma', 'linear'], occurredAt: NOW });

    it('refuses the whole request by default, requiring only the companies outside a window', () => {
      given(twoCreditsLeft)
        .when(reveal)
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'company', required: 3, available: 2 });
    });

    it('with partial billing, charges as many as the balance pays for, in request order, and names the rest', () => {
      const partial = { ...reveal, allowPartial: true };
      given(twoCreditsLeft)
        .when(partial)
        .then([companyRevealed(partial, 'notion'), companyRevealed(partial, 'figma')])
        .andAnswers({
          charged: [
            { companyId: 'notion', windowEndsAt: iso(daysAfter(NOW, 90)) },
            { companyId: 'figma', windowEndsAt: iso(daysAfter(NOW, 90)) },
          ],
          alreadyRevealed: [{ companyId: 'stripe', windowEndsAt: iso(daysAfter(NOW, 80)) }],
          notCharged: ['linear'],
          creditsCharged: 2,
          balances: { api: { available: 0 }, company: { available: 0 } },
        });
    });

    it('with partial billing and no credit at all, refuses', () => {
      const broke = historyOf(
        buyPack(1),
        revealCompanies({ requestId: 'r0', companyIds: ['stripe'], occurredAt: daysBefore(NOW, 10) }),
      );
      given(broke)
        .when({ ...reveal, allowPartial: true })
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'company', required: 3, available: 0 });
    });

    it('never uses API credits to pay for companies', () => {
      given([...twoCreditsLeft, paidLot('api-lot', 'api', 1000, NOW)])
        .when(reveal)
        .thenRefuses('CREDITS_INSUFFICIENT', { creditType: 'company', required: 3, available: 2 });
    });
  });

  describe('when a request is retried after the windows have moved on', () => {
    // r1 at NOW: stripe free (revealed 10 days before), notion charged; figma not paid for (partial).
    const r1 = revealCompanies({
      requestId: 'r1',
      companyIds: ['stripe', 'notion', 'figma'],
      allowPartial: true,
      occurredAt: NOW,
    });
    const before = [
      buyPack(2),
      revealCompanies({ requestId: 'r0', companyIds: ['stripe'], occurredAt: daysBefore(NOW, 10) }),
    ] as const;
    const original = given(historyOf(...before)).when(r1).answer();
    // 100 days later every window has closed; a top-up pays for r2 to reveal all three again.
    const later = daysAfter(NOW, 100);
    const history = historyOf(
      ...before,
      r1,
      purchaseCredits({ purchaseId: 'top-up', creditType: 'company', credits: 10, occurredAt: later }),
      revealCompanies({ requestId: 'r2', companyIds: ['stripe', 'notion', 'figma'], occurredAt: later }),
    );

    it('the original answer was a partial charge', () => {
      expect(original).toStrictEqual({
        requestId: 'r1',
        action: 'reveal',
        charged: [{ companyId: 'notion', windowEndsAt: iso(daysAfter(NOW, 90)) }],
        alreadyRevealed: [{ companyId: 'stripe', windowEndsAt: iso(daysAfter(NOW, 80)) }],
        notCharged: ['figma'],
        creditsCharged: 1,
        balances: { api: { available: 0 }, company: { available: 0 } },
      });
    });

    it('writes nothing and answers exactly as the first time', () => {
      const retry = { ...r1, occurredAt: daysAfter(NOW, 101) };
      given(history).when(retry).thenNothing();
      expect(given(history).when(retry).answer()).toStrictEqual(original);
    });

    it('with other companies, is refused as a reused key', () => {
      given(history)
        .when({ ...r1, companyIds: ['stripe', 'notion'], occurredAt: daysAfter(NOW, 101) })
        .thenRefuses('IDEMPOTENCY_KEY_REUSED', { requestId: 'r1' });
    });
  });

  describe('when a request that was entirely free is retried after the window closed', () => {
    const history = revealedEarlier(daysBefore(NOW, 30), ['stripe']);
    const r1 = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], occurredAt: NOW });

    it('was free the first time', () => {
      given(history).when(r1).then([servedFree(r1, daysAfter(NOW, 60))]).andAnswers({ creditsCharged: 0, alreadyRevealed: [{ companyId: 'stripe', windowEndsAt: iso(daysAfter(NOW, 60)) }] });
    });

    it('writes nothing and answers as the first time', () => {
      const original = given(history).when(r1);
      const retry = given([...history, ...original.decision.events]).when({ ...r1, occurredAt: daysAfter(NOW, 70) });
      expect(retry.decision.events).toEqual([]);
      expect(retry.answer()).toStrictEqual(original.answer());
    });

    it('with other companies, is refused as a reused key', () => {
      const original = given(history).when(r1);
      given([...history, ...original.decision.events])
        .when({ ...r1, companyIds: ['notion'], occurredAt: NOW + 1 })
        .thenRefuses('IDEMPOTENCY_KEY_REUSED', { requestId: 'r1' });
    });
  });

  describe('when another user of the team reveals a company inside the team\'s window', () => {
    const history = revealedEarlier(daysBefore(NOW, 30), ['stripe'], { userId: 'u-ana' });

    it('is free: windows belong to the account, not the user', () => {
      const byBob = revealCompanies({ requestId: 'r1', companyIds: ['stripe'], userId: 'u-bob', occurredAt: NOW });
      given(history).when(byBob).then([servedFree(byBob, daysAfter(NOW, 60))]);
    });
  });

  describe('when the account has no history', () => {
    it('is refused as an unknown account', () => {
      given([])
        .when(revealCompanies({ requestId: 'r1', companyIds: ['stripe'], occurredAt: NOW }))
        .thenRefuses('ACCOUNT_NOT_FOUND', { accountId: ACCOUNT });
    });
  });
});
