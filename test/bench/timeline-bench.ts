// What the boot timeline costs: the recorder alone, its memory, and the DHCP handler with and
// without it.
//   bun test/bench/timeline-bench.ts [exchanges=10000] [rounds=12]
//
// 1. record(): ns per event for 200 MACs in steady state (each MAC keeps its slot), for 20,000
//    MACs cycling through the 1,024 slots of the unknown pool (every event claims a slot by
//    eviction: the chaddr-spray case), and recordFrom() by client address (TFTP and HTTP rows).
//    The arguments are built beforehand, so the loop measures the recorder, not the caller.
// 2. Memory of a default recorder (2,048 + 1,024 slots of 64 rows, global ring 8,192), in a
//    child process so the figures start from a clean heap: RSS and heap after constructing it,
//    then after filling every row with events whose text and note are distinct strings (as a
//    long-running server's are), once with short realistic strings and once with both at the
//    recorder's MAX_TEXT cut: the most a hostile client could make a row hold (a path it asks for;
//    its address is a number, and the other labels are interned in bounded generations).
// 3. DORA through createDhcpHandler over the real FileStore (no sockets), the workload of
//    dhcp-option-workload.ts with its four plain option values: handler without a timeline
//    ("off"), with a default Timeline ("on"), and without one again ("off2"). Each round runs the
//    three in one order, rotated from round to round so each goes first as often, after a warm-up
//    round each; on/off is the timeline's cost, off2/off the noise of the run. Two client
//    populations: 200 MACs renewing (the recorder's slots stay put) and every exchange a new MAC
//    (20,000 a round: the unknown pool churns). One Timeline per population lives across its
//    rounds, as in a running server; the store is fresh each round.
// Every loop is bounded in count and time; the whole run stops by itself in under 3 minutes.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "../../src/store/file-store.ts";
import { createStoreDhcpBackend } from "../../src/adapters/dhcp-backend.ts";
import { createDhcpHandler } from "../../src/dhcp/handler.ts";
import { formatPacket, parsePacket } from "../../src/dhcp/codec/packet.ts";
import { MessageType } from "../../src/dhcp/codec/message-type.ts";
import { nullLogger } from "../../src/log/logger.ts";
import { DhcpOutcome, Kind, TftpOutcome } from "../../src/timeline/kinds.ts";
import { MAX_TEXT, Timeline } from "../../src/timeline/recorder.ts";
import { POOL_SIZE, SERVER_ADDRESS, SUBNET_NAME, benchContext, benchRequest, benchSubnet } from "./dhcp-option-workload.ts";

