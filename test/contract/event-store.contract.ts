import { randomUUID } from 'node:crypto';
import {
  collect,
  comparePositions,
  StreamNotFoundError,
  WrongExpectedRevisionError,
  type AppendSuccess,
  type EventMetadata,
  type EventStore,
  type ExpectedRevision,
  type NewEvent,
  type Position,
  type RecordedEvent,
  type Subscription,
} from '#event-store';

export interface EventStoreFixture {
  readonly store: EventStore;
  /** Closes the store and opens it again on the same data; `cleanup` then closes the reopened one. */
  readonly reopen?: () => Promise<EventStore>;
  readonly cleanup: () => Promise<void>;
}

/**
 * The semantics every event-store adapter must share (EventStoreDB's). The store may be shared with other
 * tests and, for EventStoreDB, `$all` holds system events too: every test writes to streams of its own,
 * under a random category, and looks at `$all` only through those streams.
 */
export function describeEventStoreContract(name: string, open: () => Promise<EventStoreFixture>): void {
  describe(`${name} honours the event store contract`, () => {
    let fixture: EventStoreFixture;
    let store: EventStore;
    const subscriptions: Subscription[] = [];

    beforeEach(async () => {
      fixture = await open();
      store = fixture.store;
    });

    afterEach(async () => {
      await Promise.all(subscriptions.splice(0).map((s) => s.close()));
      await fixture.cleanup();
    });

    describe('appending', () => {
      it("numbers a new stream's events from revision 0, in the order given", async () => {
        const stream = streamName();
        const events = newEvents(3);

        const result = await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });

        expect(result).toMatchObject({ ok: true, streamId: stream, nextExpectedRevision: 2n });
        const recorded = await collect(store.readStream(stream));
        expect(recorded.map((e) => [e.revision, e.id, e.streamId])).toEqual([
          [0n, events[0]!.id, stream],
          [1n, events[1]!.id, stream],
          [2n, events[2]!.id, stream],
        ]);
      });

      it('accepts every kind of expected revision when it holds', async () => {
        const stream = streamName();

        await expect(append(stream, 'no_stream')).resolves.toMatchObject({ nextExpectedRevision: 0n });
        await expect(append(stream, 0n)).resolves.toMatchObject({ nextExpectedRevision: 1n });
        await expect(append(stream, 'stream_exists')).resolves.toMatchObject({ nextExpectedRevision: 2n });
        await expect(append(stream, 'any')).resolves.toMatchObject({ nextExpectedRevision: 3n });
        await expect(append(streamName(), 'any')).resolves.toMatchObject({ nextExpectedRevision: 0n });
      });

      describe('when the expected revision does not hold', () => {
        it('refuses no_stream for a stream that exists', async () => {
          const stream = streamName();
          await append(stream, 'no_stream');
          await expectConflict(append(stream, 'no_stream'), stream, 'no_stream', 0n);
        });

        it('refuses stream_exists for a stream that does not', async () => {
          const stream = streamName();
          await expectConflict(append(stream, 'stream_exists'), stream, 'stream_exists', 'no_stream');
        });

        it('refuses a revision the stream has not reached', async () => {
          const stream = streamName();
          await expectConflict(append(stream, 0n), stream, 0n, 'no_stream');
          await append(stream, 'no_stream');
          await expectConflict(append(stream, 5n), stream, 5n, 0n);
        });

        it('refuses a revision the stream has moved past, for events it does not hold', async () => {
          const stream = streamName();
          await store.appendToStream(stream, newEvents(2), { expectedRevision: 'no_stream' });
          await expectConflict(append(stream, 0n), stream, 0n, 1n);
        });

        it('writes none of the events', async () => {
          const stream = streamName();
          await append(stream, 'no_stream');

          await expectConflict(
            store.appendToStream(stream, newEvents(3), { expectedRevision: 'no_stream' }),
            stream,
            'no_stream',
            0n,
          );

          expect(await collect(store.readStream(stream))).toHaveLength(1);
        });
      });

      it('writes the events of one append contiguously, even when appends run concurrently', async () => {
        const category = categoryName();
        const streams = [`${category}-a`, `${category}-b`, `${category}-c`];
        const marker = await append(streamName(), 'no_stream');

        await Promise.all(
          streams.map((stream) => store.appendToStream(stream, newEvents(5), { expectedRevision: 'no_stream' })),
        );

        const ours = (await collect(store.readAll({ fromPosition: marker.position }))).filter((e) =>
          e.streamId.startsWith(`${category}-`),
        );
        expect(ours).toHaveLength(15);
        for (let i = 0; i < ours.length; i += 5) {
          const block = ours.slice(i, i + 5);
          expect(new Set(block.map((e) => e.streamId)).size).toBe(1);
          expect(block.map((e) => e.revision)).toEqual([0n, 1n, 2n, 3n, 4n]);
        }
      });

      it('answers an append of no events with the current revision, and writes nothing', async () => {
        const stream = streamName();
        const written = await store.appendToStream(stream, newEvents(2), { expectedRevision: 'no_stream' });

        const empty = await store.appendToStream(stream, [], { expectedRevision: 1n });

        expect(empty).toMatchObject({ ok: true, streamId: stream, nextExpectedRevision: 1n });
        expect(await collect(store.readStream(stream))).toHaveLength(2);
        expect(await store.headPosition()).toBeDefined();
        expect(comparePositions((await store.headPosition())!, written.position)).toBeGreaterThanOrEqual(0);

        const missing = streamName();
        const nothing = await store.appendToStream(missing, [], { expectedRevision: 'no_stream' });
        expect(nothing.nextExpectedRevision).toBe(-1n);
        await expect(collect(store.readStream(missing))).rejects.toBeInstanceOf(StreamNotFoundError);
      });
    });

    describe('appending to several streams at once', () => {
      it('applies each request on its own: a conflict on one stream does not fail the others', async () => {
        const good = streamName();
        const bad = streamName();
        await append(bad, 'no_stream');
        const goodEvents = newEvents(2);

        const outcomes = await store.appendMany([
          { streamId: bad, expectedRevision: 'no_stream', events: newEvents(1) },
          { streamId: good, expectedRevision: 'no_stream', events: goodEvents },
        ]);

        expect(outcomes).toHaveLength(2);
        const [refused, accepted] = outcomes;
        expect(refused).toMatchObject({ ok: false, streamId: bad });
        if (refused!.ok) throw new Error('unreachable');
        expect(refused!.error).toBeInstanceOf(WrongExpectedRevisionError);
        expect(refused!.error).toMatchObject({ streamId: bad, expectedRevision: 'no_stream', actualRevision: 0n });
        expect(accepted).toMatchObject({ ok: true, streamId: good, nextExpectedRevision: 1n });

        expect(await collect(store.readStream(bad))).toHaveLength(1);
        expect((await collect(store.readStream(good))).map((e) => e.id)).toEqual(goodEvents.map((e) => e.id));
      });

      it('lets a later request on the same stream see the events of an earlier one', async () => {
        const stream = streamName();
        const [first, second, stale] = [newEvents(2), newEvents(1), newEvents(1)];

        const outcomes = await store.appendMany([
          { streamId: stream, expectedRevision: 'no_stream', events: first },
          { streamId: stream, expectedRevision: 1n, events: second },
          { streamId: stream, expectedRevision: 1n, events: stale },
        ]);

        expect(outcomes.map((o) => o.ok)).toEqual([true, true, false]);
        expect(outcomes[1]).toMatchObject({ nextExpectedRevision: 2n });
        expect(outcomes[2]).toMatchObject({ error: { expectedRevision: 1n, actualRevision: 2n } });
        expect((await collect(store.readStream(stream))).map((e) => e.id)).toEqual(
          [...first, ...second].map((e) => e.id),
        );
      });

      it('returns an outcome per request, in request order, with the position of each last event', async () => {
        const streams = [streamName(), streamName(), streamName()];

        const outcomes = await store.appendMany(
          streams.map((streamId) => ({ streamId, expectedRevision: 'any' as const, events: newEvents(2) })),
        );

        expect(outcomes.map((o) => o.streamId)).toEqual(streams);
        for (const [i, stream] of streams.entries()) {
          const [last] = await collect(store.readStream(stream, { direction: 'backwards', maxCount: 1 }));
          expect((outcomes[i] as AppendSuccess).position).toEqual(last!.position);
        }
      });
    });

    describe('an append naming the event it follows (expectedEventId)', () => {
      it('lands when the event at the expected revision is that one', async () => {
        const stream = streamName();
        const first = newEvents(2);
        await store.appendToStream(stream, first, { expectedRevision: 'no_stream' });
        const next = newEvents(2);

        const [outcome] = await store.appendMany([{ streamId: stream, expectedRevision: 1n, events: next, expectedEventId: first[1]!.id }]);

        expect(outcome).toMatchObject({ ok: true, nextExpectedRevision: 3n });
        expect((await collect(store.readStream(stream))).map((e) => e.id)).toEqual([...first, ...next].map((e) => e.id));
      });

      it('lands right behind the append it follows, sent before that one is answered', async () => {
        const stream = streamName();
        const [first, second, third] = [newEvents(2), newEvents(1), newEvents(3)];

        const outcomes = await Promise.all([
          store.appendMany([{ streamId: stream, expectedRevision: 'no_stream', events: first }]),
          store.appendMany([{ streamId: stream, expectedRevision: 1n, events: second, expectedEventId: first[1]!.id }]),
          store.appendMany([{ streamId: stream, expectedRevision: 2n, events: third, expectedEventId: second[0]!.id }]),
        ]);

        expect(outcomes.map(([outcome]) => outcome!.ok)).toEqual([true, true, true]);
        expect((await collect(store.readStream(stream))).map((e) => e.id)).toEqual([...first, ...second, ...third].map((e) => e.id));
      });

      it("is a conflict, writing nothing, when another writer's events hold those revisions", async () => {
        const stream = streamName();
        const mine = newEvents(2);
        // Another writer took revisions 0 and 1 first, with as many events as the append this one follows.
        const theirs = newEvents(2);
        await store.appendToStream(stream, theirs, { expectedRevision: 'no_stream' });

        const [outcome] = await store.appendMany([{ streamId: stream, expectedRevision: 1n, events: newEvents(1), expectedEventId: mine[1]!.id }]);

        expect(outcome).toMatchObject({ ok: false, streamId: stream, error: { expectedRevision: 1n, actualRevision: 1n } });
        expect((await collect(store.readStream(stream))).map((e) => e.id)).toEqual(theirs.map((e) => e.id));
      });

      it('is a conflict when the stream has not reached the expected revision, or does not exist', async () => {
        const stream = streamName();
        const first = newEvents(1);
        await store.appendToStream(stream, first, { expectedRevision: 'no_stream' });

        const outcomes = await store.appendMany([
          { streamId: stream, expectedRevision: 3n, events: newEvents(1), expectedEventId: first[0]!.id },
          { streamId: streamName(), expectedRevision: 0n, events: newEvents(1), expectedEventId: first[0]!.id },
        ]);

        expect(outcomes.map((o) => o.ok)).toEqual([false, false]);
        expect(await collect(store.readStream(stream))).toHaveLength(1);
      });

      it('is refused outright without an exact expected revision to check it at', async () => {
        await expect(store.appendMany([{ streamId: streamName(), expectedRevision: 'any', events: newEvents(1), expectedEventId: randomUUID() }])).rejects.toThrow(
          /exact expected revision/,
        );
      });

      it('returns the original result when retried after landing, for the same ids', async () => {
        const stream = streamName();
        const first = newEvents(1);
        await store.appendToStream(stream, first, { expectedRevision: 'no_stream' });
        const request = { streamId: stream, expectedRevision: 0n, events: newEvents(2), expectedEventId: first[0]!.id };
        const [original] = await store.appendMany([request]);

        const [retried] = await store.appendMany([request]);

        expect(retried).toEqual(original);
        expect(await collect(store.readStream(stream))).toHaveLength(3);
      });
    });

    describe('retrying an append whose answer was lost', () => {
      it('returns the original result for the same ids and expected revision, and writes nothing', async () => {
        const stream = streamName();
        const firstEvents = newEvents(2);
        const secondEvents = newEvents(1);
        const first = await store.appendToStream(stream, firstEvents, { expectedRevision: 'no_stream' });
        const second = await store.appendToStream(stream, secondEvents, { expectedRevision: 1n });

        await expect(store.appendToStream(stream, firstEvents, { expectedRevision: 'no_stream' })).resolves.toEqual(
          first,
        );
        await expect(store.appendToStream(stream, secondEvents, { expectedRevision: 1n })).resolves.toEqual(second);
        await expect(
          store.appendMany([{ streamId: stream, expectedRevision: 'no_stream', events: firstEvents }]),
        ).resolves.toEqual([first]);

        expect(await collect(store.readStream(stream))).toHaveLength(3);
      });

      it('returns the original result for an `any` append retried right away', async () => {
        const stream = streamName();
        const events = newEvents(2);
        const original = await store.appendToStream(stream, events, { expectedRevision: 'any' });

        await expect(store.appendToStream(stream, events, { expectedRevision: 'any' })).resolves.toEqual(original);

        expect(await collect(store.readStream(stream))).toHaveLength(2);
      });

      it('refuses a retry whose ids only partly match what was written', async () => {
        const stream = streamName();
        const [a, b] = newEvents(2);
        await store.appendToStream(stream, [a!, b!], { expectedRevision: 'no_stream' });
        const changed = [a!, newEvent()];

        await expectConflict(
          store.appendToStream(stream, changed, { expectedRevision: 'no_stream' }),
          stream,
          'no_stream',
          1n,
        );
        await expectConflict(store.appendToStream(stream, changed, { expectedRevision: 'any' }), stream, 'any', 1n);
        expect((await collect(store.readStream(stream))).map((e) => e.id)).toEqual([a!.id, b!.id]);
      });
    });

    describe('reading a stream', () => {
      let stream: string;
      let ids: string[];

      beforeEach(async () => {
        stream = streamName();
        const events = newEvents(5);
        ids = events.map((e) => e.id);
        await store.appendToStream(stream, events.slice(0, 2), { expectedRevision: 'no_stream' });
        await store.appendToStream(stream, events.slice(2), { expectedRevision: 1n });
      });

      const read = async (options?: Parameters<EventStore['readStream']>[1]) =>
        (await collect(store.readStream(stream, options))).map((e) => Number(e.revision));

      it('reads forwards from the start by default', async () => {
        expect(await read()).toEqual([0, 1, 2, 3, 4]);
        expect((await collect(store.readStream(stream))).map((e) => e.id)).toEqual(ids);
      });

      it('reads backwards from the end', async () => {
        expect(await read({ direction: 'backwards' })).toEqual([4, 3, 2, 1, 0]);
        expect(await read({ direction: 'backwards', fromRevision: 'end', maxCount: 1 })).toEqual([4]);
      });

      it('reads from a revision inclusively, in either direction', async () => {
        expect(await read({ fromRevision: 2n })).toEqual([2, 3, 4]);
        expect(await read({ fromRevision: 2n, direction: 'backwards' })).toEqual([2, 1, 0]);
        expect(await read({ fromRevision: 'start', direction: 'backwards' })).toEqual([0]);
      });

      it('stops after maxCount events', async () => {
        expect(await read({ maxCount: 2 })).toEqual([0, 1]);
        expect(await read({ fromRevision: 3n, direction: 'backwards', maxCount: 2 })).toEqual([3, 2]);
        expect(await read({ fromRevision: 3n, maxCount: 10 })).toEqual([3, 4]);
      });

      it('reads nothing past the end of a stream that exists', async () => {
        expect(await read({ fromRevision: 5n })).toEqual([]);
      });

      it('fails with StreamNotFoundError for a stream with no events', async () => {
        const missing = streamName();
        const error: unknown = await collect(store.readStream(missing)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(StreamNotFoundError);
        expect(error).toMatchObject({ streamId: missing });
        await expect(collect(store.readStream(missing, { direction: 'backwards' }))).rejects.toBeInstanceOf(
          StreamNotFoundError,
        );
      });

      it('reads a stream longer than any page, whole and in order', async () => {
        const long = streamName();
        for (let revision = -1n; revision < 2499n; revision += 500n) {
          await store.appendToStream(long, newEvents(500), {
            expectedRevision: revision < 0n ? 'no_stream' : revision,
          });
        }

        const forwards = await collect(store.readStream(long));
        const backwards = await collect(store.readStream(long, { direction: 'backwards' }));
        const some = await collect(store.readStream(long, { fromRevision: 100n, maxCount: 1500 }));

        expect(forwards.map((e) => e.revision)).toEqual(revisions(0, 2500));
        expect(backwards.map((e) => e.revision)).toEqual(revisions(0, 2500).reverse());
        expect(some.map((e) => e.revision)).toEqual(revisions(100, 1600));
      });

      it('lets the rest of the process run during a read of many pages, of a stream or of $all', async () => {
        // An audit's fold over the whole ledger must not hold up every charge until it is done.
        const long = streamName();
        for (let revision = -1n; revision < 2999n; revision += 1000n) {
          await store.appendToStream(long, newEvents(1000), { expectedRevision: revision < 0n ? 'no_stream' : revision });
        }
        for (const read of [() => store.readStream(long), () => store.readAll()]) {
          let n = 0;
          let readWhenOthersRan: number | undefined;
          setImmediate(() => (readWhenOthersRan = n));
          for await (const _ of read()) n += 1;
          expect(n).toBeGreaterThanOrEqual(3000);
          expect(readWhenOthersRan).toBeLessThan(n);
        }
      });
    });

    describe('reading $all', () => {
      it('reads forwards from a position inclusively and backwards from it exclusively', async () => {
        const stream = streamName();
        await store.appendToStream(stream, newEvents(3), { expectedRevision: 'no_stream' });
        const [e0, e1, e2] = await collect(store.readStream(stream));

        const forwards = await collect(store.readAll({ fromPosition: e1!.position, maxCount: 2 }));
        const backwards = await collect(
          store.readAll({ fromPosition: e2!.position, direction: 'backwards', maxCount: 2 }),
        );

        expect(forwards.map((e) => e.id)).toEqual([e1!.id, e2!.id]);
        expect(backwards.map((e) => e.id)).toEqual([e1!.id, e0!.id]);
      });

      it('orders events by strictly increasing positions, consistent with each stream', async () => {
        const category = categoryName();
        const [a, b] = [`${category}-a`, `${category}-b`];
        const marker = await append(streamName(), 'no_stream');
        const appended: AppendSuccess[] = [];
        appended.push(await store.appendToStream(a, newEvents(2), { expectedRevision: 'no_stream' }));
        appended.push(await store.appendToStream(b, newEvents(1), { expectedRevision: 'no_stream' }));
        appended.push(await store.appendToStream(a, newEvents(2), { expectedRevision: 1n }));

        const all = await collect(store.readAll({ fromPosition: marker.position }));
        const ours = all.filter((e) => e.streamId.startsWith(`${category}-`));

        expect(all[0]!.position).toEqual(marker.position);
        expectStrictlyIncreasing(all.map((e) => e.position));
        expect(ours.map((e) => [e.streamId, e.revision])).toEqual([
          [a, 0n],
          [a, 1n],
          [b, 0n],
          [a, 2n],
          [a, 3n],
        ]);
        expect(appended.map((r) => r.position)).toEqual([ours[1]!.position, ours[2]!.position, ours[4]!.position]);
        for (const event of ours) {
          const [inStream] = await collect(store.readStream(event.streamId, { fromRevision: event.revision }));
          expect(inStream!.position).toEqual(event.position);
        }
      });

      it('reads backwards from the end, starting with the last event', async () => {
        const stream = streamName();
        const result = await store.appendToStream(stream, newEvents(3), { expectedRevision: 'no_stream' });

        const latest = await collect(store.readAll({ direction: 'backwards', maxCount: 100 }));
        const ours = latest.filter((e) => e.streamId === stream);

        expect(ours.map((e) => e.revision)).toEqual([2n, 1n, 0n]);
        expect(ours[0]!.position).toEqual(result.position);
        expectStrictlyIncreasing(latest.map((e) => e.position).reverse());
        expect(comparePositions((await store.headPosition())!, result.position)).toBeGreaterThanOrEqual(0);
      });
    });

    describe('recorded events', () => {
      it('keep their data, metadata, type and id exactly', async () => {
        const stream = streamName();
        const data = {
          credits: 1500,
          negative: -3,
          fraction: 0.25,
          nothing: null,
          yes: true,
          empty: '',
          text: 'Zoë paid 12 € — 支払い済み 👍🏽 e\u0301',
          nested: {
            lots: [
              { purchaseId: 'p-1', credits: 2 },
              { purchaseId: 'p-2', credits: 1 },
            ],
            deep: { a: [[1], []] },
          },
        };
        const metadata: EventMetadata = {
          correlationId: randomUUID(),
          actor: { service: 'billing', userId: 'ünïcödé' },
          occurredAt: '2026-01-31T23:59:59.999Z',
          schemaVersion: 2,
        };
        const withMetadata = newEvent('CreditsPurchased', data, metadata);
        const withoutMetadata = newEvent('CreditsCharged', [1, 'two', { three: 3 }]);
        const before = Date.now();

        await store.appendToStream(stream, [withMetadata, withoutMetadata], { expectedRevision: 'no_stream' });

        const [first, second] = await collect(store.readStream(stream));
        expect(first).toMatchObject({ id: withMetadata.id, type: 'CreditsPurchased', data, metadata });
        expect(second).toMatchObject({
          id: withoutMetadata.id,
          type: 'CreditsCharged',
          data: [1, 'two', { three: 3 }],
        });
        expect(second!.metadata).toBeUndefined();
        expect(first!.created).toBeInstanceOf(Date);
        expect(Math.abs(first!.created.getTime() - before)).toBeLessThan(60_000);
      });
    });

    describe('subscribing to $all', () => {
      it('starts after the given position', async () => {
        const category = categoryName();
        await store.appendToStream(`${category}-a`, newEvents(3), { expectedRevision: 'no_stream' });
        const [e0, e1, e2] = await collect(store.readStream(`${category}-a`));
        const subscription = track(
          store.subscribeToAll({ fromPosition: e0!.position, filter: { streamPrefixes: [`${category}-`] } }),
        );

        expect((await take(subscription, 2)).map((e) => e.id)).toEqual([e1!.id, e2!.id]);
      });

      it('delivers history, then reports being caught up, then follows live appends in order', async () => {
        const category = categoryName();
        const marker = await append(streamName(), 'no_stream');
        const history = [
          ...(await appendAndRead(`${category}-a`, 2, 'no_stream')),
          ...(await appendAndRead(`${category}-b`, 1, 'no_stream')),
        ];
        const subscription = track(
          store.subscribeToAll({ fromPosition: marker.position, filter: { streamPrefixes: [`${category}-`] } }),
        );

        const caughtUp = await take(subscription, 3);
        await expectWithin(subscription.caughtUp);
        const [live] = await Promise.all([
          take(subscription, 3),
          (async () => {
            await store.appendToStream(`${category}-b`, newEvents(1), { expectedRevision: 0n });
            await store.appendToStream(`${category}-a`, newEvents(2), { expectedRevision: 1n });
          })(),
        ]);

        expect(caughtUp.map((e) => e.id)).toEqual(history.map((e) => e.id));
        expect(live.map((e) => [e.streamId, e.revision])).toEqual([
          [`${category}-b`, 1n],
          [`${category}-a`, 2n],
          [`${category}-a`, 3n],
        ]);
        expectStrictlyIncreasing([...caughtUp, ...live].map((e) => e.position));
      });

      it('from the end, delivers only what is appended afterwards', async () => {
        const category = categoryName();
        await append(`${category}-a`, 'no_stream');
        const subscription = track(
          store.subscribeToAll({ fromPosition: 'end', filter: { streamPrefixes: [`${category}-`] } }),
        );
        await expectWithin(subscription.caughtUp);

        const live = await appendAndRead(`${category}-a`, 1, 0n);

        expect((await take(subscription, 1)).map((e) => e.id)).toEqual([live[0]!.id]);
      });

      it('delivers only the streams matching one of the prefixes', async () => {
        const [wanted, alsoWanted, other] = [categoryName(), categoryName(), categoryName()];
        const marker = await append(streamName(), 'no_stream');
        const subscription = track(
          store.subscribeToAll({
            fromPosition: marker.position,
            filter: { streamPrefixes: [`${wanted}-`, `${alsoWanted}-`] },
          }),
        );

        await append(`${other}-1`, 'no_stream');
        await append(`${wanted}-1`, 'no_stream');
        await append(`${other}-2`, 'no_stream');
        await append(`${alsoWanted}-1`, 'no_stream');
        await append(`${wanted}x-1`, 'no_stream');
        await append(`${wanted}-2`, 'no_stream');

        expect((await take(subscription, 3)).map((e) => e.streamId)).toEqual([
          `${wanted}-1`,
          `${alsoWanted}-1`,
          `${wanted}-2`,
        ]);
      });

      it('ends iteration promptly when closed, even while waiting for an event', async () => {
        const category = categoryName();
        const subscription = store.subscribeToAll({
          fromPosition: 'end',
          filter: { streamPrefixes: [`${category}-`] },
        });
        const iterator = subscription[Symbol.asyncIterator]();
        await expectWithin(subscription.caughtUp);
        const pending = iterator.next();

        await expectWithin(subscription.close());

        await expect(expectWithin(pending)).resolves.toEqual({ value: undefined, done: true });
        await expect(expectWithin(iterator.next())).resolves.toMatchObject({ done: true });
      });

      it('ends a for-await loop when closed', async () => {
        const category = categoryName();
        await append(`${category}-a`, 'no_stream');
        const subscription = store.subscribeToAll({ filter: { streamPrefixes: [`${category}-`] } });
        const seen: RecordedEvent[] = [];

        const loop = (async () => {
          for await (const event of subscription) {
            seen.push(event);
            await subscription.close();
          }
        })();

        await expectWithin(loop);
        expect(seen).toHaveLength(1);
      });
    });

    describe('concurrent writers', () => {
      it('let exactly one of several appends with the same expected revision succeed', async () => {
        const stream = streamName();
        await append(stream, 'no_stream');
        const attempts = times(10, () => store.appendToStream(stream, newEvents(2), { expectedRevision: 0n }));

        const results = await Promise.allSettled(attempts);

        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        expect(won).toHaveLength(1);
        expect(lost).toHaveLength(9);
        for (const { reason } of lost) {
          expect(reason).toBeInstanceOf(WrongExpectedRevisionError);
          expect(reason).toMatchObject({ streamId: stream, expectedRevision: 0n, actualRevision: 2n });
        }
        expect(await collect(store.readStream(stream))).toHaveLength(3);
      });

      it('let exactly one of several creations of the same stream succeed', async () => {
        const stream = streamName();

        const results = await Promise.allSettled(times(5, () => append(stream, 'no_stream')));

        expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
        expect(await collect(store.readStream(stream))).toHaveLength(1);
      });
    });

    describe('closing', () => {
      it('is prompt after reads left before their end, and after appends that had to read', async () => {
        const stream = streamName();
        const events = newEvents(10);
        await store.appendToStream(stream, events, { expectedRevision: 'no_stream' });
        for await (const event of store.readStream(stream)) if (event.revision === 0n) break;
        // Many at once, as appends that check a stream do under load.
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            for await (const event of store.readStream(stream, { direction: 'backwards', maxCount: 1 })) if (event) break;
          }),
        );
        // An append of no events checks its expected revision against the stream; one naming an event
        // another writer does not have reads the stream to say where it is.
        await store.appendMany([{ streamId: stream, expectedRevision: 9n, events: [] }]);
        await store.appendMany([{ streamId: stream, expectedRevision: 9n, events: newEvents(1), expectedEventId: randomUUID() }]);

        const started = Date.now();
        await Promise.race([store.close(), new Promise((_, fail) => setTimeout(() => fail(new Error('close did not finish in 5 s')), 5_000))]);
        expect(Date.now() - started).toBeLessThan(5_000);
      });
    });

    describe('reopening', () => {
      it('keeps every event, its position and the stream revisions', async () => {
        if (fixture.reopen === undefined) return;
        const stream = streamName();
        await store.appendToStream(stream, newEvents(3), { expectedRevision: 'no_stream' });
        const before = await collect(store.readStream(stream));
        const head = await store.headPosition();

        store = await fixture.reopen();

        expect(await collect(store.readStream(stream))).toEqual(before);
        expect(await store.headPosition()).toEqual(head);
        await expectConflict(append(stream, 1n), stream, 1n, 2n);
        await expect(append(stream, 2n)).resolves.toMatchObject({ nextExpectedRevision: 3n });
      });
    });

    function track(subscription: Subscription): Subscription {
      subscriptions.push(subscription);
      return subscription;
    }

    function append(stream: string, expectedRevision: ExpectedRevision): Promise<AppendSuccess> {
      return store.appendToStream(stream, [newEvent()], { expectedRevision });
    }

    async function appendAndRead(
      stream: string,
      count: number,
      expectedRevision: ExpectedRevision,
    ): Promise<RecordedEvent[]> {
      const result = await store.appendToStream(stream, newEvents(count), { expectedRevision });
      return collect(
        store.readStream(stream, { fromRevision: result.nextExpectedRevision - BigInt(count - 1), maxCount: count }),
      );
    }

    async function expectConflict(
      attempt: Promise<unknown>,
      streamId: string,
      expectedRevision: ExpectedRevision,
      actualRevision: bigint | 'no_stream',
    ): Promise<void> {
      const error = await attempt.then(
        (result) => new Error(`Expected a conflict, got ${String(result)}`),
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(WrongExpectedRevisionError);
      expect(error).toMatchObject({ code: 'WRONG_EXPECTED_REVISION', streamId, expectedRevision, actualRevision });
    }
  });
}

