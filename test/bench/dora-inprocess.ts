// In-process DORA throughput of the DHCP handler over the real file store (no sockets): separates
// Socle's own per-exchange cost from the network and from perfdhcp. One run measures DHCP option
// values both ways, today's against those before 7c4ee34, for the same workload:
//   bun test/bench/dora-inprocess.ts [exchanges=20000] [concurrency=64] [options=all|none|plain|fields] [rounds=3]
// exchanges: clients a round (each does one DORA). options: the subnet's configured options (dhcp-option-workload.ts):
// "plain" sends four fixed values (routers, DNS, host name, domain), "fields" the same with the host
// name and domain built from request fields for every reply; "all" runs the three in turn.
//
// Two columns: "new" is today's handler as it is ({{field}} values: "node-{{macHex}}",
// "{{subnet}}.example"); "old" is the same handler with the option values of before 7c4ee34, Eta
// templates ('node-<%= it.mac.replaceAll(":", "") %>', "<%= it.subnet %>.example") rendered by the
// old renderer kept in legacy-option-values.ts, put where the old handler had it (see
// useLegacyOptionValues there: only OptionRenderer.encode differs between the columns). The
// legacy-option-values test checks both put the same bytes on the wire for this workload.
//
// Three levels, because a DORA exchange spends most of its time in the lease engine and the
// store's fdatasync, which hide the cost of the option values:
//   dora    DISCOVER -> OFFER, REQUEST -> ACK through the handler: lease engine, file store (a
//           fresh one per round), packets parsed and formatted. The figure the server can reach.
//   reply   the same two requests parsed and their two replies built (buildReply, where the option
//           values are expanded) and formatted: no lease engine, no store.
//   values  the option values of those two replies alone, as buildReply expands them: one
//           renderer.encode per configured value over one request view per reply.
// All three count exchanges (two replies each) per second; the cheaper levels do more of them a
// round (the "exchanges" column), cycling over the same clients. Rounds alternate old and new,
// and which goes first, after one unmeasured warm-up round each; each figure is the median of the
// rounds. "none" sends no option values, so its two columns run the same code: their ratio is the
// noise of the run. Every round stops at its exchanges or after ROUND_SECONDS.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "../../src/store/file-store.ts";
import { createStoreDhcpBackend } from "../../src/adapters/dhcp-backend.ts";
import { createDhcpHandler } from "../../src/dhcp/handler.ts";
import { formatPacket, parsePacket } from "../../src/dhcp/codec/packet.ts";
import { MessageType } from "../../src/dhcp/codec/message-type.ts";
import { OptionRenderer } from "../../src/dhcp/option-templates.ts";
import { scopeOf, type Scope } from "../../src/dhcp/leases/scope.ts";
import { nullLogger } from "../../src/log/logger.ts";
import { LegacyOptionRenderer, asOptionRenderer, useLegacyOptionValues } from "./legacy-option-values.ts";
import {
  OPTION_MODES,
  POOL_SIZE,
  SERVER_ADDRESS,
  SUBNET_NAME,
  benchContext,
  benchOptionValues,
  benchReply,
  benchRequest,
  benchSubnet,
  benchSubnetConfig,
  expectedHostName,
  poolAddress,
  type OptionMode,
  type OptionSyntax,
} from "./dhcp-option-workload.ts";

const ROUND_SECONDS = 15;
const WARMUP_EXCHANGES = 2_000;

const total = Number(process.argv[2] ?? 20_000);
const concurrency = Number(process.argv[3] ?? 64);
const which = process.argv[4] ?? "all";
const rounds = Number(process.argv[5] ?? 3);
if (!Number.isInteger(total) || total < 1 || total > POOL_SIZE) throw new Error(`exchanges must be 1 to ${POOL_SIZE} (the pool), got "${process.argv[2]}"`);
if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 4096) throw new Error(`concurrency must be 1 to 4096, got "${process.argv[3]}"`);
if (which !== "all" && !(OPTION_MODES as readonly string[]).includes(which)) throw new Error(`options must be all, none, plain or fields, got "${which}"`);
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 15) throw new Error(`rounds must be 1 to 15, got "${process.argv[5]}"`);
const modes: readonly OptionMode[] = which === "all" ? OPTION_MODES : [which as OptionMode];

