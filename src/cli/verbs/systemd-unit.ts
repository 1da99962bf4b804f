// The systemd unit Socle ships (assets/systemd/socle.service): reading it from the binary or the
// source tree, filling in an installation's executable and data directory, and reading back the
// capabilities it grants. The unit's comments say why each setting is there.

import { readFile } from "node:fs/promises";
import { posix, resolve } from "node:path";
import { CliError, UsageError } from "../cli-error.ts";

export const UNIT_NAME = "socle.service";
/** Its name among the executable's embedded files, and its path in the source tree. */
export const UNIT_ASSET = "assets/systemd/socle.service";
export const UNIT_DIR = "/etc/systemd/system";
/** What the shipped unit says, and what `socle install` changes when told otherwise. */
export const DEFAULT_BIN = "/usr/local/bin/socle";
export const DEFAULT_DATA_DIR = "/var/lib/socle";
const STATE_ROOT = "/var/lib/";

export interface UnitSourceOptions {
  /** The executable's embedded files; default Bun.embeddedFiles. */
  embedded?: readonly Blob[];
  /** The source tree's root, read when nothing is embedded (running from source). */
  sourceRoot?: string;
}

/**
 * The shipped unit: from the compiled executable (build/compile.ts embeds assets/ with relative
 * names, the same convention as the boot loaders in src/files/sources.ts), or from the
 * source tree when nothing is embedded.
 */
