// A booter without machines or boot environments: every PXE client gets the iPXE loader for its
// architecture (loaders.ts, the same table the boot core uses), and iPXE gets one HTTP script.
// Next-server is always the address the client reached us on. The server runs the boot core
// (core.ts); this one serves the DHCP handler's tests, which are about DHCP, not about machines.
//
// Folklore: iPXE identifies itself by user class "iPXE" whatever the firmware below it, so that
// test comes first (otherwise iPXE would be handed iPXE again: a loop).

import type { BootAnswer, Booter, ClientFacts } from "./booter.ts";
import { loaderFor } from "./loaders.ts";

export interface MinimalBooterOptions {
  /** Port of the machine-facing HTTP file server (8091 by default). */
  httpPort: number;
  /** Path of the iPXE script on that server, default "default.ipxe". */
  ipxeScriptPath?: string;
}

export function createMinimalBooter(opts: MinimalBooterOptions): Booter {
  const script = (opts.ipxeScriptPath ?? "default.ipxe").replace(/^\/+/, "");
  const base = (server: string) => `http://${server}${opts.httpPort === 80 ? "" : `:${opts.httpPort}`}`;
  return {
    dhcpBoot(facts: ClientFacts): BootAnswer | undefined {
      const server = facts.serverAddress;
      if (facts.userClass === "iPXE") {
        return { nextServer: server, bootFile: `${base(server)}/${script}`, httpClient: false, ipxe: true };
      }
      const loader = loaderFor(facts.arch);
      if (!loader) return undefined; // an architecture we have no loader for: no boot information
      if (loader.http) return { nextServer: server, bootFile: `${base(server)}/${loader.file}`, httpClient: true, ipxe: false };
      return { nextServer: server, bootFile: loader.file, httpClient: false, ipxe: false };
    },
  };
}