const TOTAL_CAP_MS = 170_000;
const startedAt = performance.now();
const timeLeft = () => TOTAL_CAP_MS - (performance.now() - startedAt);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function printTable(rows: string[][], leftCols = 1): void {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows) console.log(r.map((cell, c) => (c < leftCols ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  "));
}

const MB = (bytes: number) => (bytes / 1048576).toFixed(1);

// ---------------------------------------------------------------- memory (child process)

const KNOWN_BASE = 0x02_10_00_00_00_00;
const UNKNOWN_BASE = 0x02_20_00_00_00_00;

interface MemorySnapshot {
  rss: number;
  heapUsed: number;
}

function snapshot(): MemorySnapshot {
  Bun.gc(true);
  Bun.gc(true);
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed };
}

/** Run in a fresh process: a default recorder, then every row filled. Prints one JSON line. */
function memoryChild(textLength: "short" | "max"): void {
  const before = snapshot();
  const t = new Timeline({ isKnown: (mac) => mac >= KNOWN_BASE && mac < UNKNOWN_BASE });
  const built = snapshot();
  // Strings decoded from bytes as the TFTP server decodes a request's path (latin1), not ropes
  // of shared parts that a template literal may leave.
  const decoder = new TextDecoder("latin1");
  const encoder = new TextEncoder();
  const flat = (x: string) => decoder.decode(encoder.encode(x));
  let n = 0;
  const fill = (base: number, slots: number) => {
    for (let s = 0; s < slots; s++) {
      const mac = base + s;
      for (let j = 0; j < 64; j++, n++) {
        // Distinct strings per event, as the handler's are once clients come and go; a, b and c
        // are distinct too, so the intern table fills to its bound.
        const addr = flat(`198.${18 + ((n >> 16) & 1)}.${(n >> 8) & 255}.${n & 255}`);
        const text = flat(textLength === "max" ? `t${n}`.padEnd(MAX_TEXT, "x") : `boot/${mac.toString(16)}/grubx64-${j}.efi`);
        const note = flat(textLength === "max" ? `n${n}`.padEnd(MAX_TEXT, "x") : `timeout after block ${n}`);
        t.record(mac, Kind.Tftp, 0, TftpOutcome.Served, -1, 1_000_000, addr, text, flat(`vendor-${n}`), flat(`user-${n}`), flat(`relay-${n}`), note);
      }
    }
  };
  fill(KNOWN_BASE, 2048);
  fill(UNKNOWN_BASE, 1024);
  const full = snapshot();
  const st = t.stats();
  console.log(JSON.stringify({ before, built, full, events: n, macs: st.macs, evictions: st.evictions, internExpired: st.internExpired }));
}

async function memoryRun(textLength: "short" | "max"): Promise<{ before: MemorySnapshot; built: MemorySnapshot; full: MemorySnapshot; events: number; macs: number; evictions: number; internExpired: number }> {
  const proc = Bun.spawn([process.execPath, import.meta.path, "--memory-child", textLength], { stdout: "pipe", stderr: "pipe" });
  const killer = setTimeout(() => proc.kill(), 60_000);
  const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  clearTimeout(killer);
  if (code !== 0) throw new Error(`memory child (${textLength}) exited ${code}: ${err.trim().slice(-500)}`);
  return JSON.parse(out.trim().split("\n").pop()!);
}

// ---------------------------------------------------------------- record() micro-benchmark

const MICRO_EVENTS = 1_000_000;
const MICRO_ROUNDS = 5;

function macsFrom(base: number, n: number): number[] {
  return Array.from({ length: n }, (_, i) => base + i * 7919);
}

function addresses(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `198.18.${i >> 8}.${i & 255}`);
}

/** ns per call of `one(k)` over MICRO_EVENTS calls: median of MICRO_ROUNDS rounds after a warm-up. */
function nsPerCall(one: (k: number) => void): { median: number; rounds: number[] } {
  for (let k = 0; k < 200_000; k++) one(k);
  const rounds: number[] = [];
  for (let r = 0; r < MICRO_ROUNDS; r++) {
    Bun.gc(true);
    const t0 = Bun.nanoseconds();
    for (let k = 0; k < MICRO_EVENTS; k++) one(k);
    rounds.push((Bun.nanoseconds() - t0) / MICRO_EVENTS);
  }
  return { median: median(rounds), rounds };
}

