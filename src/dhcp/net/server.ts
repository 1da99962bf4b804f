// The DHCP server's socket side: sockets per served interface, parse, ask the handler, send. It
// never decides a reply (handler-types.ts). Per interface it listens on:
// - the DHCP port (67): clients and relays;
// - the PXE boot server port (4011, optional): PXE clients ask it after a proxyDHCP offer;
// - the client port (68), best effort: other servers' broadcast replies land there, and a second
//   DHCP server on a provisioning segment is the classic cause of "the machine booted the wrong
//   thing", so it is logged (once per server and interface every 10 minutes).
// A handler that rejects with an "Unavailable" SocleError could not make the lease durable where it
// must be (e.g. an HA partner did not confirm it): no reply leaves, and the client retransmits.
// Handler calls run concurrently: the handler awaits durable lease writes, and serialising them
// would cap the server at one disk sync per exchange.

import { rateLimited, type Logger } from "../../log/logger.ts";
import { SocleError } from "../../model/errors.ts";
import type { DhcpContext, DhcpHandler } from "./handler-types.ts";
import { hex } from "../codec/bytes.ts";
import { DhcpParseError } from "../codec/errors.ts";
import { cidrContains, type InterfaceDiff, type InterfaceWatch, type NetInterface, listInterfaces, watchInterfaces } from "./interfaces.ts";
import { OPT } from "../codec/option-codes.ts";
import { messageTypeName } from "../codec/message-type.ts";
import { BOOTREPLY, BOOTREQUEST, formatPacket, macString, parsePacket, replyMaxSize, type DhcpPacket } from "../codec/packet.ts";
import { deviceBindingAvailable, openDhcpSocket, type DhcpSocket } from "./socket.ts";
import { DhcpOutcome, Foreign, Kind } from "../../timeline/kinds.ts";
import { macFromBytes, macFromString } from "../../timeline/mac.ts";
import type { Timeline } from "../../timeline/recorder.ts";

export const DHCP_CLIENT_PORT = 68;
const ROGUE_LOG_MS = 10 * 60_000;
/**
 * Largest request accepted: one Ethernet frame's worth of DHCP (1500 - 20 IP - 8 UDP). No client
 * needs more (requests are rarely above 576 bytes); a bigger datagram arrived as IP fragments and
 * is a bug or an attack, so it is dropped before parsing.
 */
export const MAX_REQUEST_SIZE = 1500 - 28;
const STOP_WAIT_MS = 2_000;

export interface DhcpServerOptions {
  handler: DhcpHandler;
  log: Logger;
  /** DHCP server port; default 67. */
  port?: number;
  /** PXE boot server port; default 4011; 0 = off. */
  binlPort?: number;
  /** --dhcp-interfaces; empty = every non-loopback IPv4 interface. */
  interfaces: readonly string[];
  /** Interface poll period; default 2000 ms. */
  pollMs?: number;
  /** Listen on port 68 for other servers' replies; default true. */
  rogueWatch?: boolean;
  /** Clock (tests). */
  now?: () => number;
  /** Interface source (tests); default listInterfaces(). */
  listInterfaces?: () => NetInterface[];
  /** Use the unbound fallback socket even where FFI works (tests). */
  forceFallback?: boolean;
  /**
   * Our address as the handler states it on an interface (server identifier, default next-server);
   * default the interface's primary address. Lets an HA pair answer with the virtual IP it holds.
   */
  serverAddressFor?: (iface: NetInterface) => string;
  /**
   * Addresses besides the interfaces' own that our replies may name as server identifier (an HA
   * pair's virtual IP). A reply naming one is never taken for a rogue server. It is our own echo
   * when it comes from one of our interface addresses; from anywhere else it is the partner's.
   */
  ownAddresses?: () => readonly string[];
  /**
   * Every reply seen from another server, the HA partner's included (not our own echoes), whether
   * or not the rogue-server warning is due. A throw costs one log line.
   */
  onForeignReply?: (reply: DhcpPacket, from: { address: string; port: number }, iface: string) => void;
  /** The boot timeline: drops, unconfirmed leases and other servers' replies, per client MAC. */
  timeline?: Timeline;
}

