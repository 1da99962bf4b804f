// Content-Type of boot files by extension. Firmware and installers mostly ignore it, but browsers,
// curl users and a few loaders (UEFI HTTP boot wants application/efi for .efi) look at it.

const TEXT = "text/plain; charset=utf-8";

const BY_EXTENSION: Readonly<Record<string, string>> = {
  ipxe: TEXT,
  pxe: "application/octet-stream",
  cfg: TEXT,
  conf: TEXT,
  ks: TEXT,
  seed: TEXT,
  preseed: TEXT,
  txt: TEXT,
  sh: TEXT,
  yaml: TEXT,
  yml: TEXT,
  ign: "application/json",
  json: "application/json",
  xml: "application/xml",
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  efi: "application/efi",
  iso: "application/x-iso9660-image",
  img: "application/octet-stream",
  gz: "application/gzip",
  xz: "application/x-xz",
  zst: "application/zstd",
  tar: "application/x-tar",
  rpm: "application/x-rpm",
  deb: "application/vnd.debian.binary-package",
};

/** Files known by name rather than extension (cloud-init nocloud, DRP-style install trees). */
const BY_NAME: Readonly<Record<string, string>> = {
  "user-data": TEXT,
  "meta-data": TEXT,
  "vendor-data": TEXT,
  "network-config": TEXT,
  ".treeinfo": TEXT,
};

export function contentTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  const byName = BY_NAME[name];
  if (byName) return byName;
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return "application/octet-stream";
  return BY_EXTENSION[name.slice(dot + 1)] ?? "application/octet-stream";
}