interface Round {
  done: number;
  secs: number;
}

/** Throws unless client i's reply carries the host name (option 12) the mode must give it. */
function checkHostName(mode: OptionMode, syntax: OptionSyntax, i: number, got: string | undefined): void {
  const want = expectedHostName(mode, i);
  if (got !== want) throw new Error(`${syntax} ${mode}: client ${i} got host name option ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

async function doraRound(mode: OptionMode, syntax: OptionSyntax, count: number): Promise<Round> {
  const dir = await mkdtemp(join(tmpdir(), "socle-dora-"));
  const store = new FileStore({ dir });
  const restore = syntax === "eta" ? useLegacyOptionValues(nullLogger) : () => {};
  try {
    await store.open();
    await store.put("subnets", SUBNET_NAME, benchSubnet(mode, syntax));
    const backend = createStoreDhcpBackend(store, nullLogger);
    const handler = createDhcpHandler({ backend, booter: { dhcpBoot: () => undefined }, log: nullLogger });
    let next = 0;
    let done = 0;
    const t0 = performance.now();
    const deadline = t0 + ROUND_SECONDS * 1000;
    const client = async (): Promise<void> => {
      for (;;) {
        const i = next++;
        if (i >= count || performance.now() > deadline) return;
        const offer = await handler(parsePacket(benchRequest(i, MessageType.DHCPDISCOVER)), benchContext());
        if (!offer) throw new Error(`no offer for client ${i}`);
        formatPacket(offer.packet);
        const addr = offer.packet.yiaddr;
        const ack = await handler(parsePacket(benchRequest(i, MessageType.DHCPREQUEST, (p) => p.options.setRequestedIp(addr).setServerId(SERVER_ADDRESS))), benchContext());
        if (!ack) throw new Error(`no ack for client ${i}`);
        if (i === 0) checkHostName(mode, syntax, i, ack.packet.options.getHostName());
        formatPacket(ack.packet);
        done++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, client));
    const secs = (performance.now() - t0) / 1000;
    if (store.count("leases") !== done) throw new Error(`${done} exchanges but ${store.count("leases")} leases persisted`);
    backend.close();
    return { done, secs };
  } finally {
    restore();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

/** Client i's DISCOVER and REQUEST as the wire brings them, for clients 0 .. n-1. */
function wireRequests(n: number): { discovers: Uint8Array[]; requests: Uint8Array[] } {
  const discovers: Uint8Array[] = [];
  const requests: Uint8Array[] = [];
  for (let i = 0; i < n; i++) {
    const addr = poolAddress(i);
    discovers.push(benchRequest(i, MessageType.DHCPDISCOVER));
    requests.push(benchRequest(i, MessageType.DHCPREQUEST, (p) => p.options.setRequestedIp(addr).setServerId(SERVER_ADDRESS)));
  }
  return { discovers, requests };
}

function levelSetup(mode: OptionMode, syntax: OptionSyntax): { scope: Scope; renderer: OptionRenderer } {
  const scope = scopeOf(benchSubnetConfig(mode, syntax));
  if (!scope) throw new Error("bench subnet has no scope");
  const renderer = syntax === "eta" ? asOptionRenderer(new LegacyOptionRenderer(nullLogger)) : new OptionRenderer(nullLogger);
  return { scope, renderer };
}

async function replyRound(mode: OptionMode, syntax: OptionSyntax, count: number): Promise<Round> {
  const { scope, renderer } = levelSetup(mode, syntax);
  const clients = Math.min(count, total);
  const { discovers, requests } = wireRequests(clients); // built beforehand; the loop parses them, as the server does
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + ROUND_SECONDS * 1000;
  for (let k = 0; k < count; k++) {
    if ((k & 1023) === 0 && performance.now() > deadline) break;
    const i = k % clients;
    const addr = poolAddress(i);
    const offer = benchReply(MessageType.DHCPOFFER, parsePacket(discovers[i]!), benchContext(), scope, renderer, addr);
    formatPacket(offer.packet);
    const ack = benchReply(MessageType.DHCPACK, parsePacket(requests[i]!), benchContext(), scope, renderer, addr);
    if (k === 0) checkHostName(mode, syntax, i, ack.packet.options.getHostName());
    formatPacket(ack.packet);
    done++;
  }
  return { done, secs: (performance.now() - t0) / 1000 };
}

async function valuesRound(mode: OptionMode, syntax: OptionSyntax, count: number): Promise<Round> {
  const { scope, renderer } = levelSetup(mode, syntax);
  const clients = Math.min(count, total);
  const { discovers, requests } = wireRequests(clients);
  const offers = discovers.map((b) => parsePacket(b)); // parsed beforehand: this level is the values alone
  const acks = requests.map((b) => parsePacket(b));
  const ctx = benchContext();
  const hostName = new TextDecoder();
  let done = 0;
  const t0 = performance.now();
  const deadline = t0 + ROUND_SECONDS * 1000;
  for (let k = 0; k < count; k++) {
    if ((k & 1023) === 0 && performance.now() > deadline) break;
    const i = k % clients;
    const addr = poolAddress(i);
    benchOptionValues(offers[i]!, ctx, scope, renderer, addr);
    const values = benchOptionValues(acks[i]!, ctx, scope, renderer, addr);
    if (k === 0) {
      const b = values[scope.subnet.Options.findIndex((o) => o.Code === 12)];
      checkHostName(mode, syntax, i, b && hostName.decode(b));
    }
    done++;
  }
  return { done, secs: (performance.now() - t0) / 1000 };
}

/**
 * How each level runs: the cheaper levels do more exchanges a round (over the same `exchanges`
 * clients) so that a round lasts long enough to measure. "none" has no values to measure alone.
 */
const LEVELS = {
  dora: { run: doraRound, scale: 1, modes: OPTION_MODES },
  reply: { run: replyRound, scale: 4, modes: OPTION_MODES },
  values: { run: valuesRound, scale: 20, modes: ["plain", "fields"] },
} as const satisfies Record<string, { run: (m: OptionMode, s: OptionSyntax, n: number) => Promise<Round>; scale: number; modes: readonly OptionMode[] }>;
type Level = keyof typeof LEVELS;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

const rate = (r: Round): number => r.done / r.secs;

interface Row {
  level: Level;
  mode: OptionMode;
  perRound: number;
  old: number[];
  new: number[];
  capped: boolean;
}

const rows: Row[] = [];
for (const level of Object.keys(LEVELS) as Level[]) {
  const { run, scale, modes: levelModes } = LEVELS[level];
  const perRound = total * scale;
  for (const syntax of ["eta", "placeholders"] as const) await run("fields", syntax, Math.min(perRound, WARMUP_EXCHANGES * scale));
  for (const mode of modes) {
    if (!(levelModes as readonly OptionMode[]).includes(mode)) continue;
    const row: Row = { level, mode, perRound, old: [], new: [], capped: false };
    for (let r = 0; r < rounds; r++) {
      const order: OptionSyntax[] = r % 2 === 0 ? ["eta", "placeholders"] : ["placeholders", "eta"];
      for (const syntax of order) {
        Bun.gc(true); // each round starts from a collected heap, not the garbage of the one before
        const got = await run(mode, syntax, perRound);
        if (got.done < perRound) row.capped = true;
        (syntax === "eta" ? row.old : row.new).push(rate(got));
      }
    }
    rows.push(row);
  }
}

const table: string[][] = [["level", "options", "exchanges", "old/s", "new/s", "new/old", "old rounds", "new rounds"]];
for (const r of rows) {
  const o = median(r.old);
  const n = median(r.new);
  const each = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(" ");
  table.push([r.level, r.mode + (r.capped ? "*" : ""), String(r.perRound), o.toFixed(0), n.toFixed(0), (n / o).toFixed(3), each(r.old), each(r.new)]);
}
const widths = table[0]!.map((_, c) => Math.max(...table.map((row) => row[c]!.length)));
console.log(
  `DHCP exchanges/s, option values old (Eta, before 7c4ee34) and new ({{field}}): median of ${rounds} interleaved rounds each, ` +
    `dora concurrency ${concurrency}, Bun ${Bun.version}`,
);
for (const row of table) console.log(row.map((cell, c) => (c < 2 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
if (rows.some((r) => r.capped)) console.log(`* a round stopped at ${ROUND_SECONDS} s before its exchanges were done`);