export async function shippedUnit(opts: UnitSourceOptions = {}): Promise<string> {
  const embedded = opts.embedded ?? (Bun.embeddedFiles as Blob[]);
  const blob = embedded.find((b) => (b as Blob & { name?: string }).name === UNIT_ASSET);
  if (blob) return blob.text();
  if (embedded.length > 0) throw new CliError(`this socle executable has no ${UNIT_ASSET} embedded (built without assets/?)`);
  const path = resolve(opts.sourceRoot ?? resolve(import.meta.dir, "../../.."), UNIT_ASSET);
  try {
    return await readFile(path, "utf8");
  } catch (e) {
    throw new CliError(`cannot read the systemd unit "${path}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

export interface UnitOptions {
  /** ExecStart's executable. */
  bin: string;
  dataDir: string;
  /** Capabilities granted besides the shipped ones (CAP_NET_RAW on kernels before 5.7). */
  extraCapabilities?: readonly string[];
  /**
   * A node of an HA pair: the VIP is added and removed with `ip addr` (CAP_NET_ADMIN, inherited
   * by the `ip` child through the ambient set) and announced with gratuitous ARP on an AF_PACKET
   * socket (CAP_NET_RAW, and AF_PACKET allowed).
   */
  ha?: boolean;
}

/** What an HA node needs beyond the shipped unit (see UnitOptions.ha). */
export const HA_CAPABILITIES = ["CAP_NET_ADMIN", "CAP_NET_RAW"] as const;
const FAMILIES = "RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX";

/**
 * The shipped unit for one installation. With the defaults it is the shipped text byte for byte
 * (the Butane config embeds that text). A data directory under /var/lib/ stays a StateDirectory=
 * (systemd creates it and keeps it owned by socle); anywhere else it becomes ReadWritePaths=, the
 * one hole in ProtectSystem=strict, and `socle install` creates it.
 */
export function renderUnit(shipped: string, opts: UnitOptions): string {
  let text = shipped;
  const bin = checkUnitPath("--bin", opts.bin);
  const dataDir = checkUnitPath("--data-dir", opts.dataDir);
  if (bin !== DEFAULT_BIN) text = replaceLine(text, `ExecStart=${DEFAULT_BIN} serve`, `ExecStart=${bin} serve`);
  if (dataDir !== DEFAULT_DATA_DIR) {
    text = replaceLine(text, `Environment=SOCLE_DATA_DIR=${DEFAULT_DATA_DIR}`, `Environment=SOCLE_DATA_DIR=${dataDir}`);
    const state = `StateDirectory=${DEFAULT_DATA_DIR.slice(STATE_ROOT.length)}`;
    if (dataDir.startsWith(STATE_ROOT)) {
      text = replaceLine(text, state, `StateDirectory=${dataDir.slice(STATE_ROOT.length)}`);
    } else {
      text = replaceLine(text, state, `ReadWritePaths=${dataDir}`);
      text = replaceLine(text, "StateDirectoryMode=0750", undefined);
    }
  }
  if (opts.ha) text = replaceLine(text, FAMILIES, `${FAMILIES} AF_PACKET`);
  const wanted = [...(opts.extraCapabilities ?? []), ...(opts.ha ? HA_CAPABILITIES : [])];
  const extra = [...new Set(wanted)].filter((c) => !unitCapabilities(text).includes(c));
  if (extra.length > 0) {
    for (const key of CAPABILITY_KEYS) {
      const line = text.split("\n").find((l) => l.startsWith(`${key}=`)) as string;
      text = replaceLine(text, line, `${line} ${extra.join(" ")}`);
    }
  }
  return text;
}

const CAPABILITY_KEYS = ["CapabilityBoundingSet", "AmbientCapabilities"] as const;

/**
 * The capabilities the unit grants: CapabilityBoundingSet= and AmbientCapabilities= must name
 * the same set (a capability in only one of them is either unusable or a hole), in the order the
 * unit lists them.
 */
export function unitCapabilities(unit: string): string[] {
  const sets = CAPABILITY_KEYS.map((key) => {
    const lines = unit.split("\n").filter((l) => l.startsWith(`${key}=`));
    if (lines.length !== 1) throw new Error(`systemd unit: expected one ${key}= line, found ${lines.length}`);
    const caps = (lines[0] as string).slice(key.length + 1).split(/\s+/).filter(Boolean);
    for (const c of caps) if (!/^CAP_[A-Z_]+$/.test(c)) throw new Error(`systemd unit: ${key}= names "${c}", not a capability`);
    return caps;
  });
  const [bounding, ambient] = sets as [string[], string[]];
  if ([...bounding].sort().join(" ") !== [...ambient].sort().join(" ")) {
    throw new Error(`systemd unit: CapabilityBoundingSet=${bounding.join(" ")} and AmbientCapabilities=${ambient.join(" ")} differ`);
  }
  return bounding;
}

/**
 * Whether SO_BINDTODEVICE needs CAP_NET_RAW on this kernel: since Linux 5.7 an unprivileged
 * process may bind a socket that is not bound to a device yet; before, the option needs
 * CAP_NET_RAW. An unparsable release is taken as new.
 */
export function bindToDeviceNeedsNetRaw(kernelRelease: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major < 5 || (major === 5 && minor < 7);
}

/**
 * A path that goes into the unit as it is: absolute, normalised, and free of what systemd would
 * read differently (whitespace and quotes split or quote values, "%" starts a specifier, "\"
 * escapes, "$" expands in ExecStart=).
 */
export function checkUnitPath(flag: string, value: string): string {
  if (!value.startsWith("/")) throw new UsageError(`${flag}: "${value}" is not an absolute path`);
  if (/[\s"'%\\$;]/.test(value)) throw new UsageError(`${flag}: "${value}" contains a character systemd would not take literally (whitespace, quote, %, \\, $ or ;)`);
  const norm = posix.normalize(value).replace(/(.)\/+$/, "$1");
  if (norm === "/") throw new UsageError(`${flag}: "${value}" is the root directory`);
  return norm;
}

/** Replace the one line that is exactly `from` (undefined: remove it); the unit and this code must agree. */
function replaceLine(text: string, from: string, to: string | undefined): string {
  const lines = text.split("\n");
  const at = lines.flatMap((l, i) => (l === from ? [i] : []));
  if (at.length !== 1) throw new Error(`systemd unit: expected the line "${from}" once, found it ${at.length} times`);
  if (to === undefined) lines.splice(at[0] as number, 1);
  else lines[at[0] as number] = to;
  return lines.join("\n");
}
