import { newEventId } from './event-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('newEventId', () => {
  // More than the 4,096 ids one fill of random bytes gives: the refill is crossed several times.
  const ids = Array.from({ length: 20_000 }, () => newEventId());

  it('makes lowercase version 4 UUIDs with the RFC variant', () => {
    for (const id of ids) expect(id).toMatch(UUID_V4);
  });

  it('never repeats one', () => {
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('gives each id a string of its own, not a view of a buffer it writes again', () => {
    const first = newEventId();
    const copy = `${first}`;
    for (let i = 0; i < 10; i++) newEventId();
    expect(first).toBe(copy);
  });

  it('spreads its digits evenly: each of the 30 random hex positions takes every value', () => {
    // 20,000 ids: a digit that never varies, or a byte written at the wrong place, shows at once.
    const random = [...Array(36).keys()].filter((i) => ![8, 13, 14, 18, 19, 23].includes(i));
    for (const position of random) {
      const seen = new Set(ids.map((id) => id[position]));
      expect(seen.size).toBe(16);
    }
    // The variant's digit carries two random bits.
    expect(new Set(ids.map((id) => id[19]))).toEqual(new Set(['8', '9', 'a', 'b']));
  });
});
