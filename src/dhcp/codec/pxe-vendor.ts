// Option 43 for PXE clients (PXE 2.1 specification, "vendor options"): what a DHCP or proxyDHCP server
// tells a PXEClient about boot server discovery. Sent only when the client's option 60 starts with
// "PXEClient". BIOS PXE ROMs need option 43 from a proxyDHCP, at least discovery control 8 ("boot the
// file named in the packet, skip discovery"), or they wait for a boot server reply; many UEFI network
// stacks ignore the boot menu sub-options entirely and some fail on them, so menus are BIOS-only.

import { byteString, ipBytes, ipString, stringBytes, u16 } from "./bytes.ts";
import { DhcpEncodeError, DhcpParseError } from "./errors.ts";
import { formatSubOptions, parseSubOptions, type SubOption } from "./sub-options.ts";

export const PXE_SUB = {
  MTFTP_IP: 1,
  MTFTP_CPORT: 2,
  MTFTP_SPORT: 3,
  MTFTP_TMOUT: 4,
  MTFTP_DELAY: 5,
  DISCOVERY_CONTROL: 6,
  DISCOVERY_MCAST_ADDR: 7,
  BOOT_SERVERS: 8,
  BOOT_MENU: 9,
  MENU_PROMPT: 10,
  MCAST_ADDRS_ALLOC: 11,
  CREDENTIAL_TYPES: 12,
  BOOT_ITEM: 71,
} as const;

/** PXE_DISCOVERY_CONTROL bits. */
export const PXE_DISCOVERY = {
  DISABLE_BROADCAST: 1,
  DISABLE_MULTICAST: 2,
  ONLY_LISTED_SERVERS: 4,
  /** Boot the file in the DHCP/proxyDHCP packet without boot server discovery. */
  USE_BOOT_FILE: 8,
} as const;

export interface PxeBootServer {
  /** Boot server type: 0 = PXE bootstrap server, 0x8000+ vendor types. */
  type: number;
  addresses: string[];
}

export interface PxeMenuItem {
  type: number;
  description: string;
}

export interface PxeVendorOptions {
  discoveryControl?: number;
  multicastAddress?: string;
  bootServers?: PxeBootServer[];
  bootMenu?: PxeMenuItem[];
  /** Seconds to show the prompt; 0 boots the first item at once, 255 waits for a key. */
  menuPrompt?: { timeout: number; prompt: string };
  /** Echoed by the client in its boot server request (port 4011): which item it chose. */
  bootItem?: { type: number; layer: number };
  /** Any other sub-option, in order after the typed ones. */
  other?: SubOption[];
}

const WHERE = "option 43 (PXE vendor options)";

function perr(detail: string): DhcpParseError {
  return new DhcpParseError("bad-pxe-option", `decode ${WHERE}: ${detail}`);
}

function eerr(detail: string): DhcpEncodeError {
  return new DhcpEncodeError("bad-pxe-option", `encode ${WHERE}: ${detail}`);
}