function microBench(): string[][] {
  const rows: string[][] = [["case", "ns/event", "rounds (ns)", "evictions", "MACs held"]];
  const VENDOR = "PXEClient:Arch:00007:UNDI:003016";
  const FILE = "ipxe.efi";

  {
    const t = new Timeline();
    const macs = macsFrom(UNKNOWN_BASE, 200);
    const addrs = addresses(200);
    const r = nsPerCall((k) => {
      const i = k % 200;
      t.record(macs[i]!, Kind.Dhcp, MessageType.DHCPREQUEST, DhcpOutcome.Ack, 7, 67, addrs[i]!, FILE, VENDOR, "", "");
    });
    const st = t.stats();
    rows.push(["record, 200 MACs steady", r.median.toFixed(1), r.rounds.map((x) => x.toFixed(0)).join(" "), String(st.evictions), String(st.macs)]);
  }
  {
    const t = new Timeline();
    const macs = macsFrom(UNKNOWN_BASE, 20_000);
    const addrs = addresses(20_000);
    const r = nsPerCall((k) => {
      const i = k % 20_000;
      t.record(macs[i]!, Kind.Dhcp, MessageType.DHCPDISCOVER, DhcpOutcome.Offer, 7, 67, addrs[i]!, FILE, VENDOR, "", "");
    });
    const st = t.stats();
    rows.push(["record, 20,000 MACs churning", r.median.toFixed(1), r.rounds.map((x) => x.toFixed(0)).join(" "), String(st.evictions), String(st.macs)]);
  }
  {
    const t = new Timeline();
    const macs = macsFrom(UNKNOWN_BASE, 200);
    const addrs = addresses(200);
    for (let i = 0; i < 200; i++) t.learn(addrs[i]!, macs[i]!);
    const path = "boot/ipxe.efi";
    const r = nsPerCall((k) => {
      const i = k % 200;
      t.recordFrom(addrs[i]!, Kind.Tftp, 0, TftpOutcome.Served, 1_048_576, path);
    });
    const st = t.stats();
    if (st.unattributed !== 0) throw new Error(`recordFrom: ${st.unattributed} events not attributed to a MAC`);
    rows.push(["recordFrom, 200 addresses", r.median.toFixed(1), r.rounds.map((x) => x.toFixed(0)).join(" "), String(st.evictions), String(st.macs)]);
  }
  return rows;
}

// ---------------------------------------------------------------- in-process DORA A/B

const CONCURRENCY = 64;
const ROUND_SECONDS = 10;
const WARMUP_EXCHANGES = 2_000;
const STEADY_MACS = 200;

const exchanges = Number(process.argv[2] ?? 10_000);
const roundsWanted = Number(process.argv[3] ?? 12);

type Arm = "off" | "on" | "off2";
type Population = "steady" | "churn";

interface Round {
  done: number;
  secs: number;
  /** CPU time of this process (user + system, all threads) during the round. */
  cpuSecs: number;
}

async function doraRound(population: Population, timeline: Timeline | undefined, count: number): Promise<Round> {
  const dir = await mkdtemp(join(tmpdir(), "socle-timeline-bench-"));
  const store = new FileStore({ dir });
  try {
    await store.open();
    await store.put("subnets", SUBNET_NAME, benchSubnet("plain", "placeholders"));
    const backend = createStoreDhcpBackend(store, nullLogger);
    const handler = createDhcpHandler({ backend, booter: { dhcpBoot: () => undefined }, log: nullLogger, ...(timeline ? { timeline } : {}) });
    let next = 0;
    let done = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const deadline = t0 + ROUND_SECONDS * 1000;
    const client = async (): Promise<void> => {
      for (;;) {
        const k = next++;
        if (k >= count || performance.now() > deadline) return;
        const i = population === "steady" ? k % STEADY_MACS : k;
        const offer = await handler(parsePacket(benchRequest(i, MessageType.DHCPDISCOVER)), benchContext());
        if (!offer) throw new Error(`no offer for client ${i}`);
        formatPacket(offer.packet);
        const addr = offer.packet.yiaddr;
        const ack = await handler(parsePacket(benchRequest(i, MessageType.DHCPREQUEST, (p) => p.options.setRequestedIp(addr).setServerId(SERVER_ADDRESS))), benchContext());
        if (!ack || ack.packet.options.getMessageType() !== MessageType.DHCPACK) throw new Error(`no DHCPACK for client ${i}`);
        formatPacket(ack.packet);
        done++;
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, client));
    const secs = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const want = population === "steady" ? Math.min(done, STEADY_MACS) : done;
    if (store.count("leases") !== want) throw new Error(`${done} exchanges but ${store.count("leases")} leases persisted, want ${want}`);
    backend.close();
    return { done, secs, cpuSecs: (cpu.user + cpu.system) / 1e6 };
  } finally {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  }
}

interface AbRow {
  population: Population;
  rates: Record<Arm, number[]>;
  /** CPU us per exchange. */
  cpu: Record<Arm, number[]>;
  capped: boolean;
  seqBefore: number;
  seqAfter: number;
  evictions: number;
}

