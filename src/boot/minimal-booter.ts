// The minimal boot core, until machines and boot environments decide (issue 4): every PXE client
// gets the iPXE loader for its architecture, and iPXE gets one HTTP script. Next-server is always
// the address the client reached us on.
//
// Folklore: classic BIOS PXE ROMs (PXE 2.0 and some 2.1 builds) send no option 93 at all, so a
// client without it is treated as BIOS. iPXE identifies itself by user class "iPXE" whatever the
// firmware below it, so that test comes first (otherwise iPXE would be handed iPXE again: a loop).

import type { BootAnswer, Booter, ClientFacts } from "./booter.ts";

export interface MinimalBooterOptions {
  /** Port of the machine-facing HTTP file server (8091 by default). */
  httpPort: number;
  /** Path of the iPXE script on that server, default "default.ipxe". */
  ipxeScriptPath?: string;
}

/** TFTP loaders by client architecture (RFC 4578 option 93 values). */
const TFTP_LOADERS: Readonly<Record<number, string>> = {
  0: "undionly.kpxe", // x86 BIOS
  6: "ipxe.efi", // x86 UEFI
  7: "ipxe.efi", // x64 UEFI
  9: "ipxe.efi", // EBC: what several x64 UEFI builds send instead of 7
  11: "ipxe-arm64.efi", // arm64 UEFI
};

/** UEFI HTTP boot: the firmware fetches a URL itself (and needs option 60 "HTTPClient" back). */
const HTTP_LOADERS: Readonly<Record<number, string>> = {
  16: "ipxe.efi", // x64 UEFI HTTP
  19: "ipxe-arm64.efi", // arm64 UEFI HTTP
};

export function createMinimalBooter(opts: MinimalBooterOptions): Booter {
  const script = (opts.ipxeScriptPath ?? "default.ipxe").replace(/^\/+/, "");
  const base = (server: string) => `http://${server}${opts.httpPort === 80 ? "" : `:${opts.httpPort}`}`;
  return {
    dhcpBoot(facts: ClientFacts): BootAnswer | undefined {
      const server = facts.serverAddress;
      if (facts.userClass === "iPXE") {
        return { nextServer: server, bootFile: `${base(server)}/${script}`, httpClient: false, ipxe: true };
      }
      const arch = facts.arch ?? 0;
      const http = HTTP_LOADERS[arch];
      if (http) return { nextServer: server, bootFile: `${base(server)}/${http}`, httpClient: true, ipxe: false };
      const tftp = TFTP_LOADERS[arch];
      if (tftp) return { nextServer: server, bootFile: tftp, httpClient: false, ipxe: false };
      return undefined; // an architecture we have no loader for: no boot information
    },
  };
}