export function decodePxeVendorOptions(d: Uint8Array): PxeVendorOptions {
  const out: PxeVendorOptions = {};
  for (const s of parseSubOptions(d, WHERE, true)) {
    const v = s.data;
    switch (s.code) {
      case PXE_SUB.DISCOVERY_CONTROL:
        if (v.length !== 1) throw perr(`PXE_DISCOVERY_CONTROL must be 1 byte, got ${v.length}`);
        out.discoveryControl = v[0]!;
        break;
      case PXE_SUB.DISCOVERY_MCAST_ADDR:
        if (v.length !== 4) throw perr(`DISCOVERY_MCAST_ADDR must be 4 bytes, got ${v.length}`);
        out.multicastAddress = ipString(v);
        break;
      case PXE_SUB.BOOT_SERVERS: {
        const list: PxeBootServer[] = [];
        let i = 0;
        while (i < v.length) {
          if (i + 3 > v.length) throw perr(`PXE_BOOT_SERVERS entry at offset ${i} is cut off`);
          const n = v[i + 2]!;
          if (i + 3 + n * 4 > v.length) {
            throw perr(`PXE_BOOT_SERVERS entry at offset ${i} claims ${n} addresses but ${v.length - i - 3} bytes remain`);
          }
          const addresses: string[] = [];
          for (let k = 0; k < n; k++) addresses.push(ipString(v, i + 3 + k * 4));
          list.push({ type: u16(v, i), addresses });
          i += 3 + n * 4;
        }
        out.bootServers = list;
        break;
      }
      case PXE_SUB.BOOT_MENU: {
        const list: PxeMenuItem[] = [];
        let i = 0;
        while (i < v.length) {
          if (i + 3 > v.length) throw perr(`PXE_BOOT_MENU entry at offset ${i} is cut off`);
          const n = v[i + 2]!;
          if (i + 3 + n > v.length) {
            throw perr(`PXE_BOOT_MENU entry at offset ${i} claims ${n} bytes but ${v.length - i - 3} remain`);
          }
          list.push({ type: u16(v, i), description: byteString(v, i + 3, i + 3 + n) });
          i += 3 + n;
        }
        out.bootMenu = list;
        break;
      }
      case PXE_SUB.MENU_PROMPT:
        if (v.length < 1) throw perr("PXE_MENU_PROMPT is empty");
        out.menuPrompt = { timeout: v[0]!, prompt: byteString(v, 1) };
        break;
      case PXE_SUB.BOOT_ITEM:
        if (v.length !== 4) throw perr(`PXE_BOOT_ITEM must be 4 bytes, got ${v.length}`);
        out.bootItem = { type: u16(v, 0), layer: u16(v, 2) };
        break;
      default:
        (out.other ??= []).push(s);
    }
  }
  return out;
}

function u16Bytes(v: number, what: string): number[] {
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw eerr(`${what} ${v} is not a u16`);
  return [v >>> 8, v & 0xff];
}

function u8(v: number, what: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xff) throw eerr(`${what} ${v} is not a byte`);
  return v;
}

/** Encodes in sub-option code order, then `other`, then the 255 end marker PXE ROMs expect. */
export function encodePxeVendorOptions(o: PxeVendorOptions): Uint8Array {
  const subs: SubOption[] = [];
  if (o.discoveryControl !== undefined) {
    subs.push({ code: PXE_SUB.DISCOVERY_CONTROL, data: Uint8Array.of(u8(o.discoveryControl, "discovery control")) });
  }
  if (o.multicastAddress !== undefined) {
    subs.push({ code: PXE_SUB.DISCOVERY_MCAST_ADDR, data: ipBytes(o.multicastAddress, `${WHERE} multicast address`) });
  }
  if (o.bootServers) {
    const b: number[] = [];
    for (const s of o.bootServers) {
      if (s.addresses.length > 255) throw eerr(`boot server type ${s.type} lists ${s.addresses.length} addresses, more than 255`);
      b.push(...u16Bytes(s.type, "boot server type"), s.addresses.length);
      for (const a of s.addresses) b.push(...ipBytes(a, `${WHERE} boot server`));
    }
    subs.push({ code: PXE_SUB.BOOT_SERVERS, data: Uint8Array.from(b) });
  }
  if (o.bootMenu) {
    const b: number[] = [];
    for (const m of o.bootMenu) {
      const desc = stringBytes(m.description, `${WHERE} menu description`);
      if (desc.length > 255) throw eerr(`menu description "${m.description}" is more than 255 bytes`);
      b.push(...u16Bytes(m.type, "menu item type"), desc.length, ...desc);
    }
    subs.push({ code: PXE_SUB.BOOT_MENU, data: Uint8Array.from(b) });
  }
  if (o.menuPrompt) {
    const p = stringBytes(o.menuPrompt.prompt, `${WHERE} menu prompt`);
    subs.push({ code: PXE_SUB.MENU_PROMPT, data: Uint8Array.from([u8(o.menuPrompt.timeout, "prompt timeout"), ...p]) });
  }
  if (o.bootItem) {
    subs.push({
      code: PXE_SUB.BOOT_ITEM,
      data: Uint8Array.from([...u16Bytes(o.bootItem.type, "boot item type"), ...u16Bytes(o.bootItem.layer, "boot item layer")]),
    });
  }
  subs.push(...(o.other ?? []));
  return formatSubOptions(subs, WHERE, true);
}
