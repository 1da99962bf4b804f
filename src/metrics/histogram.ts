// A cumulative histogram kept as plain numbers: observe() is a short loop and three additions,
// called from a plain callback (the store's after each durable journal write), and samples() turns it into
// Prometheus `_bucket`/`_sum`/`_count` lines at scrape time.

import type { Sample } from "./registry.ts";

/** Seconds, for a disk sync: a few hundred microseconds on NVMe, tens of ms on a USB stick or SD card. */
export const SYNC_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class PlainHistogram {
  readonly bounds: readonly number[];
  /** counts[i]: observations <= bounds[i] and > bounds[i-1]; the last one: above every bound. */
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error(`histogram bounds must increase: ${bounds.join(", ")}`);
    }
    this.bounds = [...bounds];
    this.#counts = new Float64Array(bounds.length + 1);
  }

  observe(value: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && value > b[i]!) i++;
    this.#counts[i]!++;
    this.#sum += value;
    this.#count++;
  }

  get count(): number {
    return this.#count;
  }

  get sum(): number {
    return this.#sum;
  }

  /** The Prometheus lines: cumulative buckets (`le`), +Inf, sum and count. */
  samples(labels: Readonly<Record<string, string>> = {}): Sample[] {
    const out: Sample[] = [];
    let acc = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      acc += this.#counts[i]!;
      out.push({ suffix: "_bucket", labels: { ...labels, le: String(this.bounds[i]) }, value: acc });
    }
    out.push({ suffix: "_bucket", labels: { ...labels, le: "+Inf" }, value: this.#count });
    out.push({ suffix: "_sum", labels, value: this.#sum });
    out.push({ suffix: "_count", labels, value: this.#count });
    return out;
  }
}