async function doraAb(): Promise<{ rows: AbRow[]; roundsDone: number }> {
  const rows: AbRow[] = [];
  let roundsDone = roundsWanted;
  for (const population of ["steady", "churn"] as const) {
    const timeline = new Timeline();
    const perArm: Record<Arm, Timeline | undefined> = { off: undefined, on: timeline, off2: undefined };
    for (const arm of ["off", "on", "off2"] as const) await doraRound(population, perArm[arm], WARMUP_EXCHANGES);
    const row: AbRow = { population, rates: { off: [], on: [], off2: [] }, cpu: { off: [], on: [], off2: [] }, capped: false, seqBefore: timeline.lastSeq, seqAfter: 0, evictions: 0 };
    const arms: Arm[] = ["off", "on", "off2"];
    let r = 0;
    // A round needs at most three ROUND_SECONDS; the second population keeps its share.
    const budget = () => (population === "steady" ? timeLeft() / 2 : timeLeft()) - 3 * ROUND_SECONDS * 1000;
    for (; r < roundsWanted && budget() > 0; r++) {
      const order = arms.map((_, j) => arms[(j + r) % arms.length]!);
      if (r % 2 === 1) order.reverse(); // with the rotation, each arm goes first and last
      for (const arm of order) {
        Bun.gc(true); // each round starts from a collected heap, not the garbage of the one before
        const got = await doraRound(population, perArm[arm], exchanges);
        if (got.done < exchanges) row.capped = true;
        row.rates[arm].push(got.done / got.secs);
        row.cpu[arm].push((got.cpuSecs * 1e6) / got.done);
      }
    }
    roundsDone = Math.min(roundsDone, r);
    row.seqAfter = timeline.lastSeq;
    row.evictions = timeline.stats().evictions;
    rows.push(row);
  }
  return { rows, roundsDone };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  if (!Number.isInteger(exchanges) || exchanges < 1 || exchanges > POOL_SIZE) throw new Error(`exchanges must be 1 to ${POOL_SIZE} (the pool), got "${process.argv[2]}"`);
  if (!Number.isInteger(roundsWanted) || roundsWanted < 1 || roundsWanted > 15) throw new Error(`rounds must be 1 to 15, got "${process.argv[3]}"`);
  console.log(`timeline bench: Bun ${Bun.version}, ${navigator.hardwareConcurrency} CPUs, ${new Date().toISOString()}`);

  console.log("\n=== Timeline.record(): ns per event, median of 5 rounds of 1,000,000 after a warm-up ===");
  printTable(microBench());

  console.log("\n=== Memory of a default recorder (2,048 + 1,024 MACs x 64 rows, global ring 8,192), fresh process ===");
  const mem: string[][] = [["strings", "events", "RSS built", "heap built", "RSS full", "heap full", "RSS +full", "heap +full"]];
  for (const kind of ["short", "max"] as const) {
    const m = await memoryRun(kind);
    mem.push([
      kind === "short" ? "distinct, short (path, note)" : `distinct, ${MAX_TEXT} chars (the cut)`,
      String(m.events),
      `+${MB(m.built.rss - m.before.rss)} MB`,
      `+${MB(m.built.heapUsed - m.before.heapUsed)} MB`,
      `+${MB(m.full.rss - m.before.rss)} MB`,
      `+${MB(m.full.heapUsed - m.before.heapUsed)} MB`,
      `${MB(m.full.rss - m.built.rss)} MB`,
      `${MB(m.full.heapUsed - m.built.heapUsed)} MB`,
    ]);
    if (m.macs !== 3072 || m.evictions !== 0) throw new Error(`memory fill: ${m.macs} MACs held and ${m.evictions} evictions, want 3072 and 0`);
  }
  printTable(mem);
  console.log("  built: deltas after the constructor; full: after every row holds an event; +full: what the events added.");
  console.log("  The typed-array columns are zero pages until written, so RSS grows as rows are first used.");

  console.log(`\n=== In-process DORA through createDhcpHandler over the FileStore: timeline off / on / off again ===`);
  const { rows, roundsDone } = await doraAb();
  const table: string[][] = [["clients", "exchanges", "off/s", "on/s", "off2/s", "off us", "on us", "off2 us", "on/off", "off2/off", "CPU us off", "on", "off2", "on/off", "off2/off"]];
  const rounds: string[][] = [["clients", "arm", "exchanges/s each round (in run order)", "CPU us/exchange each round"]];
  const summary: Record<string, unknown>[] = [];
  for (const r of rows) {
    const m = (x: Record<Arm, number[]>) => ({ off: median(x.off), on: median(x.on), off2: median(x.off2) });
    const rate = m(r.rates);
    const cpu = m(r.cpu);
    const label = r.population === "steady" ? `${STEADY_MACS} MACs renewing` : "new MAC each (churn)";
    table.push([
      label + (r.capped ? "*" : ""),
      String(exchanges),
      rate.off.toFixed(0),
      rate.on.toFixed(0),
      rate.off2.toFixed(0),
      (1e6 / rate.off).toFixed(2),
      (1e6 / rate.on).toFixed(2),
      (1e6 / rate.off2).toFixed(2),
      (rate.on / rate.off).toFixed(3),
      (rate.off2 / rate.off).toFixed(3),
      cpu.off.toFixed(2),
      cpu.on.toFixed(2),
      cpu.off2.toFixed(2),
      (cpu.on / cpu.off).toFixed(3),
      (cpu.off2 / cpu.off).toFixed(3),
    ]);
    for (const arm of ["off", "on", "off2"] as const) rounds.push([label, arm, r.rates[arm].map((x) => x.toFixed(0)).join(" "), r.cpu[arm].map((x) => x.toFixed(1)).join(" ")]);
    summary.push({
      clients: r.population,
      exchanges,
      rounds: r.rates.on.length,
      perS: { off: Math.round(rate.off), on: Math.round(rate.on), off2: Math.round(rate.off2) },
      onOverOff: Number((rate.on / rate.off).toFixed(3)),
      off2OverOff: Number((rate.off2 / rate.off).toFixed(3)),
      cpuUs: { off: Number(cpu.off.toFixed(2)), on: Number(cpu.on.toFixed(2)), off2: Number(cpu.off2.toFixed(2)) },
      cpuOnOverOff: Number((cpu.on / cpu.off).toFixed(3)),
      cpuOff2OverOff: Number((cpu.off2 / cpu.off).toFixed(3)),
      timelineEvents: r.seqAfter - r.seqBefore,
      evictions: r.evictions,
    });
  }
  console.log(`exchanges/s, us/exchange (wall time / exchanges, ${CONCURRENCY} concurrent clients) and CPU us/exchange (this process, all threads): median of ${roundsDone} rounds each, order rotated per round`);
  printTable(table);
  console.log("");
  printTable(rounds, 2);
  for (const r of rows) {
    console.log(`  ${r.population}: the "on" timeline recorded ${r.seqAfter - r.seqBefore} events in the measured rounds (${r.evictions} evictions in all)`);
    if (r.seqAfter - r.seqBefore === 0) console.log(`  ${r.population}: the timeline recorded nothing: this A/B is void`);
  }
  if (rows.some((r) => r.capped)) console.log(`* a round stopped at ${ROUND_SECONDS} s before its exchanges were done`);
  console.log("on/off is the timeline's cost in exchanges/s (1.000 = none, below 1 = slower with it) and in CPU per exchange (above 1 = dearer);");
  console.log("off2/off is the same code measured twice: the noise of this run. A cost within that noise is not measurable here.");
  console.log(`total ${((performance.now() - startedAt) / 1000).toFixed(0)} s`);
  console.log(JSON.stringify({ bench: "timeline", dora: summary }));
}

if (process.argv[2] === "--memory-child") memoryChild(process.argv[3] === "max" ? "max" : "short");
else await main();
