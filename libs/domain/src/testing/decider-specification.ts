import { answer, type CreditAccountAnswer } from '../credit-account/credit-account.answers.js';
import type { CreditAccountCommand } from '../credit-account/credit-account.commands.js';
import { decide, type Decision } from '../credit-account/credit-account.decider.js';
import type { CreditAccountEvent } from '../credit-account/credit-account.events.js';
import { evolve, initialState, type CreditAccountState } from '../credit-account/credit-account.state.js';
import { LedgerError, type LedgerErrorCode } from '../shared/ledger-error.js';

/**
 * Given/when/then for the credit-account decider, in the spirit of emmett's `DeciderSpecification`:
 *
 *   given([lotPurchased]).when(chargeRecords).then([recordsReturned]).andAnswers({ recordsBilled: 10 });
 *   given([]).when(revealCompanies).thenRefuses('ACCOUNT_NOT_FOUND', { accountId: 'acme' });
 *
 * The command is decided against a fresh `initialState()` folded from the given events; its events are
 * then applied with `evolve` to another fresh fold of the same history (evolve mutates what it is given,
 * so the state the decision saw is never the one the events are applied to).
 */
export function given(history: readonly CreditAccountEvent[]): Given {
  return {
    when(command: CreditAccountCommand): When {
      const decision = decide(command, fold(history));
      return new When(history, command, decision);
    },
  };
}

export interface Given {
  when(command: CreditAccountCommand): When;
}

/** Folds events, in order, into a fresh state: what loading an account's stream gives. */
export function fold(events: readonly CreditAccountEvent[], state: CreditAccountState = initialState()): CreditAccountState {
  for (const event of events) evolve(state, event);
  return state;
}

/**
 * The events a sequence of commands writes, decided and applied one after the other as the write path
 * does: handy to build a history whose fingerprints are genuine (retries are recognised by them).
 * A refusal that writes an event (a webhook not triggered) is part of history; one that writes nothing
 * means the test's history is wrong, so it throws.
 */
export function historyOf(...commands: readonly CreditAccountCommand[]): CreditAccountEvent[] {
  const state = initialState();
  const events: CreditAccountEvent[] = [];
  for (const command of commands) {
    const decision = decide(command, state);
    if (decision.refusal && decision.events.length === 0) {
      throw new Error(`historyOf: ${command.type} was refused: ${decision.refusal.code} ${decision.refusal.message}`);
    }
    for (const event of decision.events) evolve(state, event);
    events.push(...decision.events);
  }
  return events;
}

export class When {
  constructor(
    private readonly history: readonly CreditAccountEvent[],
    readonly command: CreditAccountCommand,
    readonly decision: Decision,
  ) {}

  /** The command is accepted and writes exactly these events, in this order. */
  then(expected: readonly CreditAccountEvent[]): Accepted {
    this.expectAccepted();
    expect(this.decision.events).toStrictEqual(expected);
    return new Accepted(this);
  }

  /** The command is accepted and writes nothing: a retry, a call that returned no records, a free reveal. */
  thenNothing(): Accepted {
    return this.then([]);
  }

  /**
   * The command is refused with this code and (a subset of) these details. A refusal normally writes
   * nothing; pass `recording` when the refusal must leave an event (a webhook not triggered).
   */
  thenRefuses(
    code: LedgerErrorCode,
    details: Readonly<Record<string, unknown>> = {},
    recording: readonly CreditAccountEvent[] = [],
  ): void {
    const { refusal, events } = this.decision;
    expect(refusal).toBeInstanceOf(LedgerError);
    expect({ code: refusal?.code, details: refusal?.details }).toMatchObject({ code, details });
    expect(events).toStrictEqual(recording);
  }

  /** The caller's reply, read from the state after the command's events (whatever they were). */
  thenAnswers(expected: Partial<CreditAccountAnswer> | Record<string, unknown>): void {
    this.expectAccepted();
    expect(this.answer()).toMatchObject(expected);
  }

  /** The state after the given history and the command's events. */
  stateAfter(): CreditAccountState {
    return fold(this.decision.events, fold(this.history));
  }

  answer(): CreditAccountAnswer {
    return answer(this.command, this.stateAfter(), this.decision.events);
  }

  private expectAccepted(): void {
    const { refusal } = this.decision;
    if (refusal) throw new Error(`Expected the command to be accepted, but it was refused: ${refusal.code} ${refusal.message}`);
  }
}

export class Accepted {
  constructor(private readonly when: When) {}

  andAnswers(expected: Partial<CreditAccountAnswer> | Record<string, unknown>): void {
    this.when.thenAnswers(expected);
  }

  answer(): CreditAccountAnswer {
    return this.when.answer();
  }
}
