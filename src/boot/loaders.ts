// Which first-stage loader a firmware gets, by its client architecture (RFC 4578 option 93, IANA
// "Processor Architecture Types") and user class.
//
// Folklore:
// - Classic BIOS PXE ROMs (PXE 2.0, some 2.1 builds) send no option 93: no arch means BIOS.
// - iPXE says "iPXE" in the user class whatever firmware it runs on; it is asked first, or iPXE
//   would be handed iPXE again, in a loop.
// - Several x64 UEFI builds send 9 ("EBC") where 7 is meant; both get the x64 loader.
// - UEFI HTTP boot (16 x64, 19 arm64) fetches a URL itself and needs option 60 "HTTPClient";
//   without it OVMF ignores the offer.
// - BootEnv.Loaders is keyed by Go architecture names (the machine model's Arch). Firmware
//   types map onto them: x86 BIOS and IA32 UEFI -> "386" (their loaders are 32-bit x86 code,
//   whatever the CPU), x64 UEFI -> "amd64", ARM 64-bit UEFI -> "arm64", ARM 32-bit -> "arm".

import type { ClientFacts } from "./booter.ts";

export interface LoaderChoice {
  /** File name of the loader (a TFTP path, or appended to the HTTP base URL). */
  file: string;
  /** Fetched by the firmware over HTTP (UEFI HTTP boot) rather than TFTP. */
  http: boolean;
  /** The BootEnv.Loaders key that may override `file`. */
  goArch: string;
}

const TFTP: Readonly<Record<number, { file: string; goArch: string }>> = {
  0: { file: "undionly.kpxe", goArch: "386" },
  6: { file: "ipxe.efi", goArch: "386" },
  7: { file: "ipxe.efi", goArch: "amd64" },
  9: { file: "ipxe.efi", goArch: "amd64" },
  10: { file: "ipxe-arm32.efi", goArch: "arm" },
  // Debian builds no arm64 iPXE; its signed GRUB network image is the arm64 loader (grub-dispatch.ts).
  11: { file: "grubnetaa64.efi", goArch: "arm64" },
};

const HTTP: Readonly<Record<number, { file: string; goArch: string }>> = {
  16: { file: "ipxe.efi", goArch: "amd64" },
  18: { file: "ipxe-arm32.efi", goArch: "arm" },
  // 19 (arm64 UEFI HTTP boot) is not answered: Debian's GRUB image has no http module, so booted
  // over HTTP it can fetch nothing and stops at its prompt. Unanswered, AAVMF moves on to its PXE
  // boot option (arch 11), which works. BootEnv.Loaders.arm64 cannot change that.
};

/** The loader for a PXE or HTTP-boot firmware (not iPXE), or undefined for an unknown arch. */
export function loaderFor(arch: number | undefined, overrides: Readonly<Record<string, string>> = {}): LoaderChoice | undefined {
  const a = arch ?? 0;
  const http = HTTP[a];
  const tftp = TFTP[a];
  const base = http ?? tftp;
  if (!base) return undefined;
  const override = Object.hasOwn(overrides, base.goArch) ? overrides[base.goArch] : undefined;
  const file = (override !== undefined && override !== "" ? override : base.file).replace(/^\/+/, "");
  return { file, http: http !== undefined, goArch: base.goArch };
}

/**
 * Whether a DHCP client is network-booting, so that boot information is for it. PXE firmware
 * always sends option 60 "PXEClient:..." (UEFI HTTP boot "HTTPClient:..."), iPXE its user class
 * "iPXE", and most firmware option 93. An installed OS's DHCP client (udhcpc, dhclient,
 * systemd-networkd) sends none of these. How much proof is asked depends on the reply:
 * - "lease": the boot fields ride on a lease the client asked for; a client that does not boot
 *   from them ignores them, so option 93 alone is proof enough.
 * - "proxy": a proxyDHCP offer (port 67) or boot server ACK (port 4011) carries no address and
 *   is meant for a client that merges it with the lease from the real DHCP server. PXE 2.1 has
 *   proxyDHCP answer the clients that say PXEClient (here also HTTPClient and iPXE) and no others:
 *   option 93 alone does not say the client knows what to do with an address-less offer.
 */
export function isNetbootClient(facts: Pick<ClientFacts, "arch" | "userClass" | "vendorClass">, reply: "lease" | "proxy"): boolean {
  if (facts.userClass === "iPXE" || /^(PXEClient|HTTPClient)/.test(facts.vendorClass)) return true;
  return reply === "lease" && facts.arch !== undefined;
}
