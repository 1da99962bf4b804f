// The Prometheus registry: prom-client does the registry and the text exposition (format 0.0.4:
// escaping, HELP and TYPE lines, number formatting), nothing else. Every metric here is read at
// scrape time from a callback over the plain counters the services keep, so the fast paths
// (a DHCP exchange, a TFTP block) pay nothing for being measured: a prom-client Counter.inc()
// costs ten times a field increment, and one with a label a hundred and fifty times.
//
// Label names are declared with each metric and checked on every read: a label that was not
// declared (a MAC, say) is a bug, not a new series. Labels name bounded things only (a message
// type, a reason, a subnet, a state), never a client.
//
// prom-client (and the OpenTelemetry API it pulls in) is loaded on the first scrape, not at start:
// a server nobody scrapes never loads their ~90 modules.

import type { Registry } from "prom-client";

export type MetricType = "counter" | "gauge" | "histogram" | "summary";

export interface Sample {
  labels?: Readonly<Record<string, string>>;
  value: number;
  /** A histogram's or summary's "_bucket", "_sum" or "_count" line. */
  suffix?: "_bucket" | "_sum" | "_count";
}

export interface MetricDef {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; a counter's ends in "_total". */
  name: string;
  help: string;
  type: MetricType;
  /** Every label its samples may carry (besides a histogram's `le` and a summary's `quantile`). */
  labelNames?: readonly string[];
  /** The samples now; none when what it measures is not running. */
  read(): readonly Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type PromMetric = Parameters<Registry["registerMetric"]>[0];

export class MetricsRegistry {
  #reg: Registry | undefined;
  /** What prom-client is given, in the order added (its output keeps that order). */
  readonly #metrics: PromMetric[] = [];
  readonly #defs = new Map<string, MetricDef>();

  /** The Content-Type of text(): `text/plain; version=0.0.4; charset=utf-8`. */
  get contentType(): string {
    return this.#registry().contentType;
  }

  /** prom-client's registry, made on first use (a synchronous require: one load however many ask). */
  #registry(): Registry {
    if (!this.#reg) {
      const { Registry: PromRegistry } = require("prom-client") as typeof import("prom-client");
      const reg = new PromRegistry();
      for (const m of this.#metrics) reg.registerMetric(m);
      this.#reg = reg;
    }
    return this.#reg;
  }

  /** Whether this registry has made its prom-client registry yet (the first scrape does). */
  get loaded(): boolean {
    return this.#reg !== undefined;
  }

  /** The metrics registered, by name (tests check their labels). */
  get definitions(): ReadonlyMap<string, MetricDef> {
    return this.#defs;
  }

  add(def: MetricDef): void {
    if (!NAME.test(def.name)) throw new Error(`metric name "${def.name}" is not a Prometheus metric name`);
    if (def.type === "counter" && !def.name.endsWith("_total")) throw new Error(`counter "${def.name}" must end in _total`);
    if (this.#defs.has(def.name)) throw new Error(`metric "${def.name}" is registered twice`);
    const declared = new Set(def.labelNames ?? []);
    for (const l of declared) {
      if (!LABEL.test(l) || l.startsWith("__") || l === "le" || l === "quantile") throw new Error(`metric "${def.name}": label name "${l}" is not allowed`);
    }
    if (def.type === "histogram") declared.add("le");
    if (def.type === "summary") declared.add("quantile");
    this.#defs.set(def.name, def);
    const { name, help, type } = def;
    // prom-client asks registered metrics for get(); its own metric classes are one way to answer
    // it, this object is another (values read now, labels checked).
    const metric = {
      name,
      help,
      type,
      aggregator: "sum",
      get: async () => ({
        name,
        help,
        type,
        aggregator: "sum",
        values: def.read().map((s) => {
          for (const k of Object.keys(s.labels ?? {})) {
            if (!declared.has(k)) throw new Error(`metric "${name}": label "${k}" is not declared`);
          }
          return { labels: s.labels ?? {}, value: s.value, ...(s.suffix ? { metricName: name + s.suffix } : {}) };
        }),
      }),
    };
    this.#metrics.push(metric as unknown as PromMetric);
    this.#reg?.registerMetric(metric as unknown as PromMetric);
  }

  /** The exposition text of every metric, read now. */
  text(): Promise<string> {
    return this.#registry().metrics();
  }
}

/** One sample per entry of `counts` (label `label` = the key), sorted by key for a stable output. */
export function byLabel(label: string, counts: Readonly<Record<string, number>>): Sample[] {
  return Object.keys(counts)
    .sort()
    .map((k) => ({ labels: { [label]: k }, value: counts[k]! }));
}

/** One unlabelled sample, or none when the value is not there (the service is off). */
export function single(value: number | undefined): Sample[] {
  return value === undefined ? [] : [{ value }];
}
