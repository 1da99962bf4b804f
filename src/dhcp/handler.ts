// The DHCP request handler: RFC 2131 semantics over the lease engine, boot answers from the Booter,
// proxyDHCP (PXE 2.1) on 67 and 4011. One packet in, at most one reply out; it never touches sockets.
//
// A request the handler cannot make sense of (non-Ethernet hardware, a malformed option 53, a
// DHCPREQUEST with neither server id, ciaddr nor requested address) is thrown as DhcpParseError with
// the reason: the server logs one line and drops it. Malformed options that are not essential
// (93, 77, 60, 97, 50, 54, 82 sub-options ...) are treated as absent, with a debug line.

import type { BootAnswer, Booter, ClientFacts } from "../boot/booter.ts";
import { isNetbootClient } from "../boot/loaders.ts";
import { rateLimited, type Logger } from "../log/logger.ts";
import { ipIntOf } from "../model/validate.ts";
import type { AllocationPolicy, DhcpBackend } from "./leases/backend.ts";
import { DhcpParseError } from "./codec/errors.ts";
import type { DhcpContext, DhcpHandler, DhcpReply } from "./net/handler-types.ts";
import { LeaseEngine, type Grant } from "./leases/leases.ts";
import { MessageType, messageTypeName } from "./codec/message-type.ts";
import { OptionRenderer, templateData, type OptionTemplateData } from "./option-templates.ts";
import { BOOTREQUEST, macString, type DhcpPacket } from "./codec/packet.ts";
import { buildReply, configuredOptions, type ReplySpec } from "./reply.ts";
import { chooseLink, type LinkChoice } from "./link-choice.ts";
import { scopeContains, type Scope } from "./leases/scope.ts";
import { DhcpOutcome, Kind } from "../timeline/kinds.ts";
import { macFromBytes } from "../timeline/mac.ts";
import type { Timeline } from "../timeline/recorder.ts";

/** Outcomes that tie an address to the client (an offer is not taken yet): the timeline attributes TFTP and HTTP by it. */
const LEARNS: ReadonlySet<number> = new Set([DhcpOutcome.Ack, DhcpOutcome.BootServerAck, DhcpOutcome.InformAck]);

export interface DhcpHandlerOptions {
  backend: DhcpBackend;
  booter: Booter;
  log: Logger;
  /** Clock for lease times; defaults to each request's ctx.now. */
  now?: () => number;
  /** Which dynamic addresses this server may grant or renew, and for how long; default ALLOW_ALL. */
  policy?: AllocationPolicy;
  /** Where each request and what became of it is recorded (the boot timeline). */
  timeline?: Timeline;
}

/** What the client says about itself; each getter that throws on malformed bytes counts as absent. */
interface ClientInfo {
  mac: string;
  arch: number | undefined;
  userClass: string;
  vendorClass: string;
  uuid: string;
  hostname: string;
  requested: string | undefined;
  serverId: string | undefined;
}