export interface DhcpServerStats {
  received: number;
  /** Malformed or not a BOOTREQUEST. */
  dropped: number;
  /** Handler returned no reply. */
  ignored: number;
  replied: number;
  /** The kernel refused a reply datagram. */
  sendFailures: number;
  handlerErrors: number;
  /** The handler could not confirm a lease ("Unavailable"): no reply sent, the client retries. */
  unconfirmed: number;
  /** BOOTREPLYs from other servers seen. */
  foreignReplies: number;
  inFlight: number;
  sockets: { iface: string; port: number; bound: "device" | "fallback" }[];
  /** Requests handed to the handler, by option 53 ("DHCPDISCOVER"; "none" when absent or malformed). */
  requestsByType: Record<string, number>;
  /** Replies sent, by option 53. */
  repliesByType: Record<string, number>;
  /** `dropped` by reason ("oversized", "bad-cookie", the codec's reasons). */
  droppedByReason: Record<string, number>;
}

/** A socket and the port it really has (the configured one, or the kernel's pick for port 0). */
interface Endpoint {
  port: number;
  sock: DhcpSocket | undefined;
}

interface Served {
  info: NetInterface;
  sockets: DhcpSocket[];
}

export class DhcpServer {
  private readonly opts: DhcpServerOptions;
  private readonly log: Logger;
  private readonly port: number;
  private readonly binlPort: number;
  private readonly now: () => number;
  private readonly served = new Map<string, Served>();
  /** Sockets of the fallback mode (one per port, no interface). */
  private fallback: DhcpSocket[] = [];
  private fallbackInfo: readonly NetInterface[] = [];
  private watch: InterfaceWatch | undefined;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly dropLog: ReturnType<typeof rateLimited>;
  private readonly errorLog: ReturnType<typeof rateLimited>;
  private readonly openLog: ReturnType<typeof rateLimited>;
  private readonly unconfirmedLog: ReturnType<typeof rateLimited>;
  private readonly rogueSeen = new Map<string, number>();
  private running = false;
  private reconciling: Promise<void> = Promise.resolve();
  private readonly counters = { received: 0, dropped: 0, ignored: 0, replied: 0, sendFailures: 0, handlerErrors: 0, unconfirmed: 0, foreignReplies: 0 };
  /** By option 53's value (0: none): an array increment per packet, named only when read. */
  private readonly requestTypes = new Float64Array(256);
  private readonly replyTypes = new Float64Array(256);
  /** Reasons are names the code defines (DhcpParseError.reason), so the map stays small. */
  private readonly dropReasons = new Map<string, number>();

  constructor(opts: DhcpServerOptions) {
    this.opts = opts;
    this.log = opts.log;
    this.port = opts.port ?? 67;
    this.binlPort = opts.binlPort ?? 4011;
    this.now = opts.now ?? Date.now;
    this.dropLog = rateLimited(this.log);
    this.errorLog = rateLimited({ ...this.log, warn: (m, f) => this.log.error(m, f) });
    this.openLog = rateLimited(this.log, 60_000, 1);
    this.unconfirmedLog = rateLimited({ ...this.log, warn: (m, f) => this.log.info(m, f) });
  }

  /** Open the sockets of every selected interface; throws (SocleError) when one cannot be opened. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const list = this.opts.listInterfaces ?? (() => listInterfaces());
    const useFallback = this.opts.forceFallback === true || !(await deviceBindingAvailable());
    this.watch = watchInterfaces({
      wanted: this.opts.interfaces,
      log: this.log,
      list,
      pollMs: this.opts.pollMs,
      onChange: (diff, current) => this.onInterfaces(diff, current),
    });
    try {
      if (useFallback) {
        await this.openFallback();
      } else {
        for (const info of this.watch.current()) await this.openInterface(info);
      }
    } catch (err) {
      await this.stop();
      throw err;
    }
    const names = useFallback ? ["0.0.0.0 (unbound)"] : [...this.served.keys()];
    this.log.info("DHCP server listening", { port: this.port, binlPort: this.binlPort || "off", interfaces: names.join(",") || "none yet" });
  }

  async stop(): Promise<void> {
    this.running = false;
    this.watch?.stop();
    this.watch = undefined;
    await this.reconciling;
    for (const s of this.served.values()) for (const sock of s.sockets) sock.close();
    this.served.clear();
    for (const sock of this.fallback) sock.close();
    this.fallback = [];
    const pending = [...this.inFlight];
    if (pending.length > 0) {
      await Promise.race([Promise.allSettled(pending), Bun.sleep(STOP_WAIT_MS)]);
    }
  }

  stats(): DhcpServerStats {
    const sockets: DhcpServerStats["sockets"] = [];
    for (const s of this.served.values()) for (const k of s.sockets) sockets.push({ iface: k.iface, port: k.port, bound: k.bound });
    for (const k of this.fallback) sockets.push({ iface: k.iface, port: k.port, bound: k.bound });
    return {
      ...this.counters,
      inFlight: this.inFlight.size,
      sockets,
      requestsByType: byType(this.requestTypes),
      repliesByType: byType(this.replyTypes),
      droppedByReason: Object.fromEntries(this.dropReasons),
    };
  }

  /** Interface changes from the watcher: open, close, or refresh addresses. Serialised. */
  private onInterfaces(diff: InterfaceDiff, current: readonly NetInterface[]): void {
    this.reconciling = this.reconciling.then(async () => {
      if (!this.running) return;
      if (this.fallback.length > 0) {
        this.fallbackInfo = current;
        return;
      }
      for (const gone of diff.removed) {
        const s = this.served.get(gone.name);
        if (!s) continue;
        for (const sock of s.sockets) sock.close();
        this.served.delete(gone.name);
        this.log.info("interface gone; its DHCP sockets are closed", { iface: gone.name });
      }
      for (const { after } of diff.changed) {
        const s = this.served.get(after.name);
        if (s) {
          s.info = after;
          this.log.info("interface address changed", { iface: after.name, address: after.address, cidr: after.cidr });
        }
      }
      // Anything selected but not open: new interfaces, and earlier failures (retried each poll).
      for (const info of current) {
        if (this.served.has(info.name)) continue;
        try {
          await this.openInterface(info);
          this.log.info("interface appeared; serving DHCP on it", { iface: info.name, address: info.address, cidr: info.cidr });
        } catch (err) {
          this.openLog(`open:${info.name}`, `cannot serve DHCP on interface "${info.name}"`, { iface: info.name, error: (err as Error).message });
        }
      }
    });
  }

