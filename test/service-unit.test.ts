// The service Socle ships (assets/systemd/socle.service) and its immutable-OS forms, checked
// against real tools: systemd-analyze reads the installed unit; Socle runs as an unprivileged uid
// with exactly the unit's capabilities (parsed from the unit, so the two cannot drift) and serves
// DHCP, TFTP and HTTP to real clients in namespaces this file makes; without them the privileged
// ports fail with Socle's own log lines; the LinuxKit and Butane configs say the same as the unit.
//
// Topology:  [ns socle-cap-c…] client veth --- veth 203.0.113.1/24 [ns socle-cap-s…: Socle as uid 65534]
// SOCLE_BIN=<compiled binary> runs that instead of `bun src/main.ts`. When the uid cannot read this
// checkout (a clone under a 0700 home, as CI's may be), the test compiles a binary into a
// directory it can read and runs that.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { butaneConfig } from "../build/butane.ts";
import { compile } from "../build/compile.ts";
import { renderUnit, unitCapabilities } from "../src/cli/verbs/systemd-unit.ts";
import { NetLab, needsRoot } from "./helpers/netns.ts";
import { BUN, ClientKit, ROOT, SocleInNetns, udhcpcOnce, until, waitEvent } from "./helpers/socle-netns.ts";

setDefaultTimeout(60_000);

const UNIT = readFileSync(join(ROOT, "assets/systemd/socle.service"), "utf8");
const CAPS = unitCapabilities(UNIT);
/** The unprivileged uid and gid Socle runs as here (`nobody`: exists everywhere, owns nothing). */
const UID = 65534;
const GID = 65534;
const SERVER = "203.0.113.1";
let cleanupBin = () => {};
afterAll(() => cleanupBin());
/** What runs as the server (and as the CLI for the refusal test): SOCLE_BIN, this checkout, or a compiled binary. */
let SERVER_COMMAND = process.env.SOCLE_BIN ? [process.env.SOCLE_BIN] : [BUN, join(ROOT, "src/main.ts")];

/** Bit numbers of the capabilities (linux/capability.h), to read /proc/<pid>/status. */
const CAP_BITS = [
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
  "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
  "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
  "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
  "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
  "checkpoint_restore",
];

const setprivName = (cap: string) => cap.replace(/^CAP_/, "").toLowerCase();

/** setpriv as systemd runs the unit: User=, Group=, no supplementary groups, NoNewPrivileges=, and `caps` as bounding, inheritable and ambient set. */
function setprivWrap(uid: number, gid: number, caps: readonly string[]): string[] {
  const set = ["-all", ...caps.map((c) => `+${setprivName(c)}`)].join(",");
  return ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "--no-new-privs", `--inh-caps=${set}`, `--ambient-caps=${set}`, `--bounding-set=${set}`];
}

/** Capability names in a /proc/<pid>/status mask ("0000000000000400" -> ["net_bind_service"]). */
function capNames(hex: string): string[] {
  const mask = BigInt(`0x${hex}`);
  return CAP_BITS.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
}

function procStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, "utf8").split("\n")) {
    const m = /^(\w+):\s*(.*)$/.exec(line);
    if (m) out[m[1] as string] = m[2] as string;
  }
  return out;
}

async function run(argv: string[], timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  const p = Bun.spawn(argv, { stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const timer = setTimeout(() => p.kill("SIGKILL"), timeoutMs);
  try {
    const [stdout, stderr] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text()]);
    return { code: await p.exited, stdout, stderr };
  } finally {
    clearTimeout(timer);
  }
}

