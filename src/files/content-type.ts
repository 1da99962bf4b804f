// Content-Type of served files, by name: one table for static files (the data directory, embedded
// assets, install trees) and rendered ones. Firmware and installers mostly ignore it, but
// browsers, curl users and a few loaders look at it (UEFI HTTP boot wants application/efi).
//
// YAML is application/yaml, the type RFC 9512 registers (text/yaml and application/x-yaml are
// the unregistered spellings it lists as deprecated aliases). It takes no charset parameter: YAML
// says its own encoding. Talos fetches talos.yaml and reads the body whatever the type says.

const TEXT = "text/plain; charset=utf-8";
const OCTETS = "application/octet-stream";

const BY_EXTENSION: Readonly<Record<string, string>> = {
  ipxe: TEXT,
  pxe: OCTETS,
  cfg: TEXT,
  conf: TEXT,
  ks: TEXT,
  seed: TEXT,
  preseed: TEXT,
  txt: TEXT,
  sh: TEXT,
  yaml: "application/yaml",
  yml: "application/yaml",
  ign: "application/json",
  json: "application/json",
  xml: "application/xml",
  html: "text/html; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  efi: "application/efi",
  iso: "application/x-iso9660-image",
  img: OCTETS,
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

/** The type of the file at `path`; application/octet-stream when the name says nothing. */
export function contentTypeFor(path: string): string {
  const name = path.slice(path.lastIndexOf("/") + 1).toLowerCase();
  const byName = BY_NAME[name];
  if (byName) return byName;
  const dot = name.lastIndexOf(".");
  if (dot <= 0) return OCTETS;
  return BY_EXTENSION[name.slice(dot + 1)] ?? OCTETS;
}

/**
 * The type of a rendered file at `path`. A template renders text, so a name the table gives a
 * binary type (or none: "pxelinux.cfg/01-52-54-00-12-34-56") is text/plain.
 */
export function textContentTypeFor(path: string): string {
  const type = contentTypeFor(path);
  return isTextual(type) ? type : TEXT;
}

function isTextual(type: string): boolean {
  return type.startsWith("text/") || type === "application/json" || type === "application/yaml" || type === "application/xml";
}