  private async openInterface(info: NetInterface): Promise<void> {
    const sockets: DhcpSocket[] = [];
    const served: Served = { info, sockets };
    const open = async (port: number) => {
      const ep: Endpoint = { port, sock: undefined };
      ep.sock = await openDhcpSocket({
        iface: info.name,
        port,
        log: this.log,
        onMessage: (data, from) => this.onPacket(served.info, info.name, ep, data, from),
      });
      ep.port = ep.sock.port;
      return ep.sock;
    };
    try {
      sockets.push(await open(this.port));
      if (this.binlPort) sockets.push(await open(this.binlPort));
    } catch (err) {
      for (const s of sockets) s.close();
      throw err;
    }
    if (this.opts.rogueWatch !== false && this.port !== DHCP_CLIENT_PORT) {
      try {
        sockets.push(await open(DHCP_CLIENT_PORT));
      } catch (err) {
        this.log.debug("cannot listen on the DHCP client port; other DHCP servers will not be detected", { iface: info.name, error: (err as Error).message });
      }
    }
    this.served.set(info.name, served);
  }

  private async openFallback(): Promise<void> {
    this.fallbackInfo = this.watch?.current() ?? [];
    const ports = this.binlPort ? [this.port, this.binlPort] : [this.port];
    for (const port of ports) {
      const ep: Endpoint = { port, sock: undefined };
      ep.sock = await openDhcpSocket({
        port,
        log: this.log,
        forceFallback: true,
        onMessage: (data, from) => this.onPacket(this.fallbackInterface(from.address), "", ep, data, from),
      });
      ep.port = ep.sock.port;
      this.fallback.push(ep.sock);
    }
    this.log.warn("DHCP sockets are not bound to interfaces: requests are not told apart by interface and replies follow the routing table (needs a default route on the served segment)");
  }

  /**
   * Fallback mode only: the interface a packet most likely came by. A relay's (or a renewing
   * client's) source address names its network; a broadcast from 0.0.0.0 is only attributable when
   * a single interface is served.
   */
  private fallbackInterface(from: string): NetInterface | undefined {
    const list = this.fallbackInfo;
    return list.find((i) => cidrContains(i.cidr, from)) ?? (list.length === 1 ? list[0] : undefined);
  }

