// Reads perfdhcp's (Kea 2.2) closing report: the exchange rate, the two stages of a DORA exchange
// (DISCOVER-OFFER and REQUEST-ACK) with their sent/received counts, drop ratios and delays, and for
// the avalanche scenario the time it took to provision every client.

export interface StageStats {
  sent: number;
  received: number;
  dropsPct: number;
  avgMs: number;
  maxMs: number;
}

export interface PerfdhcpReport {
  /** Completed 4-way exchanges per second, as perfdhcp measured them. */
  rate: number;
  discoverOffer: StageStats;
  requestAck: StageStats;
  /** Share of DISCOVERs that did not end in an ACK, in percent (both stages' drops combined). */
  dropsPct: number;
  /** Avalanche only: seconds to provision all clients, and how many requests were resent. */
  avalancheSeconds?: number;
  resent?: number;
}

const num = (re: RegExp, text: string): number | undefined => {
  const m = re.exec(text);
  return m ? Number(m[1]) : undefined;
};

function stage(text: string, name: string): StageStats {
  const at = text.indexOf(`***Statistics for: ${name}***`);
  if (at < 0) throw new Error(`cannot read perfdhcp report: no "${name}" statistics in ${JSON.stringify(text.slice(-400))}`);
  const next = text.indexOf("***Statistics for:", at + 10);
  const block = text.slice(at, next < 0 ? undefined : next);
  const need = (label: string, re: RegExp): number => {
    const v = num(re, block);
    if (v === undefined || Number.isNaN(v)) throw new Error(`cannot read perfdhcp report: "${label}" missing for ${name}`);
    return v;
  };
  return {
    sent: need("sent packets", /sent packets: (\d+)/),
    received: need("received packets", /received packets: (\d+)/),
    // "-nan %" when nothing was sent in this stage (every DISCOVER went unanswered): no drops here.
    dropsPct: /drops ratio: -?nan ?%/.test(block) ? 0 : need("drops ratio", /drops ratio: ([\d.]+) ?%/),
    // perfdhcp prints "n/a" delays when nothing was received: count that as zero, drops say the rest.
    avgMs: num(/avg delay: ([\d.]+) ms/, block) ?? 0,
    maxMs: num(/max delay: ([\d.]+) ms/, block) ?? 0,
  };
}

/** Parse perfdhcp's output; throws naming what is missing when it is not a complete report. */
export function parsePerfdhcp(text: string): PerfdhcpReport {
  const rate = num(/Rate: ([\d.]+) 4-way exchanges\/second/, text);
  if (rate === undefined) throw new Error(`cannot read perfdhcp report: no "Rate:" line in ${JSON.stringify(text.slice(-400))}`);
  const discoverOffer = stage(text, "DISCOVER-OFFER");
  const requestAck = stage(text, "REQUEST-ACK");
  const dropsPct = 100 * (1 - (1 - discoverOffer.dropsPct / 100) * (1 - requestAck.dropsPct / 100));
  const report: PerfdhcpReport = { rate, discoverOffer, requestAck, dropsPct };
  const took = /It took (\d+):(\d+):([\d.]+) to provision (\d+) clients/.exec(text);
  if (took) report.avalancheSeconds = Number(took[1]) * 3600 + Number(took[2]) * 60 + Number(took[3]);
  const resent = num(/Requests resent: (\d+)/, text);
  if (resent !== undefined) report.resent = resent;
  return report;
}

/**
 * The delay of every successful exchange of one stage, in ms, from perfdhcp's `-x t` listing
 * ("***Timestamps for packets: REQUEST-ACK***", then "sent / received: HHMMSS.ffffff / ..." lines,
 * boost's ISO duration form since perfdhcp started). The report itself gives only avg and max.
 */
export function parseExchangeDelays(text: string, name: "DISCOVER-OFFER" | "REQUEST-ACK"): number[] {
  const at = text.indexOf(`***Timestamps for packets: ${name}***`);
  if (at < 0) throw new Error(`cannot read perfdhcp timestamps: no "${name}" listing (was it run with -x t?)`);
  const next = text.indexOf("\n***", at);
  const block = text.slice(at, next < 0 ? undefined : next);
  const seconds = (iso: string) => Number(iso.slice(0, 2)) * 3600 + Number(iso.slice(2, 4)) * 60 + Number(iso.slice(4));
  const out: number[] = [];
  for (const m of block.matchAll(/sent \/ received: (\d{6}\.\d+) \/ (\d{6}\.\d+)/g)) {
    out.push((seconds(m[2] as string) - seconds(m[1] as string)) * 1000);
  }
  return out;
}

/** The q-quantile (0..1) of `values` by the nearest-rank method; NaN for none. */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
