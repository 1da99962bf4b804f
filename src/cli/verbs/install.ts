// `socle install --systemd`: make this host run Socle as a service. Creates the `socle` system
// user, the data directory (socle:socle, 0750), copies the running executable to --bin when it is
// the compiled binary, and writes the unit (systemd-unit.ts). It starts nothing: it prints the
// systemctl commands that do. Every step looks before it acts, so a second run changes nothing
// and says so; files are replaced whole (a temporary file renamed over the target), never left
// half written.
//
// --root DIR writes the same files below DIR (an image being built, or a test) and creates no user
// and changes no owner: the user database that matters is the target system's.

import { chmod, chown, copyFile, lchown, lstat, mkdir, readdir, readFile, realpath, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { release } from "node:os";
import { dirname, join } from "node:path";
import { runCommand } from "../../assets/command.ts";
import { replaceFile as replaceWhole } from "../../files/atomic-write.ts";
import { isCompiledBinary } from "../../config/runtime.ts";
import { CliError, UsageError } from "../cli-error.ts";
import type { VerbContext } from "../context.ts";
import { boolFlag, parseVerbArgs } from "../verb-args.ts";
import { usageOf, type VerbSpec } from "../verb-spec.ts";
import {
  bindToDeviceNeedsNetRaw,
  checkUnitPath,
  DEFAULT_BIN,
  DEFAULT_DATA_DIR,
  renderUnit,
  shippedUnit,
  UNIT_DIR,
  UNIT_NAME,
} from "./systemd-unit.ts";

export const SERVICE_USER = "socle";
const DATA_DIR_MODE = 0o750;

export const INSTALL: VerbSpec = {
  path: ["install"],
  synopsis: "",
  flags: [
    { name: "systemd", kind: "bool" },
    { name: "data-dir", kind: "value", placeholder: "DIR" },
    { name: "bin", kind: "value", placeholder: "PATH" },
    { name: "root", kind: "value", placeholder: "DIR" },
    { name: "dry-run", kind: "bool" },
    { name: "ha", kind: "bool" },
  ],
  summary: "install Socle as a systemd service (as root; starts nothing)",
  notes: [
    `Creates the system user ${SERVICE_USER}, the data directory (default ${DEFAULT_DATA_DIR}, ${SERVICE_USER}:${SERVICE_USER} 0750),`,
    `copies this executable to --bin (default ${DEFAULT_BIN}) and writes ${UNIT_DIR}/${UNIT_NAME}.`,
    "--root DIR writes below DIR instead and creates no user; --dry-run shows the steps and the unit.",
    "--ha: a node of an HA pair: the unit also grants CAP_NET_ADMIN and CAP_NET_RAW and allows AF_PACKET (the VIP and its gratuitous ARP).",
  ],
  local: true,
  run: (ctx, args) => install(ctx, args),
};

/** What install needs from the host; tests pass a fake. */
export interface InstallHost {
  uid: number;
  /** Running as the compiled executable (which is then copied), not from source. */
  compiled: boolean;
  execPath: string;
  kernelRelease: string;
  which(cmd: string): string | null;
  exists(path: string): boolean;
  run(argv: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }>;
  shippedUnit(): Promise<string>;
}

export function realHost(): InstallHost {
  return {
    uid: process.getuid?.() ?? -1,
    compiled: isCompiledBinary(),
    execPath: process.execPath,
    kernelRelease: release(),
    which: (cmd) => Bun.which(cmd),
    exists: existsSync,
    run: (argv) => runCommand(argv),
    shippedUnit: () => shippedUnit(),
  };
}

export interface InstallOptions {
  /** Where the files go: "/" on the live system, the --root directory otherwise. */
  prefix: string;
  /** The live system: create the user, chown, and fit the unit to the running kernel. */
  live: boolean;
  bin: string;
  dataDir: string;
  dryRun: boolean;
  /** The unit of an HA node (systemd-unit.ts UnitOptions.ha). */
  ha?: boolean;
}

async function install(ctx: VerbContext, args: string[]): Promise<number> {
  const { flags } = parseVerbArgs(args, INSTALL, { min: 0, max: 0 });
  if (!boolFlag(flags.get("systemd"))) throw new UsageError(`say what to install: --systemd\nusage: ${usageOf(INSTALL)}`);
  const root = flags.get("root")?.raw;
  if (root !== undefined && !root.startsWith("/")) throw new UsageError(`--root: "${root}" is not an absolute path`);
  const opts: InstallOptions = {
    prefix: root ?? "/",
    live: root === undefined,
    bin: checkUnitPath("--bin", flags.get("bin")?.raw ?? DEFAULT_BIN),
    dataDir: checkUnitPath("--data-dir", flags.get("data-dir")?.raw ?? DEFAULT_DATA_DIR),
    dryRun: boolFlag(flags.get("dry-run")),
    ha: boolFlag(flags.get("ha")),
  };
  await installSystemd(opts, realHost(), (line) => ctx.io.out(line));
  return 0;
}

export async function installSystemd(opts: InstallOptions, host: InstallHost, out: (line: string) => void): Promise<void> {
  if (opts.live && !opts.dryRun && host.uid !== 0) {
    throw new CliError(`install: must run as root to create the ${SERVICE_USER} user and write ${UNIT_DIR} (or use --root DIR to write below DIR, or --dry-run)`);
  }
  if (!opts.live && !(await isDirectory(opts.prefix))) throw new CliError(`install: --root "${opts.prefix}" is not a directory`);
  const at = (path: string) => join(opts.prefix, path);
  const would = opts.dryRun ? "would be " : "";

  const netRaw = opts.live && bindToDeviceNeedsNetRaw(host.kernelRelease);
  const unit = renderUnit(await host.shippedUnit(), { bin: opts.bin, dataDir: opts.dataDir, extraCapabilities: netRaw ? ["CAP_NET_RAW"] : [], ha: opts.ha === true });
  if (netRaw) out(`kernel ${host.kernelRelease}: SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7, so the unit grants it too`);

  // 1. The user.
  let ids: { uid: number; gid: number } | undefined;
  if (!opts.live) {
    out(`user ${SERVICE_USER}: not created (--root: create it in the target system, e.g. useradd --system --user-group --home-dir ${opts.dataDir} --no-create-home --shell /usr/sbin/nologin ${SERVICE_USER})`);
  } else {
    ids = await lookupUser(host);
    if (ids) {
      out(`user ${SERVICE_USER}: exists (uid ${ids.uid}, gid ${ids.gid})`);
    } else {
      const commands = await userAddCommands(host, opts.dataDir);
      if (opts.dryRun) {
        out(`user ${SERVICE_USER}: would be created: ${commands.map(shellLine).join(" && ")}`);
      } else {
        for (const argv of commands) {
          const r = await host.run(argv);
          if (r.code !== 0) throw new CliError(`install: ${shellLine(argv)} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim()}`);
        }
        ids = await lookupUser(host);
        if (!ids) throw new CliError(`install: created user ${SERVICE_USER}, but getent passwd ${SERVICE_USER} does not find it`);
        out(`user ${SERVICE_USER}: created (uid ${ids.uid}, gid ${ids.gid})`);
      }
    }
  }

  // 2. The data directory: socle's, 0750. Whatever is already in it becomes socle's too (a data
  // directory that `socle serve` used as root holds root-owned files the service could not write).
  const dataDir = at(opts.dataDir);
  const existing = await lstat(dataDir).catch(() => undefined);
  if (existing && !existing.isDirectory()) throw new CliError(`install: data directory "${dataDir}" exists and is not a directory`);
  const owner = opts.live ? `${SERVICE_USER}:${SERVICE_USER}` : "owner unchanged (--root)";
  if (opts.dryRun) {
    out(`data directory ${opts.dataDir}: ${existing ? "exists; would be set to" : "would be created,"} ${owner} ${modeText(DATA_DIR_MODE)}`);
  } else {
    if (!existing) await mkdir(dataDir, { recursive: true, mode: DATA_DIR_MODE });
    await chmod(dataDir, DATA_DIR_MODE);
    const fixed = ids ? await chownTree(dataDir, ids.uid, ids.gid) : 0;
    const what = existing ? (fixed > 0 ? `owner fixed on ${fixed} entries` : "exists") : "created";
    out(`data directory ${opts.dataDir}: ${what} (${owner} ${modeText(DATA_DIR_MODE)})`);
  }

  // 3. The executable.
  let changed = false;
  const bin = at(opts.bin);
  if (!host.compiled) {
    out(`executable ${opts.bin}: not copied (running from source: build the binary with \`bun build/compile.ts\` and run its install)`);
    if (!existsSync(bin)) out(`warning: ${opts.bin} does not exist; the unit's ExecStart needs it`);
  } else if (await sameFile(host.execPath, bin)) {
    out(`executable ${opts.bin}: unchanged`);
  } else {
    out(`executable ${opts.bin}: ${would}${existsSync(bin) ? "replaced" : "installed"} from ${host.execPath}`);
    changed = true;
    if (!opts.dryRun) {
      await mkdir(dirname(bin), { recursive: true, mode: 0o755 });
      await replaceFile(bin, 0o755, (tmp) => copyFile(host.execPath, tmp));
    }
  }

  // 4. The unit.
  const unitPath = at(join(UNIT_DIR, UNIT_NAME));
  const before = await readFile(unitPath, "utf8").catch(() => undefined);
  if (before === unit) {
    out(`unit ${join(UNIT_DIR, UNIT_NAME)}: unchanged`);
  } else {
    out(`unit ${join(UNIT_DIR, UNIT_NAME)}: ${would}${before === undefined ? "written" : "updated"}`);
    changed = true;
    if (!opts.dryRun) {
      await mkdir(dirname(unitPath), { recursive: true, mode: 0o755 });
      await replaceFile(unitPath, 0o644, (tmp) => writeFile(tmp, unit, { flag: "wx" }));
    }
  }

  const service = UNIT_NAME.replace(/\.service$/, "");
  out("");
  out(opts.live ? "Next:" : `Next, on the system ${opts.prefix} is the root of:`);
  out("  systemctl daemon-reload");
  out(`  systemctl enable --now ${service}`);
  if (changed) out(`  systemctl restart ${service}   # if it was already running`);
  out(`  journalctl -u ${service}   # the first start writes the admin password to ${join(opts.dataDir, "initial-admin-password")}`);
  if (opts.dryRun) {
    out("");
    out(`--- ${join(UNIT_DIR, UNIT_NAME)} ---`);
    out(unit.replace(/\n$/, ""));
  }
}

/** uid and gid of the service user, or undefined when there is none. */
async function lookupUser(host: InstallHost): Promise<{ uid: number; gid: number } | undefined> {
  const r = await host.run(["getent", "passwd", SERVICE_USER]);
  if (r.code !== 0) return undefined;
  const f = r.stdout.trim().split(":");
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (f[0] !== SERVICE_USER || !Number.isInteger(uid) || !Number.isInteger(gid) || f[2] === "" || f[3] === "") {
    throw new CliError(`install: cannot read getent passwd ${SERVICE_USER}: "${r.stdout.trim()}"`);
  }
  return { uid, gid };
}

/** The commands that create the system user and its group: shadow's useradd, or BusyBox's adduser (Alpine). */
export async function userAddCommands(host: InstallHost, home: string): Promise<string[][]> {
  const shell = ["/usr/sbin/nologin", "/sbin/nologin"].find((p) => host.exists(p)) ?? "/bin/false";
  const groupExists = (await host.run(["getent", "group", SERVICE_USER])).code === 0;
  const comment = "Socle provisioning server";
  if (host.which("useradd")) {
    const group = groupExists ? ["--gid", SERVICE_USER] : ["--user-group"];
    return [["useradd", "--system", ...group, "--home-dir", home, "--no-create-home", "--shell", shell, "--comment", comment, SERVICE_USER]];
  }
  if (host.which("adduser") && host.which("addgroup")) {
    return [
      ...(groupExists ? [] : [["addgroup", "-S", SERVICE_USER]]),
      ["adduser", "-S", "-D", "-H", "-h", home, "-s", shell, "-G", SERVICE_USER, "-g", comment, SERVICE_USER],
    ];
  }
  throw new CliError(`install: cannot create user ${SERVICE_USER}: neither useradd nor adduser is installed (create a system user ${SERVICE_USER} and run install again)`);
}

/** chown a tree (not following symlinks); returns how many entries changed. */
async function chownTree(path: string, uid: number, gid: number): Promise<number> {
  const st = await lstat(path);
  let changed = 0;
  if (st.uid !== uid || st.gid !== gid) {
    await (st.isSymbolicLink() ? lchown(path, uid, gid) : chown(path, uid, gid));
    changed++;
  }
  if (st.isDirectory()) {
    for (const name of await readdir(path)) changed += await chownTree(join(path, name), uid, gid);
  }
  return changed;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/** Same file, or the same bytes (a second install of the same binary changes nothing). */
async function sameFile(a: string, b: string): Promise<boolean> {
  const [ra, rb] = await Promise.all([realpath(a).catch(() => undefined), realpath(b).catch(() => undefined)]);
  if (ra === undefined || rb === undefined) return false;
  if (ra === rb) return true;
  const [sa, sb] = await Promise.all([stat(ra), stat(rb)]);
  if (sa.size !== sb.size) return false;
  const digest = async (p: string) => {
    const h = new Bun.CryptoHasher("sha256");
    for await (const chunk of Bun.file(p).stream()) h.update(chunk);
    return h.digest("hex");
  };
  return (await digest(ra)) === (await digest(rb));
}

/** files/atomic-write.ts's replaceFile, its failure said as install's. */
export async function replaceFile(target: string, mode: number, fill: (tmp: string) => Promise<void>): Promise<void> {
  try {
    await replaceWhole(target, fill, mode);
  } catch (e) {
    throw new CliError(`install: cannot write "${target}": ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

/** A command as one would type it: words with spaces or quotes in single quotes. */
function shellLine(argv: readonly string[]): string {
  return argv.map((w) => (/^[\w./:=@%+,-]+$/.test(w) ? w : `'${w.replaceAll("'", "'\\''")}'`)).join(" ");
}

function modeText(mode: number): string {
  return `0${mode.toString(8)}`;
}