  private onPacket(info: NetInterface | undefined, iface: string, ep: Endpoint, data: Uint8Array, from: { address: string; port: number }): void {
    const localPort = ep.port;
    this.counters.received++;
    if (data.length > MAX_REQUEST_SIZE) {
      this.drop(iface, from, headerMac(data), "oversized", `${data.length} bytes is more than the ${MAX_REQUEST_SIZE} bytes a DHCP message may use`);
      return;
    }
    let req: DhcpPacket;
    try {
      req = parsePacket(data);
    } catch (err) {
      this.drop(iface, from, headerMac(data), err instanceof DhcpParseError ? err.reason : "parse-error", (err as Error).message);
      return;
    }
    if (req.op === BOOTREPLY) {
      this.noteForeignReply(iface, info, req, from);
      return;
    }
    if (req.op !== BOOTREQUEST) {
      this.drop(iface, from, headerMac(data), "bad-op", `op ${req.op} is neither BOOTREQUEST nor BOOTREPLY`);
      return;
    }
    if (localPort === DHCP_CLIENT_PORT) return; // another client's request seen on the client port: not ours to answer
    if (!hasMagicCookie(data)) {
      // The codec reads a cookie-less request as plain BOOTP (RFC 951); Socle serves DHCP only, and a
      // vendor area that starts with anything else is far more often garbage than a BOOTP client.
      const got = hex(data.subarray(236, 240));
      this.drop(iface, from, headerMac(data), "bad-cookie", `no DHCP magic cookie 63825363 at offset 236 (got "${got}"); plain BOOTP is not served`);
      return;
    }
    this.requestTypes[messageTypeOf(req)]!++;
    const ctx: DhcpContext = {
      iface,
      serverAddress: info ? this.serverAddress(info) : "0.0.0.0",
      ifaceCidr: info?.cidr ?? "",
      localPort,
      from,
      now: this.now(),
    };
    const job = this.answer(req, ctx, ep).finally(() => this.inFlight.delete(job));
    this.inFlight.add(job);
  }

  private async answer(req: DhcpPacket, ctx: DhcpContext, ep: Endpoint): Promise<void> {
    const mac = macString(req.chaddr, req.htype, req.hlen);
    try {
      const reply = await this.opts.handler(req, ctx);
      if (!reply) {
        this.counters.ignored++;
        return;
      }
      const bytes = formatPacket(reply.packet, { maxSize: replyMaxSize(req) });
      // The reply leaves by the socket the request came in on: same interface, same local port.
      const sock = ep.sock;
      if (!sock || !sock.send(bytes, reply.to.address, reply.to.port)) {
        this.counters.sendFailures++;
        this.errorLog(`send:${ctx.iface}`, "cannot send DHCP reply", { iface: ctx.iface, mac, to: `${reply.to.address}:${reply.to.port}`, reason: sock ? "send refused" : "socket closed" });
        return;
      }
      this.counters.replied++;
      this.replyTypes[messageTypeOf(reply.packet)]!++;
    } catch (err) {
      // The handler throws DhcpParseError for requests it cannot make sense of (non-Ethernet
      // hardware, malformed option 53 ...): a malformed packet, not a server fault.
      if (err instanceof DhcpParseError) {
        this.drop(ctx.iface, ctx.from, mac, err.reason, err.message);
        return;
      }
      if (err instanceof SocleError && err.type === "Unavailable") {
        this.counters.unconfirmed++;
        this.opts.timeline?.record(macFromBytes(req.chaddr), Kind.Dhcp, messageTypeOf(req), DhcpOutcome.Unconfirmed, -1, ctx.localPort, "", err.message, "", "", "");
        this.unconfirmedLog(`unconfirmed:${ctx.iface}`, `DHCP lease not confirmed (${err.message}); no reply sent, the client retries`, { iface: ctx.iface, mac, xid: hex8(req.xid) });
        return;
      }
      this.counters.handlerErrors++;
      this.errorLog(`handler:${ctx.iface}`, "DHCP handler failed", { iface: ctx.iface, mac, xid: hex8(req.xid), error: (err as Error).message });
    }
  }

  private drop(iface: string, from: { address: string; port: number }, mac: string | undefined, reason: string, detail: string): void {
    this.counters.dropped++;
    this.dropReasons.set(reason, (this.dropReasons.get(reason) ?? 0) + 1);
    this.dropLog(`drop:${iface}:${reason}`, "dropped malformed DHCP packet", {
      iface,
      from: `${from.address}:${from.port}`,
      ...(mac ? { mac } : {}),
      reason,
      error: detail,
    });
    const n = mac === undefined ? undefined : macFromString(mac);
    if (n !== undefined) this.opts.timeline?.record(n, Kind.DhcpDrop, 0, 0, -1, 0, from.address, detail, reason, "", iface);
  }

