// perfdhcp (Kea 2.2) run from a client namespace as a relay against one server address, pinned to
// one CPU: a readiness probe, and one measured step at an offered rate. Shared by the DHCP benches.
//
// perfdhcp sends from <iface's address>:67 with that address as giaddr, so the server answers
// giaddr:67 and serves the subnet holding giaddr.

import type { NetLab } from "../helpers/netns.ts";
import { parseExchangeDelays, parsePerfdhcp, type PerfdhcpReport } from "./perfdhcp-report.ts";
import type { StepResult } from "./rate-search.ts";

export interface PerfdhcpStep extends StepResult {
  report: PerfdhcpReport;
  /** REQUEST->ACK delay of every completed exchange (ms), when the step asked for them. */
  requestAckMs?: number[];
  /** DISCOVER->OFFER delay of every completed exchange (ms), when the step asked for them. */
  discoverOfferMs?: number[];
}

export interface PerfdhcpRunnerOptions {
  lab: NetLab;
  /** The client namespace and its interface perfdhcp sends from. */
  ns: string;
  iface: string;
  /** CPU list for taskset. */
  cpu: string;
  /** Simulated clients (-R): at most the pool's size, so steps renew leases the clients hold. */
  clients: number;
  stepSeconds: number;
  /** Pause before each step so a server working off an overloaded step does not fail the next. */
  drainMs: number;
  say: (line: string) => void;
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

export class PerfdhcpRunner {
  constructor(readonly o: PerfdhcpRunnerOptions) {}

  /**
   * Run perfdhcp against `server`; returns its output (killed after timeoutMs). `local` is the
   * interface or address it sends from (and so the giaddr, the subnet served): the runner's
   * interface unless given.
   */
  async run(server: string, perfArgs: readonly string[], timeoutMs: number, local: string = this.o.iface): Promise<string> {
    const p = this.o.lab.spawn(this.o.ns, ["taskset", "-c", this.o.cpu, "perfdhcp", "-4", "-l", local, ...perfArgs, server]);
    const done = await Promise.race([p.proc.exited.then(() => true), Bun.sleep(timeoutMs).then(() => false)]);
    if (!done) await p.kill(1_000);
    await Bun.sleep(50); // let the output readers drain
    return p.output();
  }

  /**
   * The server is up and serving when 5 of the bench's clients complete DORA (avalanche: perfdhcp
   * retransmits until each is answered). They are the first of the same clients, not extra ones:
   * probe clients with another base MAC (-b) were seen to poison dnsmasq's lease table (it NAKed
   * them and then the bench's own clients with "address in use").
   * Not a rate probe: dnsmasq pings an address before offering it to a new client, which takes
   * longer than perfdhcp's 1 s drop time.
   */
  async probe(server: string, timeoutMs: number): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    for (let i = 0; i < 10 && Date.now() < end; i++) {
      const out = await this.run(server, ["--scenario", "avalanche", "-R", "5"], Math.min(10_000, Math.max(1_000, end - Date.now())));
      try {
        if (parsePerfdhcp(out).requestAck.received > 0) return true;
      } catch {
        // killed at its time limit (no report) or could not run yet: try again
      }
      await Bun.sleep(300);
    }
    return false;
  }

  /** One step at `rate` offered exchanges/s; `delays` adds every REQUEST->ACK delay (-x t). */
  async measure(server: string, rate: number, delays = false): Promise<PerfdhcpStep> {
    await Bun.sleep(this.o.drainMs);
    let report: PerfdhcpReport | undefined;
    let out = "";
    const args = ["-r", String(rate), "-R", String(this.o.clients), "-p", String(this.o.stepSeconds), ...(delays ? ["-x", "t"] : [])];
    // perfdhcp 2.2 in multi-thread mode sometimes aborts with "Sent packet's timestamp must not be
    // greater than received packet's timestamp" (its receive thread stamps first): run it again.
    for (let attempt = 1; !report; attempt++) {
      out = await this.run(server, args, (this.o.stepSeconds + 15) * 1000);
      try {
        report = parsePerfdhcp(out);
      } catch (err) {
        if (attempt >= 3) throw err;
        this.o.say(`  ${String(rate).padStart(6)}/s offered: perfdhcp gave no report (${/ERROR[^\n]*/.exec(out)?.[0] ?? "no output"}); again`);
      }
    }
    const step: PerfdhcpStep = { rate, achieved: report.rate, dropsPct: report.dropsPct, report };
    if (delays) {
      step.requestAckMs = parseExchangeDelays(out, "REQUEST-ACK");
      step.discoverOfferMs = parseExchangeDelays(out, "DISCOVER-OFFER");
    }
    this.o.say(
      `  ${String(rate).padStart(6)}/s offered: ${f1(report.rate).padStart(8)}/s done, drops ${f2(report.dropsPct).padStart(6)} %, ` +
        `D-O avg ${f2(report.discoverOffer.avgMs)} ms, R-A avg ${f2(report.requestAck.avgMs)} ms`,
    );
    return step;
  }
}
