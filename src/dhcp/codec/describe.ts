// describePacket: a packet as readable text, one header field per line, then options by name with
// decoded values. Used for golden files and debug logs, so it never throws: an option whose bytes do
// not decode shows the decoder's complaint and the raw hex.

import { escapeBytes, hex, ipString } from "./bytes.ts";
import { archName } from "./client-identity.ts";
import { IPXE_SUB_NAMES } from "./ipxe-options.ts";
import { messageTypeName } from "./message-type.ts";
import { OPT, optionName } from "./option-codes.ts";
import type { DhcpOptions } from "./options.ts";
import { BOOTREPLY, BOOTREQUEST, FLAG_BROADCAST, macString, type DhcpPacket } from "./packet.ts";
import { RELAY_SUB, RELAY_SUB_NAMES } from "./relay-agent.ts";
import type { SubOption } from "./sub-options.ts";

const HTYPES: Record<number, string> = { 1: "Ethernet", 6: "IEEE 802", 32: "InfiniBand" };

export function describePacket(p: DhcpPacket): string {
  const op = p.op === BOOTREQUEST ? "BOOTREQUEST" : p.op === BOOTREPLY ? "BOOTREPLY" : "unknown";
  const flags = p.flags & FLAG_BROADCAST ? " (broadcast)" : "";
  const lines = [
    `op: ${op} (${p.op})`,
    `htype: ${HTYPES[p.htype] ?? "hardware type"} (${p.htype})`,
    `hlen: ${p.hlen}`,
    `hops: ${p.hops}`,
    `xid: 0x${p.xid.toString(16).padStart(8, "0")}`,
    `secs: ${p.secs}`,
    `flags: 0x${p.flags.toString(16).padStart(4, "0")}${flags}`,
    `ciaddr: ${p.ciaddr}`,
    `yiaddr: ${p.yiaddr}`,
    `siaddr: ${p.siaddr}`,
    `giaddr: ${p.giaddr}`,
    `chaddr: ${macString(p.chaddr, p.htype, p.hlen)}`,
    `sname: "${escapeBytes(latin1(p.sname))}"`,
    `file: "${escapeBytes(latin1(p.file))}"`,
    `options:`,
    ...describeOptions(p.options).map((l) => "  " + l),
  ];
  return lines.join("\n") + "\n";
}

function latin1(s: string): Uint8Array {
  return Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff);
}

/** One line per option: "93 Client System Architecture: 7 (x64 UEFI)". */
export function describeOptions(o: DhcpOptions): string[] {
  const out: string[] = [];
  for (const [code, data] of o) {
    let value: string;
    try {
      value = describeValue(o, code, data);
    } catch (e) {
      value = `<invalid: ${e instanceof Error ? e.message : String(e)}> ${hex(data, " ")}`;
    }
    out.push(`${code} ${optionName(code)}: ${value}`);
  }
  return out;
}

const quote = (b: Uint8Array) => `"${escapeBytes(b)}"`;
const subList = (subs: SubOption[], names: Record<number, string>) =>
  subs.map((s) => `${names[s.code] ?? `sub-option ${s.code}`}=${quote(s.data)}`).join(" ");

