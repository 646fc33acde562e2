import { prototypeKeysIn } from './validation.pipe.js';

describe('the keys the validation pipe refuses before anything else', () => {
  it('finds constructor and prototype keys at any depth, with their paths', () => {
    const body = JSON.parse(
      '{"constructor":"x","charges":[{"requestId":"a"},{"requestId":"b","constructor":{"prototype":{}}}],"nested":{"deep":{"prototype":1}}}',
    ) as unknown;
    expect(prototypeKeysIn(body)).toEqual(['charges.1.constructor', 'charges.1.constructor.prototype', 'constructor', 'nested.deep.prototype']);
  });

  it('finds none in an ordinary body, in a value that is not an object, or in keys that only contain the words', () => {
    expect(prototypeKeysIn(JSON.parse('{"requestId":"r","endpoint":"job_search","records":1,"constructorName":"x","myprototype":2}'))).toEqual([]);
    expect(prototypeKeysIn('constructor')).toEqual([]);
    expect(prototypeKeysIn(null)).toEqual([]);
    expect(prototypeKeysIn(Object.assign(Object.create(null) as object, { limit: '5' }))).toEqual([]);
  });

  it('visits an object met twice once, and a cycle does not hold it', () => {
    const shared: Record<string, unknown> = { prototype: 1 };
    const cyclic: Record<string, unknown> = { a: shared, b: shared };
    cyclic.self = cyclic;
    expect(prototypeKeysIn(cyclic)).toHaveLength(1);
  });

  it('goes as deep as a body does, without recursion', () => {
    const depth = 20_000;
    const body = JSON.parse(`${'{"a":'.repeat(depth)}{"constructor":1}${'}'.repeat(depth)}`) as unknown;
    const [path] = prototypeKeysIn(body);
    expect(path).toBe(`${'a.'.repeat(depth)}constructor`);
  });
});