export function createDhcpHandler(opts: DhcpHandlerOptions): DhcpHandler {
  const { backend, booter, log } = opts;
  let requestTime = 0;
  const now = opts.now ?? (() => requestTime);
  const engine = new LeaseEngine({ backend, now, policy: opts.policy });
  const renderer = new OptionRenderer(log);
  const exhausted = rateLimited(log, 60_000, 1);
  const recordFailed = rateLimited(log);
  const timeline = opts.timeline;

  return async (req, ctx) => {
    requestTime = ctx.now;
    if (req.op !== BOOTREQUEST) return undefined; // another server's reply seen on port 67
    if (req.htype !== 1 || req.hlen !== 6) {
      throw new DhcpParseError("bad-htype", `drop request: hardware type ${req.htype} with hlen ${req.hlen} is not Ethernet (1, 6)`);
    }
    const type = req.options.getMessageType(); // malformed 53: the error propagates, the packet is dropped
    const info = clientInfo(req, log);
    if (type === undefined) {
      log.debug("BOOTP request ignored: no option 53", { mac: info.mac });
      return undefined;
    }
    const link = chooseLink(req, ctx, backend.subnets());
    if (link.relayInfoError) log.debug("option 82 ignored", { mac: info.mac, error: link.relayInfoError });
    const scope = link.scope;

    const r = new Request(req, ctx, info, link, engine, booter, renderer, log);
    const reply = await answer(r, type, scope);
    // One row per request with what became of it; a request that threw is the server's drop row.
    if (timeline) {
      // After the lease is committed: a failure here must not cost the client its answer.
      try {
        const mac = macFromBytes(req.chaddr);
        timeline.record(mac, Kind.Dhcp, type, r.outcome, info.arch ?? -1, ctx.localPort, r.addr, r.text, info.vendorClass, info.userClass, link.via ?? "");
        if (r.addr && LEARNS.has(r.outcome)) timeline.learn(r.addr, mac);
      } catch (err) {
        recordFailed("timeline", "boot timeline record failed", { mac: info.mac, error: err instanceof Error ? err.message : String(err) });
      }
    }
    return reply;
  };

  async function answer(r: Request, type: MessageType, scope: Scope | undefined): Promise<DhcpReply | undefined> {
    const { info, ctx, req } = r;
    if (ctx.localPort === 4011) return r.bootServer(type);
    if (!scope) {
      log.debug(`${messageTypeName(type)} ignored: no subnet for link`, { mac: info.mac, link: r.link.link, iface: ctx.iface });
      return r.ignored(DhcpOutcome.NoSubnet, r.link.via ? `relay ${r.link.via}, link ${r.link.link}` : `link ${r.link.link || "unknown"} on ${ctx.iface || "the fallback socket"}`);
    }
    if (scope.subnet.Proxy) {
      if (!scope.subnet.Enabled) return r.ignored(DhcpOutcome.Disabled, scope.subnet.Name);
      return type === MessageType.DHCPDISCOVER ? r.proxyOffer(scope) : r.ignored(DhcpOutcome.Ignored, "proxyDHCP answers DHCPDISCOVER only");
    }

    switch (type) {
      case MessageType.DHCPDISCOVER: {
        const o = engine.offer(info.mac, scope, info.requested, ctx.serverAddress);
        if (o.reason !== undefined) {
          if (o.exhausted) exhausted(`pool:${scope.subnet.Name}`, "DHCPDISCOVER not answered: pool exhausted", { mac: info.mac, reason: o.reason });
          else log.debug("DHCPDISCOVER not answered", { mac: info.mac, reason: o.reason });
          return r.ignored(o.exhausted ? DhcpOutcome.PoolExhausted : DhcpOutcome.Ignored, o.reason);
        }
        return r.lease(MessageType.DHCPOFFER, scope, o.grant);
      }
      case MessageType.DHCPREQUEST:
        return r.request(scope);
      case MessageType.DHCPDECLINE: {
        if (!r.forUs()) return r.ignored(DhcpOutcome.OtherServer, info.serverId ?? "");
        if (!info.requested) throw new DhcpParseError("bad-decline", "drop DHCPDECLINE: no requested address (option 50)");
        const why = await engine.decline(info.mac, info.requested, r.link.via);
        if (why) log.info("DHCPDECLINE ignored", { mac: info.mac, addr: info.requested, reason: why });
        else log.warn("DHCPDECLINE: address in use on the network, held back", { mac: info.mac, addr: info.requested });
        r.addr = info.requested;
        return r.ignored(DhcpOutcome.Declined, why ?? "");
      }
      case MessageType.DHCPRELEASE: {
        if (!r.forUs()) return r.ignored(DhcpOutcome.OtherServer, info.serverId ?? "");
        const why = await engine.release(info.mac, req.ciaddr);
        if (why) log.debug("DHCPRELEASE ignored", { mac: info.mac, addr: req.ciaddr, reason: why });
        else log.info("DHCPRELEASE", { mac: info.mac, addr: req.ciaddr });
        r.addr = req.ciaddr;
        return r.ignored(DhcpOutcome.Released, why ?? "");
      }
      case MessageType.DHCPINFORM:
        return r.inform(scope);
      default:
        log.debug(`${messageTypeName(type)} ignored`, { mac: info.mac });
        return r.ignored(DhcpOutcome.Ignored, `${messageTypeName(type)} is not served`);
    }
  }
}

/** One request being answered: its facts, link and the shared engine, and what became of it. */
class Request {
  /** What became of it, for the timeline (DhcpOutcome), with the address given and the boot file or reason. */
  outcome: number = DhcpOutcome.Ignored;
  addr = "";
  text = "";

  constructor(
    readonly req: DhcpPacket,
    readonly ctx: DhcpContext,
    readonly info: ClientInfo,
    readonly link: LinkChoice,
    readonly engine: LeaseEngine,
    readonly booter: Booter,
    readonly renderer: OptionRenderer,
    readonly log: Logger,
  ) {}

  ignored(outcome: number, why: string): undefined {
    this.outcome = outcome;
    this.text = why;
    return undefined;
  }

  /** A server identifier naming another server means the message is not for us (RFC 2131 4.3.2). */
  forUs(): boolean {
    const sid = this.info.serverId;
    return sid === undefined || sid === this.link.serverId || sid === this.ctx.serverAddress;
  }

