import { countEventLoopTurns } from '../../../../libs/ledger/src/testing/event-loop-turns.js';
import { jsonChunks, streamedJson } from './streamed-json.js';

async function textOf(stream: AsyncIterable<unknown>): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return text;
}

const movement = (i: number) => ({ occurredAt: `2026-03-0${(i % 9) + 1}T00:00:00.000Z`, type: 'charge', credits: -i, note: i % 3 ? undefined : 'a "quoted", \u2028 line' });

describe('a JSON body written a slice at a time', () => {
  it.each([0, 1, 4, 5, 6, 11])('is the text JSON.stringify gives (%i elements, slices of 5)', async (length) => {
    const statement = {
      accountId: 'acct-1',
      skipped: undefined,
      opening: { api: 10, company: 0 },
      movements: Array.from({ length }, (_, i) => (i === 2 ? undefined : movement(i))),
      closing: { api: 3, company: 0 },
      alsoSkipped: () => 1,
    };
    const text = await textOf(streamedJson(statement, 'movements', 5));
    expect(text).toBe(JSON.stringify(statement));
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(statement)));
  });

  it('puts the array where it is among the other members, first or last', async () => {
    for (const value of [{ lots: [1, 2, 3], asOf: 'now' }, { asOf: 'now', totals: { n: 1 }, lots: [1, 2, 3] }]) {
      expect(await textOf(jsonChunks(value, 'lots', 2))).toBe(JSON.stringify(value));
    }
  });

  it('writes a slice, then lets the thread answer others, then the next', async () => {
    const value = { movements: Array.from({ length: 50 }, (_, i) => movement(i)) };
    const turns = countEventLoopTurns();
    const chunks: string[] = [];
    for await (const chunk of jsonChunks(value, 'movements', 10)) chunks.push(chunk);
    expect(chunks).toHaveLength(6);
    expect(chunks.slice(0, 5).map((chunk) => (chunk.match(/"type"/g) ?? []).length)).toEqual([10, 10, 10, 10, 10]);
    expect(turns.stop()).toBeGreaterThanOrEqual(5);
  });

  it('refuses a member that is not an array and a slice of no elements', async () => {
    await expect(textOf(jsonChunks({ movements: 'no' }, 'movements'))).rejects.toThrow(TypeError);
    await expect(textOf(jsonChunks({ movements: [] }, 'movements', 0))).rejects.toThrow(RangeError);
  });
});
