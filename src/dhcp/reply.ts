// Building a reply packet and choosing where it goes. The handler decides WHAT to answer; this file
// knows HOW a BOOTREPLY is laid out (RFC 2131 table 3) and which options it carries.

import type { BootAnswer } from "../boot/booter.ts";
import type { ReservationConfig } from "./leases/backend.ts";
import type { DhcpContext, DhcpReply } from "./net/handler-types.ts";
import { MessageType } from "./codec/message-type.ts";
import { OPT } from "./codec/option-codes.ts";
import { BOOTREPLY, FLAG_BROADCAST, newPacket, type DhcpPacket } from "./codec/packet.ts";
import { IPXE_SUB } from "./codec/ipxe-options.ts";
import { PXE_DISCOVERY } from "./codec/pxe-vendor.ts";
import type { Scope } from "./leases/scope.ts";

/** Sent whether or not the client lists them in option 55 (RFC 2131 4.3.1 lets a server add these). */
const ALWAYS_SENT = new Set<number>([OPT.SUBNET_MASK, OPT.ROUTERS, OPT.DNS_SERVERS, OPT.DOMAIN_NAME, OPT.BROADCAST_ADDRESS]);
/** Never taken from configured options: the server computes or echoes these itself. */
const SERVER_OWNED = new Set<number>([0, 51, 52, 53, 54, 55, 57, 82, 255]);
const BOOTP_FILE_LEN = 128;
const BOOTP_SNAME_LEN = 64;

export interface ReplySpec {
  type: MessageType.DHCPOFFER | MessageType.DHCPACK | MessageType.DHCPNAK;
  req: DhcpPacket;
  ctx: DhcpContext;
  serverId: string;
  scope: Scope | undefined;
  /** Address handed out; "0.0.0.0" for NAK, INFORM and proxy replies. */
  yiaddr: string;
  /** Lease time in seconds; undefined for NAK, INFORM and proxy replies (no 51/58/59). */
  leaseSeconds: number | undefined;
  reservation: ReservationConfig | undefined;
  boot: BootAnswer | undefined;
  /** proxyDHCP or PXE boot server reply: boot information only. */
  proxy: { arch: number | undefined; toPort4011: boolean } | undefined;
  /** DHCPNAK text (option 56). */
  message?: string;
  /**
   * The configured options this reply carries (configuredOptions), rendered to wire bytes by the
   * handler, in the order to set them. undefined: chosen but left out (its value is broken); it
   * still keeps the default subnet mask or broadcast address out, as the operator configured one.
   */
  options: ReadonlyMap<number, Uint8Array | undefined>;
}

/** A configured option chosen for a reply: its code and its text, a template until rendered. */
export interface ConfiguredOption {
  code: number;
  value: string;
}

/**
 * The configured options a reply carries, before any value is rendered (a template for an option
 * the client did not ask for is never expanded, nor logged): the subnet's, then the reservation's
 * over them (same code wins), less the options the server owns, those the client did not ask for,
 * 66/67 when the boot answer decides them, and T1/T2 without a lease. None for NAKs and proxy replies.
 */
export function configuredOptions(
  s: Pick<ReplySpec, "type" | "req" | "scope" | "reservation" | "boot" | "leaseSeconds" | "proxy">,
): ConfiguredOption[] {
  if (s.type === MessageType.DHCPNAK || s.proxy || !s.scope) return [];
  const configured = new Map<number, string>();
  for (const x of s.scope.subnet.Options) configured.set(x.Code, x.Value);
  for (const x of s.reservation?.Options ?? []) configured.set(x.Code, x.Value);
  const wants = wanted(s.req);
  const out: ConfiguredOption[] = [];
  for (const [code, value] of configured) {
    if (SERVER_OWNED.has(code) || !wants(code)) continue;
    if (s.boot && (code === OPT.TFTP_SERVER_NAME || code === OPT.BOOT_FILE_NAME)) continue; // the boot answer decides
    if (s.leaseSeconds === undefined && (code === OPT.RENEWAL_TIME || code === OPT.REBINDING_TIME)) continue;
    out.push({ code, value });
  }
  return out;
}