function describeValue(o: DhcpOptions, code: number, data: Uint8Array): string {
  switch (code) {
    case OPT.MESSAGE_TYPE:
      return messageTypeName(o.getMessageType()!);
    case OPT.SUBNET_MASK:
    case OPT.BROADCAST_ADDRESS:
    case OPT.REQUESTED_IP:
    case OPT.SERVER_ID:
    case 150:
      if (data.length !== 4) throw new Error(`must be 4 bytes, got ${data.length}`);
      return ipString(data);
    case OPT.ROUTERS:
    case OPT.DNS_SERVERS:
    case OPT.NTP_SERVERS:
    case OPT.TIME_SERVERS:
    case OPT.NAME_SERVERS:
    case OPT.LOG_SERVERS:
      if (data.length === 0 || data.length % 4) throw new Error(`length ${data.length} is not a non-zero multiple of 4`);
      return Array.from({ length: data.length / 4 }, (_, i) => ipString(data, i * 4)).join(", ");
    case OPT.LEASE_TIME:
      return seconds(o.getLeaseTime()!);
    case OPT.RENEWAL_TIME:
      return seconds(o.getRenewalTime()!);
    case OPT.REBINDING_TIME:
      return seconds(o.getRebindingTime()!);
    case OPT.MAX_MESSAGE_SIZE:
      return String(o.getMaxMessageSize());
    case OPT.PARAMETER_LIST:
      return data.length === 0 ? "(empty)" : Array.from(data, (c) => `${c}`).join(" ");
    case OPT.HOST_NAME:
    case OPT.DOMAIN_NAME:
    case OPT.ROOT_PATH:
    case OPT.MESSAGE:
    case OPT.VENDOR_CLASS:
    case OPT.TFTP_SERVER_NAME:
    case OPT.BOOT_FILE_NAME:
    case 209:
    case 210:
      return quote(data);
    case OPT.CLIENT_ID: {
      const id = o.getClientId()!;
      return id.type === 1 && id.data.length === 6
        ? `hardware type 1, ${hex(id.data, ":")}`
        : `type ${id.type}, ${hex(id.data, ":")}`;
    }
    case OPT.USER_CLASS: {
      const u = o.getUserClassDetail()!;
      return `${u.form === "plain" ? "plain string" : "RFC 3004"} ${u.classes.map((c) => quote(latin1(c))).join(", ")}`;
    }
    case OPT.RELAY_AGENT_INFO: {
      const info = o.getRelayAgentInfo()!;
      return info.subOptions
        .map((s) => {
          const name = RELAY_SUB_NAMES[s.code] ?? `sub-option ${s.code}`;
          const ip = s.code === RELAY_SUB.LINK_SELECTION || s.code === RELAY_SUB.SERVER_ID_OVERRIDE;
          return `${name}=${ip ? ipString(s.data) : quote(s.data)}`;
        })
        .join(" ");
    }
    case OPT.CLIENT_ARCH:
      return o.getClientArch()!.map((a) => `${a} (${archName(a)})`).join(", ") || "(empty)";
    case OPT.CLIENT_NDI: {
      const n = o.getClientNdi()!;
      return `${n.type === 1 ? "UNDI" : `type ${n.type}`} ${n.major}.${n.minor}`;
    }
    case OPT.CLIENT_UUID: {
      const u = o.getClientUuid()!;
      return `${u.type === 0 ? "GUID" : `type ${u.type}`} ${u.uuid}`;
    }
    case OPT.DOMAIN_SEARCH:
      return o.getDomainSearch()!.join(", ");
    case OPT.CLASSLESS_ROUTES:
      return o.getClasslessRoutes()!.map((r) => `${r.destination} via ${r.router}`).join(", ") || "(empty)";
    case OPT.VENDOR_ID_CLASS:
      return o
        .getVendorIdentifyingClass()!
        .map((e) => `enterprise ${e.enterprise} ${e.classes.map(quote).join(", ")}`)
        .join("; ");
    case OPT.VENDOR_ID_INFO:
      return o
        .getVendorIdentifyingInfo()!
        .map((e) => `enterprise ${e.enterprise} ${subList(e.subOptions, {})}`)
        .join("; ");
    case OPT.VENDOR_SPECIFIC:
      return describePxe(o, data);
    case OPT.IPXE: {
      const x = o.getIpxeOptions()!;
      const parts: string[] = [];
      if (x.version !== undefined) parts.push(`version=${x.version}`);
      if (x.busId !== undefined) parts.push(`bus-id="${x.busId}"`);
      if (x.priority !== undefined) parts.push(`priority=${x.priority}`);
      if (x.noPxeDhcp !== undefined) parts.push(`no-pxedhcp=${x.noPxeDhcp ? 1 : 0}`);
      if (x.features.length) parts.push(`features=${x.features.join(",")}`);
      const known = new Set([1, 176, 177, 235]);
      const other = x.subOptions.filter((s) => !known.has(s.code) && !(s.code >= 0x10 && s.code < 0x50));
      if (other.length) parts.push(subList(other, IPXE_SUB_NAMES));
      return parts.join(" ") || "(empty)";
    }
    default:
      return data.length === 0 ? "(empty)" : hex(data, " ");
  }
}

/** Option 43 is PXE sub-options only for PXE clients; anything else shows raw. */
function describePxe(o: DhcpOptions, data: Uint8Array): string {
  let pxe;
  try {
    pxe = o.getPxeVendorOptions()!;
  } catch {
    return hex(data, " ");
  }
  const parts: string[] = [];
  if (pxe.discoveryControl !== undefined) parts.push(`discovery-control=${pxe.discoveryControl}`);
  if (pxe.multicastAddress !== undefined) parts.push(`mcast=${pxe.multicastAddress}`);
  if (pxe.bootServers) parts.push(`boot-servers=${pxe.bootServers.map((s) => `${s.type}:${s.addresses.join("/")}`).join(",")}`);
  if (pxe.bootMenu) parts.push(`boot-menu=${pxe.bootMenu.map((m) => `${m.type}:"${m.description}"`).join(",")}`);
  if (pxe.menuPrompt) parts.push(`prompt=${pxe.menuPrompt.timeout}:"${pxe.menuPrompt.prompt}"`);
  if (pxe.bootItem) parts.push(`boot-item=${pxe.bootItem.type}:${pxe.bootItem.layer}`);
  if (pxe.other) parts.push(subList(pxe.other, {}));
  return `PXE ${parts.join(" ")}`.trim() + ` (${hex(data, " ")})`;
}

function seconds(n: number): string {
  return `${n}s`;
}
