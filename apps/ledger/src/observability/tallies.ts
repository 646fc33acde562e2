import { Counter, type LabelValues, type Metric, type Registry } from 'prom-client';

// Metrics cheap enough to update for every event the ledger appends. prom-client validates and hashes
// the labels on every `inc` and `observe`, and a histogram turns its bucket bound into a string to find
// the bucket: together about 10% of the thread that decides charges (measured by taking them out).
// Here an update finds its series by the label values alone and adds to plain numbers; prom-client
// sees the totals when it is scraped.

type Labels<L extends string> = Partial<LabelValues<L>> | undefined;

/**
 * A metric's series by their label values, one level of maps per label. Label values are mostly the
 * same few strings, whose hashes V8 keeps, so finding a series builds no key. A key string built for
 * every update cost as much as prom-client's own hashing.
 */
class SeriesIndex<L extends string, S> {
  private readonly root = new Map<unknown, unknown>();
  private readonly inOrder: S[] = [];

  constructor(
    private readonly names: readonly L[],
    private readonly create: (labels: LabelValues<L>) => S,
  ) {}

  /** The series of `labels`, with `over`'s values taking precedence where it has the label (a timer's end). */
  get(labels: Labels<L>, over?: Labels<L>): S {
    const names = this.names;
    let node = this.root;
    for (let i = 0; i < names.length - 1; i++) {
      const value = valueOf(names[i]!, labels, over);
      let next = node.get(value) as Map<unknown, unknown> | undefined;
      if (next === undefined) node.set(value, (next = new Map()));
      node = next;
    }
    // A metric without labels has its one series under `undefined`.
    const last = names.length === 0 ? undefined : valueOf(names[names.length - 1]!, labels, over);
    let series = node.get(last) as S | undefined;
    if (series === undefined) {
      series = this.create(seriesLabels(names, labels, over));
      this.inOrder.push(series);
      node.set(last, series);
    }
    return series;
  }

  /** Every series, in the order they first appeared (prom-client's order). */
  values(): readonly S[] {
    return this.inOrder;
  }
}

/** A label's value where `over` (a timer's end) wins over `labels` (its start), as prom-client merges them. */
function labelValue<L extends string>(name: L, labels: Labels<L>, over: Labels<L>): string | number | undefined {
  return over !== undefined && Object.hasOwn(over, name) ? over[name] : labels?.[name];
}

/** A label's value as its series knows it: prom-client does not tell 200 from '200'. */
function valueOf<L extends string>(name: L, labels: Labels<L>, over: Labels<L>): string | undefined {
  const value = labelValue(name, labels, over);
  return typeof value === 'number' ? String(value) : value;
}

/** The labels of a series, as prom-client would keep them: only the metric's own, none left undefined. */
function seriesLabels<L extends string>(names: readonly L[], labels: Labels<L>, over: Labels<L>): LabelValues<L> {
  const own: Partial<Record<L, string | number>> = {};
  for (const name of names) {
    const value = labelValue(name, labels, over);
    if (value !== undefined) own[name] = value;
  }
  return own as LabelValues<L>;
}

interface MetricOptions<L extends string> {
  readonly registry: Registry;
  readonly name: string;
  readonly help: string;
  readonly labelNames?: readonly L[];
}

/**
 * A Prometheus counter whose increments are summed per series in plain numbers and added to the
 * prom-client counter when it is read (a scrape, or `get`), so the exposition is prom-client's own.
 */
export class TallyCounter<L extends string = never> {
  private readonly pending: SeriesIndex<L, { readonly labels: LabelValues<L>; value: number; shown: boolean }>;

  constructor({ registry, name, help, labelNames = [] }: MetricOptions<L>) {
    const pending = new SeriesIndex(labelNames, (labels) => ({ labels, value: 0, shown: false }));
    this.pending = pending;
    // Registered with the registry, which is all that reads it.
    new Counter<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const series of pending.values()) {
          // A series incremented by 0 still shows, as it would have had it gone to prom-client at once.
          if (series.value === 0 && series.shown) continue;
          this.inc(series.labels, series.value);
          series.value = 0;
          series.shown = true;
        }
      },
    });
  }

  inc(labels?: LabelValues<L>, value = 1): void {
    if (!(value >= 0) || value === Number.POSITIVE_INFINITY) throw new RangeError(`A counter only goes up by a finite amount, got ${value}`);
    this.pending.get(labels).value += value;
  }
}