const WAIT_MS = 5_000;

/** Takes the next `count` events without ending the subscription (a `for await` + `break` would close it). */
async function take(subscription: Subscription, count: number): Promise<RecordedEvent[]> {
  const iterator = iterators.get(subscription) ?? subscription[Symbol.asyncIterator]();
  iterators.set(subscription, iterator);
  const events: RecordedEvent[] = [];
  while (events.length < count) {
    const next = await expectWithin(iterator.next(), `event ${events.length + 1} of ${count}`);
    if (next.done) throw new Error(`Subscription ended after ${events.length} of ${count} events`);
    events.push(next.value);
  }
  return events;
}
const iterators = new WeakMap<Subscription, AsyncIterator<RecordedEvent>>();

async function expectWithin<T>(promise: Promise<T>, what = 'the promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Timed out after ${WAIT_MS} ms waiting for ${what}`)), WAIT_MS);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function expectStrictlyIncreasing(positions: readonly Position[]): void {
  for (let i = 1; i < positions.length; i++) {
    expect(comparePositions(positions[i - 1]!, positions[i]!)).toBe(-1);
  }
}

/** A category of its own: EventStoreDB categories end at the first dash, so none here. */
function categoryName(): string {
  return `contract${randomUUID().replaceAll('-', '').slice(0, 16)}`;
}

function streamName(): string {
  return `${categoryName()}-${randomUUID()}`;
}

function newEvent(type = 'ContractTested', data: unknown = { at: Date.now() }, metadata?: EventMetadata): NewEvent {
  return { id: randomUUID(), type, data, ...(metadata === undefined ? {} : { metadata }) };
}

function newEvents(count: number): NewEvent[] {
  return Array.from({ length: count }, (_, i) => newEvent('ContractTested', { i }));
}

function revisions(from: number, to: number): bigint[] {
  return Array.from({ length: to - from }, (_, i) => BigInt(from + i));
}

function times<T>(count: number, make: () => T): T[] {
  return Array.from({ length: count }, make);
}