  async request(scope: Scope): Promise<DhcpReply | undefined> {
    const { req, info, engine, log } = this;
    let addr: string;
    let state: string;
    if (info.serverId !== undefined) {
      if (!this.forUs()) {
        engine.dropOffer(info.mac); // the client chose another server's offer
        log.debug("DHCPREQUEST for another server ignored", { mac: info.mac, serverId: info.serverId });
        return this.ignored(DhcpOutcome.OtherServer, info.serverId);
      }
      if (!info.requested) return this.nak(scope, "DHCPREQUEST in SELECTING state without a requested address");
      addr = info.requested;
      state = "SELECTING";
    } else if (req.ciaddr !== "0.0.0.0") {
      addr = req.ciaddr;
      state = "RENEWING/REBINDING"; // unicast or broadcast: the socket does not tell us which
    } else if (info.requested) {
      addr = info.requested;
      state = "INIT-REBOOT";
      const n = ipIntOf(addr);
      if (n === undefined || !scopeContains(scope, n)) {
        return this.nak(scope, `requested address "${addr}" is not on this network (${scope.subnet.Subnet})`);
      }
      if (!engine.knows(scope, info.mac, addr)) {
        // RFC 2131 4.3.2: "If the DHCP server has no record of this client, then it MUST remain silent".
        log.debug("DHCPREQUEST (INIT-REBOOT) from an unknown client: silent", { mac: info.mac, addr });
        this.addr = addr;
        return this.ignored(DhcpOutcome.UnknownClient, "no record of this client (RFC 2131: silent)");
      }
    } else {
      throw new DhcpParseError("bad-request", "drop DHCPREQUEST: no server identifier, ciaddr or requested address");
    }
    const c = await engine.commit(info.mac, scope, addr, {
      via: this.link.via,
      hostname: info.hostname,
      serverAddress: this.ctx.serverAddress,
    });
    if (c.nak !== undefined) return this.nak(scope, c.nak, state);
    return this.lease(MessageType.DHCPACK, scope, c.grant, state);
  }

  nak(scope: Scope, reason: string, state?: string): DhcpReply {
    this.log.info("DHCPNAK", { mac: this.info.mac, reason, ...(state ? { state } : {}) });
    this.outcome = DhcpOutcome.Nak;
    this.text = reason;
    return buildReply(this.spec(MessageType.DHCPNAK, scope, { yiaddr: "0.0.0.0", message: reason }));
  }

  /** An OFFER or ACK of `g`; its debug line says who asked (vendor and user class) and the boot file given, if any. */
  lease(type: MessageType.DHCPOFFER | MessageType.DHCPACK, scope: Scope, g: Grant, state?: string): DhcpReply {
    const boot = this.boot(g.addr);
    const i = this.info;
    this.outcome = type === MessageType.DHCPOFFER ? DhcpOutcome.Offer : DhcpOutcome.Ack;
    this.addr = g.addr;
    this.text = boot?.bootFile ?? "";
    this.log.debug(messageTypeName(type), {
      mac: i.mac,
      addr: g.addr,
      ...(state ? { state } : {}),
      subnet: scope.subnet.Name,
      vendorClass: i.vendorClass,
      userClass: i.userClass,
      file: boot?.bootFile ?? "",
    });
    return buildReply(this.spec(type, scope, { yiaddr: g.addr, leaseSeconds: g.seconds, reservation: g.reservation, boot }));
  }

  /** DHCPINFORM: configuration only; the client has its address (ciaddr), we record nothing. */
  inform(scope: Scope): DhcpReply | undefined {
    if (this.req.ciaddr === "0.0.0.0") {
      throw new DhcpParseError("bad-inform", "drop DHCPINFORM: ciaddr is 0.0.0.0");
    }
    const reservation = this.engine.reservationIn(scope, this.info.mac);
    this.log.debug("DHCPACK to DHCPINFORM", { mac: this.info.mac, ciaddr: this.req.ciaddr });
    const boot = this.boot(this.req.ciaddr);
    this.outcome = DhcpOutcome.InformAck;
    this.addr = this.req.ciaddr;
    this.text = boot?.bootFile ?? "";
    return buildReply(this.spec(MessageType.DHCPACK, scope, { yiaddr: "0.0.0.0", reservation, boot }));
  }

  /** proxyDHCP on port 67: a PXE client's DISCOVER gets boot information, no address. */
  proxyOffer(scope: Scope): DhcpReply | undefined {
    if (!isNetbootClient(this.info, "proxy")) return this.ignored(DhcpOutcome.NotNetboot, "");
    const boot = this.boot(this.req.ciaddr === "0.0.0.0" ? "" : this.req.ciaddr);
    if (!boot) return this.ignored(DhcpOutcome.NoBootAnswer, "");
    this.log.debug("proxy DHCPOFFER", { mac: this.info.mac, file: boot.bootFile });
    this.outcome = DhcpOutcome.ProxyOffer;
    this.text = boot.bootFile;
    return buildReply(
      this.spec(MessageType.DHCPOFFER, scope, { yiaddr: "0.0.0.0", boot, proxy: { arch: this.info.arch, toPort4011: false } }),
    );
  }