/** Why the unprivileged uid cannot run the server from here, or undefined. */
async function unprivilegedRunSkip(): Promise<string | undefined> {
  const probe = process.env.SOCLE_BIN ? [process.env.SOCLE_BIN, "version"] : [BUN, "--version"];
  const r = await run([...setprivWrap(UID, GID, []), ...probe]);
  if (r.code !== 0) return `uid ${UID} cannot run ${probe[0]} (${(r.stderr || r.stdout).trim()})`;
  if (!process.env.SOCLE_BIN) {
    const read = await run([...setprivWrap(UID, GID, []), BUN, "-e", `require("fs").readFileSync(${JSON.stringify(join(ROOT, "src/main.ts"))})`]);
    if (read.code !== 0) {
      // The checkout is not readable by the uid: a compiled binary in a world-readable directory.
      const dir = mkdtempSync(join(tmpdir(), "socle-cap-bin-"));
      chmodSync(dir, 0o755);
      cleanupBin = () => rmSync(dir, { recursive: true, force: true });
      const [bin] = await compile(ROOT, { targets: ["amd64"], outdir: dir });
      if (!bin) return `uid ${UID} cannot read ${ROOT}/src and no binary could be compiled`;
      chmodSync(bin, 0o755);
      console.log(`service-unit.test.ts: uid ${UID} cannot read ${ROOT}/src; running the compiled ${bin}`);
      SERVER_COMMAND = [bin];
      const again = await run([...setprivWrap(UID, GID, []), bin, "version"]);
      if (again.code !== 0) return `uid ${UID} cannot run ${bin} (${(again.stderr || again.stdout).trim()})`;
    }
  }
  return undefined;
}

/** Why Socle cannot run as the unprivileged uid here (not root, no setpriv, an unreadable checkout), or undefined. */
const unprivSkip =
  process.platform !== "linux" || process.getuid?.() !== 0 ? "needs root (to switch to uid 65534)" : !Bun.which("setpriv") ? "needs setpriv (util-linux)" : await unprivilegedRunSkip();
if (unprivSkip) console.log(`skip service-unit.test.ts, Socle as uid ${UID}: ${unprivSkip}`);

