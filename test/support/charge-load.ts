import type { httpClient } from './http.js';

type Client = ReturnType<typeof httpClient>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export interface ChargeLoadOutcome {
  /** Request ids the ledger answered 200 to. */
  readonly acked: Set<string>;
  /** Request ids it refused (503) and that the client still owes a retry. */
  readonly pending: Set<string>;
  readonly unavailable: readonly { readonly retryAfter: string | null; readonly code: string }[];
}

/**
 * Eight clients charge one job record each against `account` while `fault` runs; anything but 200 or
 * 503 fails the test. Resolves once the fault is over and every client has stopped.
 */
export async function chargeWhile(client: Client, account: string, fault: () => Promise<void>): Promise<ChargeLoadOutcome> {
  const acked = new Set<string>();
  const pending = new Set<string>();
  const unavailable: { retryAfter: string | null; code: string }[] = [];
  let next = 0;
  let running = true;
  const clients = Array.from({ length: 8 }, async () => {
    while (running) {
      const requestId = `r-${next++}`;
      const response = await client.post(`${account}/record-charges`, { requestId, endpoint: 'job_search', records: 1 });
      if (response.status === 200) acked.add(requestId);
      else if (response.status === 503) {
        pending.add(requestId);
        unavailable.push({ retryAfter: response.headers.get('retry-after'), code: response.body.code });
      } else {
        running = false;
        throw new Error(`unexpected ${response.status}: ${response.text}`);
      }
    }
  });
  try {
    await fault();
  } finally {
    running = false;
  }
  await Promise.all(clients);
  return { acked, pending, unavailable };
}

/** Retries each refused charge with its own key (as a caller must) until the ledger takes it. */
export async function retryUntilAcked(client: Client, account: string, outcome: ChargeLoadOutcome): Promise<void> {
  for (const requestId of outcome.pending) {
    let response = await client.post(`${account}/record-charges`, { requestId, endpoint: 'job_search', records: 1 });
    for (let attempt = 0; response.status === 503 && attempt < 100; attempt++) {
      await sleep(100);
      response = await client.post(`${account}/record-charges`, { requestId, endpoint: 'job_search', records: 1 });
    }
    if (response.status !== 200) throw new Error(`retry of ${requestId} got ${response.status}: ${response.text}`);
    outcome.acked.add(requestId);
  }
}

/** How many `RecordsReturned` events each request id has in the account's stream. */
export async function chargesByRequestId(client: Client, account: string): Promise<Map<string, number>> {
  const charged = new Map<string, number>();
  for (let from: string | null = '0'; from !== null; ) {
    const page: { status: number; text: string; body: { events: unknown[]; next: string | null } } = await client.get(`${account}/events?from=${from}&limit=1000`);
    if (page.status !== 200) throw new Error(`reading ${account}/events got ${page.status}: ${page.text}`);
    for (const e of page.body.events as { type: string; data: { requestId: string } }[]) {
      if (e.type === 'RecordsReturned') charged.set(e.data.requestId, (charged.get(e.data.requestId) ?? 0) + 1);
    }
    from = page.body.next;
  }
  return charged;
}