  /** PXE boot server (port 4011): a DHCPREQUEST (or INFORM) from a client with an address gets a DHCPACK. */
  bootServer(type: MessageType): DhcpReply | undefined {
    if (type !== MessageType.DHCPREQUEST && type !== MessageType.DHCPINFORM) return this.ignored(DhcpOutcome.Ignored, "the PXE boot server answers DHCPREQUEST and DHCPINFORM only");
    if (!isNetbootClient(this.info, "proxy")) return this.ignored(DhcpOutcome.NotNetboot, "");
    const scope = this.link.scope;
    if (scope && !scope.subnet.Enabled) return this.ignored(DhcpOutcome.Disabled, scope.subnet.Name);
    const address = this.req.ciaddr !== "0.0.0.0" ? this.req.ciaddr : this.ctx.from.address === "0.0.0.0" ? "" : this.ctx.from.address;
    const boot = this.boot(address);
    if (!boot) return this.ignored(DhcpOutcome.NoBootAnswer, "");
    this.log.debug("PXE boot server DHCPACK", { mac: this.info.mac, file: boot.bootFile });
    this.outcome = DhcpOutcome.BootServerAck;
    this.addr = address;
    this.text = boot.bootFile;
    return buildReply(
      this.spec(MessageType.DHCPACK, scope, { yiaddr: "0.0.0.0", boot, proxy: { arch: this.info.arch, toPort4011: true } }),
    );
  }

  boot(address: string): BootAnswer | undefined {
    const { info } = this;
    const facts: ClientFacts = {
      mac: info.mac,
      arch: info.arch,
      userClass: info.userClass,
      vendorClass: info.vendorClass,
      uuid: info.uuid,
      relay: this.link.via,
      clientAddress: address,
      serverAddress: this.ctx.serverAddress,
    };
    try {
      return this.booter.dhcpBoot(facts);
    } catch (e) {
      this.log.error("boot decision failed; answering without boot information", { mac: info.mac, error: e instanceof Error ? e.message : String(e) });
      return undefined;
    }
  }

  /** The reply to build: the configured options it carries are chosen, then rendered here. */
  spec(
    type: ReplySpec["type"],
    scope: Scope | undefined,
    s: Partial<Pick<ReplySpec, "leaseSeconds" | "reservation" | "boot" | "proxy" | "message">> & { yiaddr: string },
  ): ReplySpec {
    const reply = {
      type,
      req: this.req,
      ctx: this.ctx,
      serverId: this.link.serverId,
      scope,
      yiaddr: s.yiaddr,
      leaseSeconds: s.leaseSeconds,
      reservation: s.reservation,
      boot: s.boot,
      proxy: s.proxy,
      message: s.message,
    };
    // The request view is made once, and only if a chosen value is a template.
    let data: OptionTemplateData | undefined;
    const view = () =>
      (data ??= templateData(this.req, {
        mac: this.info.mac,
        address: s.yiaddr === "0.0.0.0" ? "" : s.yiaddr,
        serverAddress: this.ctx.serverAddress,
        subnet: scope?.subnet.Name ?? "",
        arch: this.info.arch,
        userClass: this.info.userClass,
        vendorClass: this.info.vendorClass,
        uuid: this.info.uuid,
      }));
    const options = new Map<number, Uint8Array | undefined>();
    for (const { code, value } of configuredOptions(reply)) options.set(code, this.renderer.encode(code, value, view, this.info.mac));
    return { ...reply, options };
  }
}

function clientInfo(req: DhcpPacket, log: Logger): ClientInfo {
  const mac = macString(req.chaddr, req.htype, req.hlen);
  const o = req.options;
  const safe = <T>(code: number, get: () => T | undefined): T | undefined => {
    if (!o.has(code)) return undefined;
    try {
      return get();
    } catch (e) {
      if (!(e instanceof DhcpParseError)) throw e;
      log.debug(`option ${code} ignored`, { mac, error: e.message });
      return undefined;
    }
  };
  const userClass = safe(77, () => o.getUserClass()) ?? [];
  return {
    mac,
    arch: safe(93, () => o.getClientArch()?.[0]),
    userClass: userClass.join(","),
    vendorClass: safe(60, () => o.getVendorClass()) ?? "",
    uuid: safe(97, () => o.getClientUuid()?.uuid) ?? "",
    hostname: safe(12, () => o.getHostName()) ?? "",
    requested: safe(50, () => o.getRequestedIp()),
    serverId: safe(54, () => o.getServerId()),
  };
}
