// Option 175, iPXE (formerly Etherboot) encapsulated options. iPXE sends them in its requests to
// announce its build: version (235), network device (177 bus-id), and one sub-option per compiled-in
// feature (codes 0x10-0x7f, value = feature version). Servers send 176 = 1 ("no-pxedhcp") so that
// iPXE does not wait for a proxyDHCP offer. Encoding is RFC 2132 style with pad and end markers.

import { u16 } from "./bytes.ts";
import { DhcpParseError } from "./errors.ts";
import { formatSubOptions, parseSubOptions, type SubOption } from "./sub-options.ts";

export const IPXE_SUB = {
  PRIORITY: 1,
  KEEP_SAN: 8,
  SKIP_SAN_BOOT: 9,
  SCRIPTLET: 81,
  SYSLOGS_SERVER: 85,
  NO_PXEDHCP: 176,
  BUS_ID: 177,
  BIOS_DRIVE: 189,
  USERNAME: 190,
  PASSWORD: 191,
  VERSION: 235,
} as const;

export const IPXE_SUB_NAMES: Record<number, string> = {
  1: "priority",
  8: "keep-san",
  9: "skip-san-boot",
  0x10: "feature pxeext",
  0x11: "feature iscsi",
  0x12: "feature aoe",
  0x13: "feature http",
  0x14: "feature https",
  0x15: "feature tftp",
  0x16: "feature ftp",
  0x17: "feature dns",
  0x18: "feature bzimage",
  0x19: "feature multiboot",
  0x1a: "feature slam",
  0x1b: "feature srp",
  0x20: "feature nbi",
  0x21: "feature pxe",
  0x22: "feature elf",
  0x23: "feature comboot",
  0x24: "feature efi",
  0x25: "feature fcoe",
  0x26: "feature vlan",
  0x27: "feature menu",
  0x28: "feature sdi",
  0x29: "feature nfs",
  81: "scriptlet",
  85: "syslogs-server",
  176: "no-pxedhcp",
  177: "bus-id",
  189: "bios-drive",
  190: "username",
  191: "password",
  235: "version",
};

/** Bus types of sub-option 177 (iPXE's BUS_TYPE_*). */
const BUS_NAMES: Record<number, string> = { 1: "PCI", 2: "ISAPnP", 3: "EISA", 4: "MCA", 5: "ISA", 6: "TAP", 7: "EFI", 8: "Xen", 9: "Hyper-V", 10: "USB" };

export interface IpxeOptions {
  subOptions: SubOption[];
  priority?: number;
  noPxeDhcp?: boolean;
  /** "PCI 8086:100e" for PCI; other buses print their type name and the raw bytes in hex. */
  busId?: string;
  version?: string;
  /** Compiled-in features by name, e.g. ["http", "https", "efi"]. */
  features: string[];
}

const WHERE = "option 175 (iPXE Encapsulated Options)";

export function decodeIpxeOptions(d: Uint8Array): IpxeOptions {
  const subOptions = parseSubOptions(d, WHERE, true);
  const out: IpxeOptions = { subOptions, features: [] };
  for (const s of subOptions) {
    const v = s.data;
    if (s.code >= 0x10 && s.code < 0x50) {
      const name = IPXE_SUB_NAMES[s.code];
      out.features.push(name ? name.replace(/^feature /, "") : `feature-${s.code}`);
      continue;
    }
    switch (s.code) {
      case IPXE_SUB.PRIORITY:
        if (v.length !== 1) throw bad("priority", 1, v.length);
        out.priority = (v[0]! << 24) >> 24; // signed byte
        break;
      case IPXE_SUB.NO_PXEDHCP:
        if (v.length !== 1) throw bad("no-pxedhcp", 1, v.length);
        out.noPxeDhcp = v[0] !== 0;
        break;
      case IPXE_SUB.BUS_ID: {
        if (v.length < 1) throw bad("bus-id", 1, 0);
        const bus = BUS_NAMES[v[0]!] ?? `bus ${v[0]}`;
        if (v[0] === 1 && v.length === 5) {
          out.busId = `${bus} ${hex4(u16(v, 1))}:${hex4(u16(v, 3))}`;
        } else {
          out.busId = `${bus} ${Array.from(v.subarray(1), (b) => b.toString(16).padStart(2, "0")).join("")}`;
        }
        break;
      }
      case IPXE_SUB.VERSION:
        if (v.length !== 3) throw bad("version", 3, v.length);
        out.version = `${v[0]}.${v[1]}.${v[2]}`;
        break;
    }
  }
  return out;
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}

function bad(what: string, want: number, got: number): DhcpParseError {
  return new DhcpParseError("bad-ipxe-option", `decode ${WHERE}: ${what} must be ${want} byte(s), got ${got}`);
}

/** Encodes sub-options with the trailing end marker, as iPXE itself writes them. */
export function encodeIpxeOptions(subs: readonly SubOption[]): Uint8Array {
  return formatSubOptions(subs, WHERE, true);
}
