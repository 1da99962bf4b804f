// The GRUB entry point, for arm64 UEFI machines (loaders.ts: Debian's signed network boot image
// grubnetaa64.efi). That image has its prefix built in, `(tftp,<next-server>)/grub`, reuses the
// firmware's DHCP answer, and asks for one file, `/grub/grub.cfg` (never a per-MAC name). So, as
// with iPXE's default.ipxe, that file asks again with the MAC:
//
//   grub/grub.cfg                           -> source ${prefix}/boot/${net_default_mac}.cfg
//   grub/boot/52:54:00:12:34:56.cfg         -> decide.ts decides for this MAC:
//        known machine                      -> its BootEnv's "grub" template, rendered for it
//        unknown, unknownBootEnv = env      -> that env's "grub" template, rendered with no Machine
//        unknown, "ignore" (no env)         -> exit to the firmware (next boot device)
//
// Folklore (observed with grub-efi-arm64-signed 2.06-13+deb12u2 under AAVMF):
// - The image has no http module and cannot fetch one over HTTP: kernels and initrds are loaded
//   over TFTP, relative to $root, which is the TFTP server it booted from.
// - It first asks for grub/arm64-efi/{command,fs,crypto,terminal}.lst; "not found" is fine.
// - A gzip'd kernel is unpacked by GRUB itself (it reads the file twice over TFTP to learn the
//   size), which keeps the arm64 kernel at a third of its 33 MB.
// Both paths are reserved: a template whose rendered Path is one of them is not served there.

import { perMacMatcher } from "./per-mac-path.ts";

export const GRUB_DISPATCH_PATH = "grub/grub.cfg";

/** The MAC (lower-case colon form) of a `grub/boot/<mac>.cfg` path, or undefined. */
export const grubDispatchMac = perMacMatcher("grub/boot", ".cfg");

export function isGrubReservedPath(path: string): boolean {
  return path === GRUB_DISPATCH_PATH || path.startsWith("grub/boot/");
}

/** grub/grub.cfg: the same for every client (its server and MAC come from GRUB's variables). */
export function grubDispatchScript(): string {
  return [
    "# Socle: ask for the config of this MAC (see src/boot/grub-dispatch.ts)",
    "set timeout=0",
    "source ${prefix}/boot/${net_default_mac}.cfg",
    'echo "Socle: no boot config for ${net_default_mac} (the Socle log says why); leaving network boot"',
    "sleep 5",
    "exit",
    "",
  ].join("\n");
}

/** What a machine gets when there is nothing to boot: back to the firmware's next boot device. */
export function grubExitScript(reason: string): string {
  // Single quotes: GRUB expands nothing inside them, and there is no escape for ' itself.
  return [`echo 'Socle: ${reason.replace(/[\r\n']+/g, " ")}'`, "sleep 2", "exit", ""].join("\n");
}
