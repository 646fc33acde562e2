import { Counter, Histogram, Registry } from 'prom-client';
import { TallyCounter, TallyHistogram } from './tallies.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

// Values chosen to collide if label values were simply joined (separators, lengths, empty strings), and
// a number that prom-client takes for the same label value as its string.
const VALUES: readonly (string | number)[] = ['a', '', '1:a', 'a1:', '0:', '-', 'a\u0000b', 'b', 'POST', '/v1/x', '200', 200, 'a"b\\c'];

function labelSet(next: () => number): Record<string, string | number | undefined> {
  const pick = () => (next() < 0.15 ? undefined : VALUES[Math.floor(next() * VALUES.length)]);
  return { method: pick(), route: pick(), status: pick() };
}

/** The labels prom-client is given: a label not given is left out, not passed as undefined. */
function given(labels: Record<string, string | number | undefined>): Record<string, string | number> {
  return Object.fromEntries(Object.entries(labels).filter((entry): entry is [string, string | number] => entry[1] !== undefined));
}

describe('tallied metrics', () => {
  describe('a counter', () => {
    it('exposes exactly what prom-client exposes for the same increments, between and after scrapes', async () => {
      const theirs = new Registry();
      const ours = new Registry();
      const reference = new Counter({ name: 'x_total', help: 'x', labelNames: ['method', 'route', 'status'], registers: [theirs] });
      const tally = new TallyCounter({ registry: ours, name: 'x_total', help: 'x', labelNames: ['method', 'route', 'status'] });
      const next = random(7);
      for (let i = 0; i < 5_000; i++) {
        const labels = labelSet(next);
        const value = next() < 0.1 ? 0 : Math.floor(next() * 5) + 1;
        reference.inc(given(labels), value);
        tally.inc(labels, value);
        if (i % 997 === 0) expect(await ours.metrics()).toBe(await theirs.metrics());
      }
      const exposed = await ours.metrics();
      expect(exposed).toBe(await theirs.metrics());
      // Many series, or the comparison proves little.
      expect(exposed.split('\n').length).toBeGreaterThan(500);
      // Reading again adds nothing twice.
      expect(await ours.metrics()).toBe(exposed);
    });

    it('shows a label-less counter at 0 before anything happens, and its increments after', async () => {
      const registry = new Registry();
      const tally = new TallyCounter({ registry, name: 'refused_total', help: 'refusals' });
      expect(await registry.metrics()).toContain('refused_total 0');
      tally.inc();
      tally.inc(undefined, 2);
      expect(await registry.metrics()).toContain('refused_total 3');
    });

    it('refuses to go down or by an amount that is not a number', () => {
      const tally = new TallyCounter({ registry: new Registry(), name: 'y_total', help: 'y', labelNames: ['a'] });
      expect(() => tally.inc({ a: 'x' }, -1)).toThrow(RangeError);
      expect(() => tally.inc({ a: 'x' }, Number.NaN)).toThrow(RangeError);
      expect(() => tally.inc({ a: 'x' }, Number.POSITIVE_INFINITY)).toThrow(RangeError);
    });
  });

  describe('a histogram', () => {
    it('exposes exactly what prom-client exposes for the same observations, on the edges of buckets too', async () => {
      const theirs = new Registry();
      const ours = new Registry();
      const reference = new Histogram({ name: 'h_seconds', help: 'h', labelNames: ['method', 'route', 'status'], buckets: BUCKETS, registers: [theirs] });
      const tally = new TallyHistogram({ registry: ours, name: 'h_seconds', help: 'h', labelNames: ['method', 'route', 'status'], buckets: BUCKETS });
      const next = random(11);
      const edges = [0, ...BUCKETS, 2, 1e-9, 0.0010000001];
      for (let i = 0; i < 5_000; i++) {
        const labels = labelSet(next);
        const seconds = next() < 0.3 ? edges[Math.floor(next() * edges.length)]! : next() * 1.5;
        reference.observe(given(labels), seconds);
        tally.observe(labels, seconds);
      }
      const exposed = await ours.metrics();
      expect(exposed).toBe(await theirs.metrics());
      expect(exposed.split('\n').length).toBeGreaterThan(1_000);
      const withoutExemplars = (metric: { readonly values: readonly { labels: unknown; value: number; metricName?: string }[] }) =>
        metric.values.map(({ labels, value, metricName }) => ({ labels, value, metricName }));
      expect(withoutExemplars(await tally.get())).toEqual(withoutExemplars(await reference.get()));
    });

    it('merges the labels a timer starts and stops with, and observes the time between', async () => {
      const registry = new Registry();
      const tally = new TallyHistogram({ registry, name: 'c_seconds', help: 'c', labelNames: ['command', 'outcome'], buckets: BUCKETS });
      const done = tally.startTimer({ command: 'ChargeRecords' });
      await new Promise((resolve) => setTimeout(resolve, 20));
      const seconds = done({ outcome: 'recorded' });
      expect(seconds).toBeGreaterThanOrEqual(0.015);
      const exposed = await registry.metrics();
      expect(exposed).toContain('c_seconds_count{command="ChargeRecords",outcome="recorded"} 1');
      expect(exposed).toContain(`c_seconds_sum{command="ChargeRecords",outcome="recorded"} ${seconds}`);
      expect(exposed).toContain('c_seconds_bucket{le="0.01",command="ChargeRecords",outcome="recorded"} 0');
      expect(exposed).toContain('c_seconds_bucket{le="0.1",command="ChargeRecords",outcome="recorded"} 1');
    });

    it('lets the labels a timer stops with win over those it started with, as prom-client does', async () => {
      const registry = new Registry();
      const tally = new TallyHistogram({ registry, name: 'o_seconds', help: 'o', labelNames: ['command', 'outcome'], buckets: BUCKETS });
      tally.startTimer({ command: 'A', outcome: 'failed' })({ outcome: 'recorded' });
      tally.startTimer({ command: 'A', outcome: 'failed' })();
      const exposed = await registry.metrics();
      expect(exposed).toContain('o_seconds_count{command="A",outcome="recorded"} 1');
      expect(exposed).toContain('o_seconds_count{command="A",outcome="failed"} 1');
    });

    it('starts again empty when the registry is reset', async () => {
      const registry = new Registry();
      const tally = new TallyHistogram({ registry, name: 'r_seconds', help: 'r', labelNames: ['outcome'], buckets: BUCKETS });
      tally.observe({ outcome: 'ok' }, 0.5);
      registry.resetMetrics();
      expect(await registry.metrics()).not.toContain('r_seconds_count');
    });

    it('refuses an observation that is not a finite number, and buckets that do not increase', () => {
      const tally = new TallyHistogram({ registry: new Registry(), name: 'n_seconds', help: 'n', labelNames: ['outcome'], buckets: BUCKETS });
      expect(() => tally.observe({ outcome: 'ok' }, Number.NaN)).toThrow(TypeError);
      expect(() => new TallyHistogram({ registry: new Registry(), name: 'b_seconds', help: 'b', buckets: [1, 1] })).toThrow(RangeError);
    });
  });
});