  private noteForeignReply(iface: string, info: NetInterface | undefined, reply: DhcpPacket, from: { address: string; port: number }): void {
    const idOpt = reply.options.get(OPT.SERVER_ID);
    // Our own broadcast replies come back to our port-68 socket: sent from one of our interface
    // addresses, naming ours (or the HA pair's shared address). The identifier alone proves
    // nothing: a server elsewhere naming our address is a rogue server hiding behind it.
    const serverId = idOpt && idOpt.length === 4 ? idOpt.join(".") : from.address;
    const fromUs = this.isInterfaceAddress(from.address);
    if (fromUs && (this.isInterfaceAddress(serverId) || this.isOwnAddress(serverId))) return;
    // The HA partner answers as the pair, from its own address: not a rogue server.
    const shared = !fromUs && this.isOwnAddress(serverId) && !this.isInterfaceAddress(serverId);
    this.counters.foreignReplies++;
    // Every one, before the warning's rate limit: the timeline shows which client it answered.
    if (reply.hlen === 6) {
      this.opts.timeline?.record(macFromBytes(reply.chaddr), Kind.DhcpForeign, messageTypeOf(reply), shared ? Foreign.Partner : Foreign.Rogue, -1, 0, reply.yiaddr, reply.file, serverId, from.address, iface || info?.name || "");
    }
    if (this.opts.onForeignReply) {
      try {
        this.opts.onForeignReply(reply, from, iface || info?.name || "");
      } catch (err) {
        this.errorLog(`foreign:${iface}`, "DHCP foreign-reply hook failed", { iface, server: serverId, error: (err as Error).message });
      }
    }
    if (shared) return; // the HA partner, answering as the pair: not a rogue server
    const key = `${iface}|${serverId}`;
    const at = this.now();
    const last = this.rogueSeen.get(key);
    if (last !== undefined && at - last < ROGUE_LOG_MS) return;
    if (this.rogueSeen.size > 1000) this.rogueSeen.clear();
    this.rogueSeen.set(key, at);
    this.log.warn("another DHCP server answers on this segment", {
      iface: iface || info?.name || "",
      server: serverId,
      from: from.address,
      mac: macString(reply.chaddr, reply.htype, reply.hlen),
    });
  }

  /** The handler's server address on an interface; a throwing override falls back to the primary address. */
  private serverAddress(info: NetInterface): string {
    if (!this.opts.serverAddressFor) return info.address;
    try {
      return this.opts.serverAddressFor(info);
    } catch (err) {
      this.errorLog(`server-address:${info.name}`, "DHCP server address override failed; using the interface address", { iface: info.name, address: info.address, error: (err as Error).message });
      return info.address;
    }
  }

  /** An address of one of our served interfaces. */
  private isInterfaceAddress(address: string): boolean {
    for (const s of this.served.values()) if (s.info.address === address) return true;
    for (const i of this.fallbackInfo) if (i.address === address) return true;
    return false;
  }

  /**
   * An address our replies may name besides the interfaces' own: what serverAddressFor answers for
   * a served interface, or one of ownAddresses (a throwing callback counts as none).
   */
  private isOwnAddress(address: string): boolean {
    if (this.opts.serverAddressFor) {
      for (const s of this.served.values()) if (this.serverAddress(s.info) === address) return true;
      for (const i of this.fallbackInfo) if (this.serverAddress(i) === address) return true;
    }
    if (!this.opts.ownAddresses) return false;
    try {
      return this.opts.ownAddresses().includes(address);
    } catch (err) {
      this.errorLog("own-addresses", "DHCP ownAddresses callback failed", { error: (err as Error).message });
      return false;
    }
  }
}

function hex8(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

function hasMagicCookie(data: Uint8Array): boolean {
  return data.length >= 240 && data[236] === 99 && data[237] === 130 && data[238] === 83 && data[239] === 99;
}

/** The client MAC from a raw header, when the fixed header is long enough to hold it. */
export function headerMac(data: Uint8Array): string | undefined {
  if (data.length < 44) return undefined;
  const htype = data[1] ?? 0;
  const hlen = data[2] ?? 0;
  if (hlen < 1 || hlen > 16) return undefined;
  return macString(data.subarray(28, 28 + hlen), htype, hlen);
}

/** Option 53's value, 0 when it is absent or not one byte (counting must never throw). */
function messageTypeOf(p: DhcpPacket): number {
  const d = p.options.get(OPT.MESSAGE_TYPE);
  return d !== undefined && d.length === 1 ? d[0]! : 0;
}

/** Non-zero counts by message type name. */
function byType(counts: Float64Array): Record<string, number> {
  const out: Record<string, number> = {};
  for (let t = 0; t < counts.length; t++) if (counts[t]! > 0) out[t === 0 ? "none" : messageTypeName(t)] = counts[t]!;
  return out;
}