export function buildReply(s: ReplySpec): DhcpReply {
  const { req } = s;
  const nak = s.type === MessageType.DHCPNAK;
  const relayed = req.giaddr !== "0.0.0.0";
  const p = newPacket({
    op: BOOTREPLY,
    htype: req.htype,
    chaddr: req.chaddr,
    xid: req.xid,
    // Relayed replies keep the relay's hop count (as ISC dhcpd does); RFC 2131 table 3 says 0 otherwise.
    hops: relayed ? req.hops : 0,
    // RFC 2131 4.3.2: a NAK through a relay sets the broadcast bit, the client has no address.
    flags: nak && relayed ? req.flags | FLAG_BROADCAST : req.flags,
    ciaddr: nak || s.type === MessageType.DHCPOFFER ? "0.0.0.0" : req.ciaddr,
    yiaddr: s.yiaddr,
    giaddr: req.giaddr,
  });
  const o = p.options;
  o.setMessageType(s.type);
  o.setServerId(s.serverId);
  if (nak) {
    if (s.message) o.setMessage(s.message.slice(0, 255));
    echoRelayInfo(req, p);
    return { packet: p, to: destination(s) };
  }

  const requested = parameterList(req);
  const wants = wanted(req, requested);
  if (s.leaseSeconds !== undefined) {
    o.setLeaseTime(s.leaseSeconds);
    o.setRenewalTime(Math.floor(s.leaseSeconds * 0.5));
    o.setRebindingTime(Math.floor(s.leaseSeconds * 0.875));
  }

  if (!s.proxy && s.scope) {
    if (!s.options.has(OPT.SUBNET_MASK)) o.set(OPT.SUBNET_MASK, u32Bytes(s.scope.mask));
    if (!s.options.has(OPT.BROADCAST_ADDRESS) && s.scope.prefix <= 30) o.set(OPT.BROADCAST_ADDRESS, u32Bytes(s.scope.broadcast));
    for (const [code, bytes] of s.options) {
      if (!bytes) continue;
      // A configured T1/T2 at or past the lease's end (a lease shortened below the subnet's time,
      // e.g. capped by the HA pair's MCLT) would have the client never renew: the computed ones stay.
      const renewal = code === OPT.RENEWAL_TIME || code === OPT.REBINDING_TIME;
      if (renewal && s.leaseSeconds !== undefined && (bytes.length !== 4 || new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) >= s.leaseSeconds)) continue;
      o.set(code, bytes);
    }
  }

  const nextServer =
    s.reservation?.NextServer || (!s.proxy && s.scope?.subnet.NextServer) || s.boot?.nextServer || "";
  if (nextServer) {
    p.siaddr = nextServer;
    // Some firmware (old PXE ROMs, U-Boot) reads only the BOOTP fields, never options 66/67.
    if (s.boot && nextServer.length < BOOTP_SNAME_LEN) p.sname = nextServer;
  }
  if (s.boot) {
    const file = s.boot.bootFile;
    const fits = file.length <= BOOTP_FILE_LEN && !file.includes("\u0000");
    if (fits) p.file = file;
    if (nextServer && wants(OPT.TFTP_SERVER_NAME) && requested !== undefined) o.setTftpServerName(nextServer);
    // A URL longer than the 128-byte file field can only travel in option 67.
    if ((wants(OPT.BOOT_FILE_NAME) && requested !== undefined) || !fits) o.setBootFileName(file);
    if (s.boot.httpClient) o.setVendorClass("HTTPClient"); // UEFI HTTP boot ignores offers without it
    if (s.boot.ipxe) o.setIpxeOptions([{ code: IPXE_SUB.NO_PXEDHCP, data: Uint8Array.of(1) }]);
  }

  if (s.proxy) {
    // A PXE client only takes a proxy offer that says "PXEClient" (PXE 2.1, 2.2.5).
    if (!s.boot?.httpClient) o.setVendorClass("PXEClient");
    // BIOS PXE ROMs want option 43 from a proxyDHCP, or they run boot server discovery (and wait);
    // discovery control 8 says "boot the file in this packet". EFI clients get none: EDK2 ignores
    // it, and some vendor UEFI stacks misparse it and skip the offer altogether.
    if ((s.proxy.arch ?? 0) === 0 && !s.boot?.ipxe) o.setPxeVendorOptions({ discoveryControl: PXE_DISCOVERY.USE_BOOT_FILE });
    // PXE 2.1: the boot server echoes the client's machine identifier.
    const uuid = req.options.get(OPT.CLIENT_UUID);
    if (uuid) o.set(OPT.CLIENT_UUID, uuid);
  }
  echoRelayInfo(req, p);
  return { packet: p, to: destination(s) };
}

/** RFC 3046 2.2: option 82 goes back unchanged, last (it is appended after the other options). */
function echoRelayInfo(req: DhcpPacket, p: DhcpPacket): void {
  const info = req.options.get(OPT.RELAY_AGENT_INFO);
  if (info && req.giaddr !== "0.0.0.0") p.options.set(OPT.RELAY_AGENT_INFO, info);
}

/** Whether the client wants an option: everything without option 55, else what it lists and ALWAYS_SENT. */
function wanted(req: DhcpPacket, requested = parameterList(req)): (code: number) => boolean {
  return (code) => requested === undefined || requested.includes(code) || ALWAYS_SENT.has(code);
}

/** Option 55's codes as sent. A scan of its few bytes beats building a Set twice per reply. */
function parameterList(req: DhcpPacket): Uint8Array | undefined {
  return req.options.get(OPT.PARAMETER_LIST);
}

function u32Bytes(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
}

/**
 * RFC 2131 4.1: giaddr set -> the relay's port 67; a NAK -> broadcast; ciaddr set -> unicast to it;
 * else broadcast. Unicasting an OFFER to yiaddr would need an ARP entry the client cannot answer for
 * yet, and user space cannot add one to the kernel's cache for a raw MAC, so we broadcast (allowed:
 * "the server broadcasts ... if unicast is not possible"). A PXE boot server request on 4011 comes
 * from an address the client already has: the reply goes straight back to that address and port.
 */
export function destination(s: Pick<ReplySpec, "type" | "req" | "ctx" | "proxy">): { address: string; port: number } {
  const { req, ctx } = s;
  if (req.giaddr !== "0.0.0.0") return { address: req.giaddr, port: 67 };
  if (s.proxy?.toPort4011 && ctx.from.address !== "0.0.0.0") return { address: ctx.from.address, port: ctx.from.port };
  if (s.type === MessageType.DHCPNAK) return { address: "255.255.255.255", port: 68 };
  if (req.ciaddr !== "0.0.0.0") return { address: req.ciaddr, port: 68 };
  return { address: "255.255.255.255", port: 68 };
}
