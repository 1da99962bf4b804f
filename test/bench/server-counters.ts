// Counters read around a DHCP bench step, so that a step's figures come with what the kernel and
// the server saw meanwhile: the UDP drop counters of a namespace (`nstat -asz`, absolute values,
// the history file left alone) and a Prometheus histogram from Socle's GET /metrics (the journal's
// socle_store_fsync_seconds). Both are read before and after; the bench prints the difference.

/** Kernel UDP counters worth watching under a burst (a full receive buffer drops silently). */
export const UDP_COUNTERS = ["UdpInDatagrams", "UdpInErrors", "UdpRcvbufErrors", "UdpSndbufErrors"] as const;

/** `nstat -asz NAME...` output ("#kernel", then "Name value rate" lines) as name -> value. */
export function parseNstat(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = /^(\w+)\s+(\d+)\s/.exec(line);
    if (m) out[m[1] as string] = Number(m[2]);
  }
  return out;
}

/** after - before for every counter in `after` (a counter missing before counts from 0). */
export function counterDelta(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(after)) out[k] = v - (before[k] ?? 0);
  return out;
}

/** A Prometheus histogram at one scrape: cumulative counts per upper bound (+Inf last), sum, count. */
export interface Histogram {
  buckets: Array<{ le: number; count: number }>;
  sum: number;
  count: number;
}

/** The histogram `name` (no labels besides `le`) from exposition text; undefined when absent. */
export function parseHistogram(text: string, name: string): Histogram | undefined {
  const buckets: Histogram["buckets"] = [];
  let sum: number | undefined;
  let count: number | undefined;
  for (const line of text.split("\n")) {
    if (line.startsWith("#")) continue;
    const b = new RegExp(`^${name}_bucket\\{le="([^"]+)"\\} (\\S+)$`).exec(line);
    if (b) {
      buckets.push({ le: b[1] === "+Inf" ? Infinity : Number(b[1]), count: Number(b[2]) });
      continue;
    }
    const s = new RegExp(`^${name}_(sum|count) (\\S+)$`).exec(line);
    if (s) {
      if (s[1] === "sum") sum = Number(s[2]);
      else count = Number(s[2]);
    }
  }
  if (sum === undefined || count === undefined || buckets.length === 0) return undefined;
  buckets.sort((a, b) => a.le - b.le);
  return { buckets, sum, count };
}

/** What happened between two scrapes of one histogram. */
export interface HistogramDelta {
  count: number;
  /** Sum of the observations, in the histogram's unit. */
  sum: number;
  mean: number;
  /** Upper bounds of the buckets holding the median and the 99th percentile (Infinity: above all). */
  p50Le: number;
  p99Le: number;
}

export function histogramDelta(before: Histogram | undefined, after: Histogram): HistogramDelta {
  const prior = (le: number) => before?.buckets.find((b) => b.le === le)?.count ?? 0;
  const count = after.count - (before?.count ?? 0);
  const sum = after.sum - (before?.sum ?? 0);
  const cumulative = after.buckets.map((b) => ({ le: b.le, count: b.count - prior(b.le) }));
  const at = (q: number) => (count === 0 ? NaN : (cumulative.find((b) => b.count >= q * count)?.le ?? Infinity));
  return { count, sum, mean: count === 0 ? NaN : sum / count, p50Le: at(0.5), p99Le: at(0.99) };
}
