// What a PXE client says about itself: client identifier (61, RFC 2132), system architecture (93),
// network device interface (94) and machine identifier (97), all RFC 4578.

import { hex } from "./bytes.ts";
import { DhcpEncodeError } from "./errors.ts";
import { parseFail } from "./option-types.ts";

export interface ClientId {
  /** Hardware type (1 = Ethernet) or 0 for an opaque identifier, 255 for RFC 4361 IAID+DUID. */
  type: number;
  /** Everything after the type byte, zero bytes included. */
  data: Uint8Array;
}

export function decodeClientId(d: Uint8Array): ClientId {
  // RFC 2132 9.14: minimum length is 2 (type + at least one byte).
  if (d.length < 2) throw parseFail(61, "bad-length", `must be at least 2 bytes, got ${d.length}`);
  return { type: d[0]!, data: d.subarray(1) };
}

export function encodeClientId(id: ClientId): Uint8Array {
  if (!Number.isInteger(id.type) || id.type < 0 || id.type > 255 || id.data.length < 1) {
    throw new DhcpEncodeError("bad-client-id", `encode option 61 (Client Identifier): type ${id.type} with ${id.data.length} data bytes`);
  }
  const out = new Uint8Array(1 + id.data.length);
  out[0] = id.type;
  out.set(id.data, 1);
  return out;
}

/** Client system architecture types (IANA registry started by RFC 4578). */
export const ARCH_NAMES: Record<number, string> = {
  0: "x86 BIOS",
  1: "NEC/PC98",
  2: "Itanium",
  3: "DEC Alpha",
  4: "Arc x86",
  5: "Intel Lean Client",
  6: "x86 UEFI",
  7: "x64 UEFI",
  8: "EFI Xscale",
  9: "EBC (x64 UEFI on some firmware)",
  10: "ARM 32-bit UEFI",
  11: "ARM 64-bit UEFI",
  12: "PowerPC Open Firmware",
  13: "PowerPC ePAPR",
  14: "POWER OPAL v3",
  15: "x86 UEFI HTTP",
  16: "x64 UEFI HTTP",
  17: "EBC HTTP",
  18: "ARM 32-bit UEFI HTTP",
  19: "ARM 64-bit UEFI HTTP",
  20: "x86 BIOS HTTP",
  21: "ARM 32-bit U-Boot",
  22: "ARM 64-bit U-Boot",
  23: "ARM 32-bit U-Boot HTTP",
  24: "ARM 64-bit U-Boot HTTP",
  25: "RISC-V 32-bit UEFI",
  26: "RISC-V 32-bit UEFI HTTP",
  27: "RISC-V 64-bit UEFI",
  28: "RISC-V 64-bit UEFI HTTP",
  29: "RISC-V 128-bit UEFI",
  30: "RISC-V 128-bit UEFI HTTP",
  31: "s390 Basic",
  32: "s390 Extended",
  33: "MIPS 32-bit UEFI",
  34: "MIPS 64-bit UEFI",
  35: "Sunway 32-bit UEFI",
  36: "Sunway 64-bit UEFI",
  37: "LoongArch 32-bit UEFI",
  38: "LoongArch 32-bit UEFI HTTP",
  39: "LoongArch 64-bit UEFI",
  40: "LoongArch 64-bit UEFI HTTP",
  41: "ARM rpiboot",
};

export function archName(n: number): string {
  return ARCH_NAMES[n] ?? `architecture ${n}`;
}

export interface ClientNdi {
  /** 1 = UNDI */
  type: number;
  major: number;
  minor: number;
}

export function decodeClientNdi(d: Uint8Array): ClientNdi {
  if (d.length !== 3) throw parseFail(94, "bad-length", `must be 3 bytes, got ${d.length}`);
  return { type: d[0]!, major: d[1]!, minor: d[2]! };
}

export function encodeClientNdi(n: ClientNdi): Uint8Array {
  for (const v of [n.type, n.major, n.minor]) {
    if (!Number.isInteger(v) || v < 0 || v > 255) {
      throw new DhcpEncodeError("bad-ndi", `encode option 94 (Client Network Device Interface): ${v} is not a byte`);
    }
  }
  return Uint8Array.of(n.type, n.major, n.minor);
}

export interface ClientUuid {
  /** 0 = GUID (the only type RFC 4578 defines) */
  type: number;
  /**
   * The 16 bytes as a UUID string in wire order. PXE firmware copies the SMBIOS UUID, whose first
   * three fields SMBIOS 2.6+ stores little-endian, so this may differ from `dmidecode`'s spelling.
   */
  uuid: string;
}

export function decodeClientUuid(d: Uint8Array): ClientUuid {
  if (d.length !== 17) throw parseFail(97, "bad-length", `must be 17 bytes (type + 16), got ${d.length}`);
  const h = hex(d.subarray(1));
  const uuid = `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  return { type: d[0]!, uuid };
}

export function encodeClientUuid(u: ClientUuid): Uint8Array {
  const h = u.uuid.replace(/-/g, "");
  if (!/^[0-9a-fA-F]{32}$/.test(h) || !Number.isInteger(u.type) || u.type < 0 || u.type > 255) {
    throw new DhcpEncodeError("bad-uuid", `encode option 97 (Client Machine Identifier): invalid UUID "${u.uuid}"`);
  }
  const out = new Uint8Array(17);
  out[0] = u.type;
  for (let i = 0; i < 16; i++) out[i + 1] = parseInt(h.slice(i * 2, i * 2 + 2), 16);
  return out;
}