describe("the shipped systemd unit", () => {
  test("grants the same capabilities in CapabilityBoundingSet= and AmbientCapabilities=, with NoNewPrivileges= and no MemoryDenyWriteExecute=", () => {
    expect(CAPS).toEqual(["CAP_NET_BIND_SERVICE"]);
    const settings = UNIT.split("\n").filter((l) => /^[A-Za-z]+=/.test(l));
    expect(settings).toContain("NoNewPrivileges=yes");
    expect(settings).toContain("User=socle");
    expect(settings.some((l) => l.startsWith("MemoryDenyWriteExecute="))).toBe(false);
    expect(settings.some((l) => l.startsWith("PrivateUsers="))).toBe(false);
  });

  test("socle install --systemd --root writes it byte for byte, and a second run changes nothing", async () => {
    const root = mkdtempSync(join(tmpdir(), "socle-cap-install-"));
    try {
      const install = () => run([BUN, join(ROOT, "src/main.ts"), "install", "--systemd", "--root", root]);
      const first = await install();
      expect(first.stderr).toBe("");
      expect(first.code).toBe(0);
      expect(first.stdout).toContain("unit /etc/systemd/system/socle.service: written");
      expect(first.stdout).toContain("user socle: not created (--root");
      expect(readFileSync(join(root, "etc/systemd/system/socle.service"), "utf8")).toBe(UNIT);
      expect(statSync(join(root, "var/lib/socle")).mode & 0o777).toBe(0o750);
      const second = await install();
      expect(second.code).toBe(0);
      expect(second.stdout).toContain("unit /etc/systemd/system/socle.service: unchanged");
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test("why MemoryDenyWriteExecute= stays unset: under W^X (PR_SET_MDWE) bun:ffi, which DHCP's device-bound sockets use, refuses to load", async () => {
    // python3 applies the prctl and execs Bun, as systemd would before starting the service.
    const python = Bun.which("python3");
    const script = [
      "import ctypes, os, sys",
      "if ctypes.CDLL(None, use_errno=True).prctl(65, 1, 0, 0, 0) != 0: sys.exit(77)", // PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN
      "os.execv(sys.argv[1], sys.argv[1:])",
    ].join("\n");
    const ffi = `require("bun:ffi").dlopen("libc.so.6", { getpid: { args: [], returns: "i32" } }); console.log("ffi loaded")`;
    const plain = await run([BUN, "-e", ffi]);
    expect(plain.stdout.trim()).toBe("ffi loaded");
    if (!python) return console.log("skip the W^X half: no python3 to apply PR_SET_MDWE");
    const wx = await run([python, "-c", script, BUN, "-e", ffi]);
    if (wx.code === 77) return console.log("skip the W^X half: this kernel has no PR_SET_MDWE (Linux 6.3+)");
    expect(wx.stdout).not.toContain("ffi loaded");
    expect(wx.stderr).toContain("bun:ffi requires the JIT");
  });

  test.skipIf(unprivSkip !== undefined)("socle install --systemd as an unprivileged user: refused, one line, exit 1", async () => {
    const r = await run([...setprivWrap(UID, GID, []), ...SERVER_COMMAND, "install", "--systemd"]);
    expect({ code: r.code, stdout: r.stdout, stderr: r.stderr }).toEqual({
      code: 1,
      stdout: "",
      stderr: "Error: install: must run as root to create the socle user and write /etc/systemd/system (or use --root DIR to write below DIR, or --dry-run)\n",
    });
  });

  const analyze = Bun.which("systemd-analyze");
  if (!analyze) console.log("skip service-unit.test.ts systemd-analyze: not installed (Debian package systemd)");

  test.skipIf(!analyze)("systemd-analyze verify accepts it, as shipped and as installed elsewhere (ExecStart at a real executable)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "socle-cap-verify-"));
    try {
      const bin = join(dir, "socle");
      writeFileSync(bin, "#!/bin/sh\nexit 0\n", { mode: 0o755 });
      // verify checks that ExecStart's file exists on this host: point it at the stub.
      for (const [name, dataDir] of [["shipped", "/var/lib/socle"], ["elsewhere", "/srv/socle"]] as const) {
        mkdirSync(join(dir, name));
        const unitFile = join(dir, name, "socle.service");
        writeFileSync(unitFile, renderUnit(UNIT, { bin, dataDir }));
        const r = await run(["systemd-analyze", "verify", unitFile]);
        // Any line about the unit is a complaint (unknown setting, bad value, missing file).
        const complaints = `${r.stdout}${r.stderr}`.split("\n").filter((l) => l.includes("socle.service"));
        expect({ name, code: r.code, complaints }).toEqual({ name, code: 0, complaints: [] });
      }
      const sec = await run(["systemd-analyze", "security", "--offline=yes", join(dir, "shipped", "socle.service")]);
      const m = /Overall exposure level for socle\.service: ([\d.]+) (\w+)/.exec(sec.stdout + sec.stderr);
      if (!m) {
        console.log(`systemd-analyze security --offline not available here: ${(sec.stderr || sec.stdout).trim().split("\n")[0]}`);
        return;
      }
      console.log(`systemd-analyze security: exposure ${m[1]} ${m[2]}`);
      // systemd's scale: below 5 is "OK" or better ("MEDIUM" from 5, "EXPOSED" from 7).
      expect(Number(m[1])).toBeLessThan(5);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

// ---- the capabilities, measured ----------------------------------------------------------------


const tftpIsHpa = async () => {
  if (!Bun.which("tftp")) return false;
  const r = await run(["tftp", "-V"]);
  return /tftp-hpa/.test(r.stdout + r.stderr);
};

const capSkip =
  needsRoot() ??
  unprivSkip ??
  (!Bun.which("busybox") ? "needs busybox (udhcpc)" : !(await tftpIsHpa()) ? "needs the tftp-hpa client (tftp)" : !Bun.which("curl") ? "needs curl" : undefined);
if (capSkip) console.log(`skip service-unit.test.ts capabilities: ${capSkip}`);

describe.skipIf(capSkip !== undefined)("Socle as uid 65534 with the unit's capabilities, in namespaces of its own", () => {
  const lab = new NetLab();
  const kit = new ClientKit();
  const dirs: string[] = [];
  let srv = "";
  let cl = "";
  let srvIf = "";
  let clIf = "";

  /** A data directory the unprivileged uid owns, as StateDirectory= makes it. */
  const dataDir = () => {
    const d = mkdtempSync(join(tmpdir(), "socle-cap-data-"));
    dirs.push(d);
    chownSync(d, UID, GID);
    return d;
  };

  beforeAll(async () => {
    srv = await lab.ns("cap-s");
    cl = await lab.ns("cap-c");
    srvIf = lab.name("cs");
    clIf = lab.name("cc");
    await lab.veth({ ns: srv, name: srvIf }, { ns: cl, name: clIf });
    await lab.addr(srv, srvIf, `${SERVER}/24`);
  });

  afterAll(async () => {
    try {
      await lab.cleanup();
    } finally {
      kit.remove();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  const errors = (s: SocleInNetns, subsystem: string) => s.logs().filter((l) => l.subsystem === subsystem && l.level === "error").map((l) => l.msg);

  test(`with ${CAPS.join(" ")} only: a DHCP lease, a TFTP file and an HTTP file for real clients`, async () => {
    const socle = await SocleInNetns.start(lab, srv, {
      interfaces: [srvIf],
      wrap: setprivWrap(UID, GID, CAPS),
      command: SERVER_COMMAND,
      allServices: true,
      dataDir: dataDir(),
    });
    try {
      // The process is what the unit makes it: uid, no new privileges, and exactly these capabilities.
      const st = procStatus(socle.pid!);
      expect(st.Uid?.split(/\s+/)).toEqual([String(UID), String(UID), String(UID), String(UID)]);
      expect(st.NoNewPrivs).toBe("1");
      const want = CAPS.map(setprivName).sort();
      for (const set of ["CapEff", "CapPrm", "CapBnd", "CapAmb"]) expect({ set, caps: capNames(st[set] ?? "0") }).toEqual({ set, caps: want });

      // Every protocol is up; the DHCP socket is bound to its device (SO_BINDTODEVICE without CAP_NET_RAW).
      const msgs = socle.logs().map((l) => `${l.subsystem}: ${l.msg} ${JSON.stringify(l)}`);
      expect(msgs.some((m) => m.startsWith("dhcp: DHCP server listening") && m.includes(`"interfaces":"${srvIf}"`))).toBe(true);
      expect(msgs.some((m) => m.startsWith("tftp: listening") && m.includes(`"address":"${SERVER}"`) && m.includes('"port":69'))).toBe(true);
      expect(msgs.some((m) => m.startsWith("http: HTTP boot file server listening") && m.includes('"port":8091'))).toBe(true);
      expect([...errors(socle, "dhcp"), ...errors(socle, "tftp"), ...errors(socle, "static")]).toEqual([]);

      // DHCP: a broadcast DISCOVER from a client without an address, answered by broadcast.
      await socle.cli("subnets", "create", JSON.stringify({ Name: `cap-${lab.id}`, Subnet: "203.0.113.0/24", ActiveStart: "203.0.113.100", ActiveEnd: "203.0.113.150", ActiveLeaseTime: 600 }));
      const k = kit.udhcpcScript("cap");
      const r = await udhcpcOnce(lab, cl, clIf, k.script);
      expect(r.code).toBe(0);
      const ip = (await waitEvent(k.events, /^bound ip=(203\.0\.113\.\d+) mask=24 serverid=203\.0\.113\.1 /))[1]!;
      expect(await socle.lease(ip)).toMatchObject({ Addr: ip, State: "ACK" });

      // A file uploaded through the API (written by the unprivileged server), fetched over TFTP and HTTP.
      const bytes = randomBytes(100_000);
      const local = join(kit.dir, "payload.bin");
      writeFileSync(local, bytes);
      const up = await socle.cliRaw(["files", "upload", local, "cap/payload.bin"]);
      expect(up.stderr).toBe("");
      expect(up.code).toBe(0);
      const viaTftp = join(kit.dir, "via-tftp.bin");
      const t = await lab.exec(cl, ["tftp", "-m", "binary", SERVER, "-c", "get", "cap/payload.bin", viaTftp], 20_000);
      expect(`${t.stdout}${t.stderr}`.trim()).toBe("");
      expect(Buffer.compare(readFileSync(viaTftp), bytes)).toBe(0);
      const viaHttp = join(kit.dir, "via-http.bin");
      const h = await lab.exec(cl, ["curl", "-sS", "--fail", "--max-time", "10", "-o", viaHttp, `http://${SERVER}:8091/cap/payload.bin`], 20_000);
      expect(h.stderr).toBe("");
      expect(h.code).toBe(0);
      expect(Buffer.compare(readFileSync(viaHttp), bytes)).toBe(0);
    } finally {
      await socle.close();
    }
  });

  test("without capabilities: DHCP and TFTP fail with Socle's own log lines, HTTP (8091) and the API still serve", async () => {
    // No interface to wait for: DHCP is expected not to start.
    const socle = await SocleInNetns.start(lab, srv, { interfaces: [], wrap: setprivWrap(UID, GID, []), command: SERVER_COMMAND, allServices: true, dataDir: dataDir() });
    try {
      expect(capNames(procStatus(socle.pid!).CapEff ?? "0")).toEqual([]);
      await until("DHCP and TFTP report that they are not running", 10_000, () => errors(socle, "dhcp").length > 0 && errors(socle, "tftp").length > 0);
      // One line each, naming the port, the cause and the capability.
      const [tftp, ...moreTftp] = errors(socle, "tftp");
      const [dhcp, ...moreDhcp] = errors(socle, "dhcp");
      expect({ tftp, dhcp, more: [...moreTftp, ...moreDhcp] }).toEqual({
        tftp: expect.stringMatching(/^TFTP is not running: .*port 69.*CAP_NET_BIND_SERVICE/),
        dhcp: expect.stringMatching(/^DHCP is not running: cannot bind DHCP port 67 .*permission denied.*CAP_NET_BIND_SERVICE/),
        more: [],
      });
      console.log(`without capabilities, Socle logs:\n  ${tftp}\n  ${dhcp}`);
      const info = await socle.cli<{ Services: Record<string, { Running: boolean }> }>("info");
      expect({ dhcp: info.Services.Dhcp?.Running, tftp: info.Services.Tftp?.Running, http: info.Services.Static?.Running }).toEqual({ dhcp: false, tftp: false, http: true });

      // The client keeps an address from the first test or gets a static one: HTTP needs no privilege.
      await lab.ip(cl, "addr", "replace", "203.0.113.20/24", "dev", clIf);
      const h = await lab.exec(cl, ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", `http://${SERVER}:8091/no-such-file`], 20_000);
      expect(h.stdout).toBe("404");
    } finally {
      await socle.close();
    }
  });
});

// ---- immutable OS configs ----------------------------------------------------------------------

/** Keys LinuxKit's schema allows in an onboot or services entry (src/cmd/linuxkit/moby/schema.go). */
const LINUXKIT_IMAGE_KEYS = new Set([
  "name", "image", "capabilities", "capabilities.add", "ambient", "mounts", "binds", "binds.add", "devices", "tmpfs",
  "command", "env", "cwd", "net", "pid", "ipc", "uts", "userns", "readonly", "maskedPaths", "readonlyPaths", "uid", "gid",
  "additionalGids", "noNewPrivileges", "hostname", "oomScoreAdj", "rootfsPropagation", "cgroupsPath", "resources",
  "sysctl", "rlimits", "uidMappings", "gidMappings", "annotations", "runtime",
]);
const LINUXKIT_TOP_KEYS = new Set(["kernel", "init", "onboot", "onshutdown", "services", "trust", "files", "volumes"]);

describe("immutable OS configs agree with the unit", () => {
  test("LinuxKit: kernel, init, and the socle service as an unprivileged uid with the unit's capabilities", () => {
    const lk = parse(readFileSync(join(ROOT, "assets/linuxkit/socle.yml"), "utf8")) as Record<string, any>;
    expect(Object.keys(lk).filter((k) => !LINUXKIT_TOP_KEYS.has(k))).toEqual([]);
    expect(lk.kernel.image).toMatch(/^linuxkit\/kernel:/);
    expect(typeof lk.kernel.cmdline).toBe("string");
    for (const part of ["init", "runc", "containerd"]) expect((lk.init as string[]).some((i) => i.startsWith(`linuxkit/${part}:`))).toBe(true);
    const entries = [...(lk.onboot ?? []), ...lk.services] as Record<string, unknown>[];
    for (const e of entries) {
      expect(Object.keys(e).filter((k) => !LINUXKIT_IMAGE_KEYS.has(k))).toEqual([]);
      expect(typeof e.name).toBe("string");
      expect(typeof e.image).toBe("string");
    }
    const socle = (lk.services as Record<string, any>[]).find((s) => s.name === "socle")!;
    expect(socle).toBeDefined();
    expect(socle.uid).toBeGreaterThan(0);
    expect(socle.gid).toBeGreaterThan(0);
    expect(socle.capabilities).toEqual(CAPS);
    expect(socle.ambient).toEqual(CAPS);
    expect(socle.noNewPrivileges).toBe(true);
    expect(socle.readonly).toBe(true);
    expect(socle.net).toBe("host");
    expect(socle.binds).toContain("/var/lib/socle:/var/lib/socle");
    expect(socle.env).toContain("SOCLE_DATA_DIR=/var/lib/socle");
    expect(socle.command).toEqual(["/usr/local/bin/socle", "serve"]);
    // The data directory is mounted, then handed to the service's uid before the service starts.
    const onboot = lk.onboot as Record<string, any>[];
    const mount = onboot.findIndex((o) => o.name === "mount" && (o.command as string[]).includes("/var/lib/socle"));
    const chown = onboot.findIndex((o) => o.name === "socle-data");
    expect(mount).toBeGreaterThanOrEqual(0);
    expect(chown).toBeGreaterThan(mount);
    expect((onboot[chown]!.command as string[]).join(" ")).toContain(`chown ${socle.uid}:${socle.gid} /var/lib/socle`);
    // The image the service runs: the Dockerfile beside it puts the binary where `command` says.
    const dockerfile = readFileSync(join(ROOT, "assets/linuxkit/Dockerfile"), "utf8");
    expect(dockerfile).toMatch(/^COPY socle-linux-\$\{ARCH\} \/usr\/local\/bin\/socle$/m);
    expect(dockerfile).toContain(`USER ${socle.uid}:${socle.gid}`);
  });

  test("Butane (FCOS 1.5.0): the unit's text byte for byte, the user, the data directory, the binary; and what build/butane.ts generates", () => {
    const text = readFileSync(join(ROOT, "assets/butane/socle.bu"), "utf8");
    expect(text).toBe(butaneConfig(UNIT));
    // YAML 1.1, as Butane reads it: 0750 is octal.
    const bu = parse(text, { version: "1.1" }) as Record<string, any>;
    expect(bu.variant).toBe("fcos");
    expect(bu.version).toBe("1.5.0");
    const units = bu.systemd.units as Record<string, any>[];
    expect(units.map((u) => u.name)).toEqual(["socle.service"]);
    expect(units[0]!.enabled).toBe(true);
    expect(units[0]!.contents).toBe(UNIT);
    const exec = /^ExecStart=(\S+) serve$/m.exec(UNIT)![1];
    const files = bu.storage.files as Record<string, any>[];
    const bin = files.find((f) => f.path === exec)!;
    expect(bin).toBeDefined();
    expect(bin.mode).toBe(0o755);
    expect(bin.contents.source).toMatch(/^https?:\/\//);
    const dir = (bu.storage.directories as Record<string, any>[]).find((d) => d.path === "/var/lib/socle")!;
    expect(dir).toMatchObject({ mode: 0o750, user: { name: "socle" }, group: { name: "socle" } });
    const user = (bu.passwd.users as Record<string, any>[]).find((u) => u.name === "socle")!;
    expect(user).toMatchObject({ system: true, no_create_home: true, primary_group: "socle" });
    expect((bu.passwd.groups as Record<string, any>[]).find((g) => g.name === "socle")).toMatchObject({ system: true });
  });
});
