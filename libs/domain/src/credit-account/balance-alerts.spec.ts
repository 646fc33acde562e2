import { given, historyOf } from '../testing/decider-specification.js';
import { at, chargeRecords, purchaseCredits } from '../testing/credit-account.fixtures.js';
import type { CreditAccountCommand, SetBalanceAlerts } from './credit-account.commands.js';

const T = at('2026-04-02T09:00:00.000Z');
const MIN = 60_000;
const pack = (purchaseId: string, credits: number, minute = 0) =>
  purchaseCredits({ purchaseId, credits, paid: true, amountMinor: 100, currency: 'USD', occurredAt: T + minute * MIN });
const alerts = (fields: Partial<SetBalanceAlerts> = {}): SetBalanceAlerts => ({
  type: 'SetBalanceAlerts',
  accountId: 'acme',
  creditType: 'api',
  consumedPercents: [75, 100],
  setBy: 'owner-settings',
  occurredAt: T + MIN,
  ...fields,
});
let n = 0;
const charge = (records: number, minute: number) => chargeRecords({ requestId: `r-${++n}`, endpoint: 'job_search', records, occurredAt: T + minute * MIN });
const raised = (history: CreditAccountCommand[], command: CreditAccountCommand) =>
  given(historyOf(...history)).when(command).decision.events.filter((e) => e.type === 'BalanceAlertRaised').map((e) => e.data);

describe('balance alerts', () => {
  describe('when the month\u2019s consumption reaches a share of the credits bought that month', () => {
    const history = [pack('p', 100), alerts(), charge(70, 2)];

    it('raises one alert at 75%, with the month\u2019s figures', () => {
      expect(raised(history, charge(10, 3))).toEqual([
        expect.objectContaining({ alertId: 'alert-1', kind: 'consumed_percent', threshold: 75, month: '2026-04', consumed: 80, bought: 100, available: 20 }),
      ]);
    });

    it('raises nothing more until the next threshold, then one at 100%', () => {
      const after75 = [...history, charge(10, 3)];
      expect(raised(after75, charge(19, 4))).toEqual([]);
      expect(raised([...after75, charge(19, 4)], charge(1, 5))).toEqual([expect.objectContaining({ alertId: 'alert-2', threshold: 100 })]);
    });

    it('raises both when one charge crosses both', () => {
      expect(raised(history, charge(30, 3)).map((a) => a.threshold)).toEqual([75, 100]);
    });
  });

  describe('when a charge takes the available balance below a floor', () => {
    const history = [pack('p', 100), alerts({ consumedPercents: [], availableBelow: 20 }), charge(70, 2)];

    it('raises once, at the crossing', () => {
      expect(raised(history, charge(15, 3))).toEqual([expect.objectContaining({ kind: 'available_below', threshold: 20, available: 15 })]);
      expect(raised([...history, charge(15, 3)], charge(5, 4))).toEqual([]);
    });

    it('raises again at the next crossing after a purchase lifted the balance', () => {
      const refilled = [...history, charge(15, 3), pack('p2', 50, 4)];
      expect(raised(refilled, charge(50, 5))).toEqual([expect.objectContaining({ kind: 'available_below', available: 15 })]);
    });
  });

  it('raises nothing without rules, or for a refused charge', () => {
    expect(raised([pack('p', 100)], charge(99, 2))).toEqual([]);
    expect(raised([pack('p', 100), alerts()], charge(101, 2))).toEqual([]);
  });
});
