// What a network boot needs that Socle does not write itself: the first-stage loaders and the
// discovery image, by the path a client asks for, with where each comes from and the one command
// that supplies it. The build (`socle`'s assets obtained by `npm install`, embedded by `npm run
// build`) and the running server (its start-up report and GET /api/v3/info) read this one table.

export type AssetArch = "amd64" | "arm64";

export interface BootAsset {
  /** The path TFTP and HTTP clients ask for (and its place under assets/boot/). */
  path: string;
  arch: AssetArch;
  what: string;
  /** Debian package it comes from, and the file in that package (loaders). */
  from: { pkg: string; file?: string };
  /** The one command that supplies it when it is missing. */
  fix: string;
}

const IMPORT = "socle loaders import DIR (a directory holding it), or socle files upload FILE";

export const LOADER_ASSETS: readonly BootAsset[] = [
  { path: "undionly.kpxe", arch: "amd64", what: "iPXE for x86 BIOS PXE (UNDI)", from: { pkg: "ipxe", file: "usr/lib/ipxe/undionly.kpxe" }, fix: IMPORT },
  { path: "ipxe.efi", arch: "amd64", what: "iPXE for x86-64 UEFI (its own NIC drivers)", from: { pkg: "ipxe", file: "usr/lib/ipxe/ipxe.efi" }, fix: IMPORT },
  { path: "snponly.efi", arch: "amd64", what: "iPXE for x86-64 UEFI (the firmware's SNP driver)", from: { pkg: "ipxe", file: "usr/lib/ipxe/snponly.efi" }, fix: IMPORT },
  {
    path: "grubnetaa64.efi",
    arch: "arm64",
    what: "GRUB network boot image for arm64 UEFI",
    from: { pkg: "grub-efi-arm64-signed", file: "usr/lib/grub/arm64-efi-signed/grubnetaa64.efi.signed" },
    fix: IMPORT,
  },
];

const discovery = (arch: AssetArch, name: "vmlinuz" | "initrd.img"): BootAsset => ({
  path: `discovery/${arch}/${name}`,
  arch,
  what: `discovery ${name === "vmlinuz" ? "kernel" : "initramfs"} (${arch})`,
  from: { pkg: name === "vmlinuz" ? `linux-image-${arch}` : `busybox-static, curl, linux-image-${arch}` },
  fix: `socle discovery build --arch ${arch}`,
});

export const DISCOVERY_ASSETS: readonly BootAsset[] = (["amd64", "arm64"] as const).flatMap((a) => [discovery(a, "vmlinuz"), discovery(a, "initrd.img")]);

export const BOOT_ASSETS: readonly BootAsset[] = [...LOADER_ASSETS, ...DISCOVERY_ASSETS];

/** One line per missing asset: what it is and the command that supplies it. */
export function describeMissing(missing: readonly BootAsset[]): string[] {
  return missing.map((a) => `${a.path}: ${a.what} is missing; supply it with: ${a.fix}`);
}
