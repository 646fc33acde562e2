import type { SqliteEventStore } from '#event-store';

/**
 * `store` with some of its members replaced: a read made to fail, or `undefined` for a store that does not
 * offer an optional one. Everything else is the store's own, called on it.
 */
export function storeWith(store: SqliteEventStore, replaced: Partial<Record<keyof SqliteEventStore, unknown>>): SqliteEventStore {
  return new Proxy(store, {
    get: (target, property) => {
      if (Object.hasOwn(replaced, property)) return replaced[property as keyof SqliteEventStore];
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
