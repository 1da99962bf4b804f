// The iPXE entry point. Every iPXE client is pointed by DHCP at `default.ipxe` (one URL for all:
// DHCP boot file names are shared by the whole subnet in many setups, and an HTTP request for it
// carries no MAC). That script asks again with the MAC of the NIC iPXE booted from:
//
//   default.ipxe                       -> chain boot/${netX/mac:hexhyp}.ipxe
//   boot/52-54-00-12-34-56.ipxe        -> decide.ts decides for this MAC:
//        known machine                 -> its BootEnv's iPXE template, rendered for it
//        unknown, unknownBootEnv = env -> that env's iPXE template, rendered with no Machine
//        unknown, "ignore" (no env)    -> exit to the firmware (next boot device: local disk)
//
// (DRP does the same in two steps: `default.ipxe` chains to `${mac}.ipxe`, falling back to the
// unknown env's script when that 404s.) `${netX/mac}` is the MAC of the last opened network
// device; `:hexhyp` spells it with hyphens, which needs no escaping in a URL path.
// Both paths are reserved: a template whose rendered Path is one of them is not served there.
//
// If the chained script cannot be fetched (a template error: the server logs why) iPXE says so
// and returns to the firmware rather than looping.

import { perMacMatcher } from "./per-mac-path.ts";

export const DISPATCH_PATH = "default.ipxe";

/** The MAC (lower-case colon form) of a `boot/<mac>.ipxe` path, or undefined for other paths. */
export const dispatchMac = perMacMatcher("boot", ".ipxe");

export function isReservedPath(path: string): boolean {
  return path === DISPATCH_PATH || path.startsWith("boot/");
}

/** The per-MAC path default.ipxe chains to. */
export function perMacPath(mac: string): string {
  return `boot/${mac.toLowerCase().replace(/:/g, "-")}.ipxe`;
}

/** default.ipxe for a client that reached us at `provisionerURL`. */
export function dispatchScript(provisionerURL: string): string {
  return [
    "#!ipxe",
    "# Socle: ask for the script of this MAC (see src/boot/ipxe-dispatch.ts)",
    `chain --autofree ${provisionerURL}/boot/\${netX/mac:hexhyp}.ipxe || goto failed`,
    "exit",
    ":failed",
    "echo Socle: no boot script for ${netX/mac} (the Socle log says why); leaving network boot",
    "exit 1",
    "",
  ].join("\n");
}

/** What a machine gets when there is nothing to boot (an ignored unknown machine, no env, no iPXE template): back to the firmware's next boot device. */
export function exitScript(reason: string): string {
  return ["#!ipxe", `echo Socle: ${reason.replace(/[\r\n]+/g, " ")}`, "exit", ""].join("\n");
}