interface Buckets<L extends string> {
  readonly labels: LabelValues<L>;
  /** Observations per bucket (not cumulative); the last one is +Inf's. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

/** What the registry formats: one sample of a series. */
interface Sample {
  readonly labels: LabelValues<string>;
  readonly sharedLabels?: LabelValues<string>;
  readonly value: number;
  readonly metricName: string;
}

/**
 * A Prometheus histogram kept in plain numbers and exposed in the same samples as prom-client's
 * `Histogram`, which the registry formats. Labels given when a timer starts and when it stops are
 * merged, as prom-client's `startTimer` does.
 */
export class TallyHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  readonly name: string;
  readonly help: string;
  private readonly labelNames: readonly L[];
  private readonly upperBounds: readonly number[];
  private series: SeriesIndex<L, Buckets<L>>;

  constructor({ registry, name, help, labelNames = [], buckets }: MetricOptions<L> & { readonly buckets: readonly number[] }) {
    if (buckets.some((bound, i) => !Number.isFinite(bound) || (i > 0 && bound <= buckets[i - 1]!))) {
      throw new RangeError(`The buckets of ${name} must be finite and increasing`);
    }
    this.name = name;
    this.help = help;
    this.labelNames = labelNames;
    this.upperBounds = [...buckets];
    this.series = this.emptySeries();
    // The registry reads a metric through `name`, `help`, `type`, `get` (or `getForPromString`) and `reset`;
    // its type names only prom-client's own classes.
    registry.registerMetric(this as unknown as Metric<L>);
  }

  observe(labels: LabelValues<L> | undefined, value: number): void {
    this.record(labels, undefined, value);
  }

  /** Starts timing; the function returned observes the seconds since, under both sets of labels, and returns them. */
  startTimer(startLabels?: LabelValues<L>): (endLabels?: LabelValues<L>) => number {
    const started = performance.now();
    return (endLabels) => {
      const seconds = (performance.now() - started) / 1000;
      this.record(startLabels, endLabels, seconds);
      return seconds;
    };
  }

  reset(): void {
    this.series = this.emptySeries();
  }

  private emptySeries(): SeriesIndex<L, Buckets<L>> {
    return new SeriesIndex(this.labelNames, (labels) => ({ labels, counts: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 }));
  }

  private record(labels: Labels<L>, over: Labels<L>, value: number): void {
    if (!Number.isFinite(value)) throw new TypeError(`${this.name} observed ${value}, not a finite number`);
    const series = this.series.get(labels, over);
    const bounds = this.upperBounds;
    let bucket = 0;
    while (bucket < bounds.length && value > bounds[bucket]!) bucket++;
    series.counts[bucket]! += 1;
    series.sum += value;
    series.count += 1;
  }

  /** The samples with each series' labels apart (`sharedLabels`), as the registry formats prom-client's. */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const values: Sample[] = [];
    for (const series of this.series.values()) {
      let cumulative = 0;
      this.upperBounds.forEach((le, i) => {
        cumulative += series.counts[i]!;
        values.push({ labels: { le }, sharedLabels: series.labels, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf' }, sharedLabels: series.labels, value: series.count, metricName: `${this.name}_bucket` });
      values.push({ labels: {}, sharedLabels: series.labels, value: series.sum, metricName: `${this.name}_sum` });
      values.push({ labels: {}, sharedLabels: series.labels, value: series.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  /** The samples with each series' labels in each sample's, as prom-client's `get` gives them. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: Sample[] }> {
    const metric = await this.getForPromString();
    return {
      ...metric,
      values: metric.values.map(({ labels, sharedLabels, value, metricName }) => ({ labels: { ...labels, ...sharedLabels }, value, metricName })),
    };
  }
}
