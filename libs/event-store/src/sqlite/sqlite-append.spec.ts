import BetterSqlite3 from 'better-sqlite3';
import { StreamNumbers } from './sqlite-append.js';
import { migrate } from './sqlite-schema.js';

describe('StreamNumbers', () => {
  let db: BetterSqlite3.Database;

  beforeEach(() => {
    db = new BetterSqlite3(':memory:');
    db.defaultSafeIntegers(true);
    migrate(db);
  });

  afterEach(() => db.close());

  it('numbers streams in the order they are created, and finds them again', () => {
    const numbers = new StreamNumbers(db);
    expect(numbers.of('a')).toBeUndefined();
    expect(numbers.create('a')).toBe(1n);
    expect(numbers.create('b')).toBe(2n);
    expect(numbers.of('a')).toBe(1n);
    // Another appender on the same file finds them in the table.
    expect(new StreamNumbers(db).of('b')).toBe(2n);
  });

  it('remembers at most as many numbers as it is told, and looks up the ones it forgot', () => {
    const numbers = new StreamNumbers(db, 3);
    for (const stream of ['a', 'b', 'c', 'd', 'e']) numbers.create(stream);
    expect(numbers.size).toBe(3);
    expect(['a', 'b', 'c', 'd', 'e'].map((stream) => numbers.of(stream))).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(numbers.size).toBe(3);
  });

  it('forgets the numbers given in a transaction that failed, and only those', () => {
    const numbers = new StreamNumbers(db);
    numbers.within(() => db.transaction(() => numbers.create('kept'))());
    expect(() =>
      numbers.within(() =>
        db.transaction(() => {
          numbers.create('rolled-back');
          throw new Error('the transaction fails');
        })(),
      ),
    ).toThrow('the transaction fails');
    expect(numbers.of('rolled-back')).toBeUndefined();
    expect(numbers.of('kept')).toBe(1n);
    // The number the rolled-back stream had goes to the next stream created.
    expect(numbers.create('next')).toBe(2n);
  });
});
