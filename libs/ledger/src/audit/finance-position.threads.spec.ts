import { foldFinancePositionInThreads } from './finance-position.threads.js';

/**
 * A stand-in for a shard's thread: it says on a broadcast channel when it starts and ends (50 ms later),
 * then answers with no lots, or fails when its report's instant is negative.
 */
const SHARD_SCRIPT = new URL(
  `data:text/javascript,${encodeURIComponent(`
    import { parentPort, workerData } from 'node:worker_threads';
    const channel = new BroadcastChannel('finance-fold-spec');
    channel.postMessage(['start', workerData.asOf]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    channel.postMessage(['end', workerData.asOf]);
    channel.close();
    parentPort.postMessage(workerData.asOf < 0 ? { kind: 'failed', inconsistent: false, message: 'shard failed' } : { kind: 'done', lots: [] });
  `)}`,
);

describe('folds in threads', () => {
  const fold = (asOf: number) => foldFinancePositionInThreads(SHARD_SCRIPT, { eventsFile: 'unused', asOf, upTo: 0n, threads: 2 });

  async function heard(run: () => Promise<unknown>): Promise<string[]> {
    const channel = new BroadcastChannel('finance-fold-spec');
    const messages: string[] = [];
    channel.onmessage = (event) => messages.push(((event as MessageEvent).data as [string, number]).join(' '));
    try {
      await run();
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      channel.close();
    }
    return messages;
  }

  it('run one at a time in a process: the second starts its threads once the first has ended', async () => {
    const messages = await heard(() => Promise.all([fold(1), fold(2)]));
    expect(messages).toHaveLength(8);
    expect(messages.slice(0, 4).sort()).toEqual(['end 1', 'end 1', 'start 1', 'start 1']);
    expect(messages.slice(4).sort()).toEqual(['end 2', 'end 2', 'start 2', 'start 2']);
  });

  it('go on after one failed', async () => {
    const messages = await heard(async () => {
      const [failed, next] = await Promise.allSettled([fold(-1), fold(3)]);
      expect(failed).toMatchObject({ status: 'rejected', reason: new Error('shard failed') });
      expect(next).toMatchObject({ status: 'fulfilled' });
    });
    expect(messages.filter((m) => m.endsWith(' 3'))).toHaveLength(4);
  });
});
