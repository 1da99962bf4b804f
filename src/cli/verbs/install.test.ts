import { afterEach, describe, expect, test } from "bun:test";
import { chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CliError } from "../cli-error.ts";
import { installSystemd, replaceFile, userAddCommands, type InstallHost, type InstallOptions } from "./install.ts";
import { unitCapabilities, UNIT_ASSET } from "./systemd-unit.ts";

const SHIPPED = readFileSync(resolve(import.meta.dir, "../../..", UNIT_ASSET), "utf8");
const UNIT = "etc/systemd/system/socle.service";
const temps: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "socle-install-"));
  temps.push(d);
  return d;
};
afterEach(() => {
  for (const d of temps.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A host whose commands are recorded; `socle` exists once useradd/adduser ran (or from the start). */
function fakeHost(over: Partial<InstallHost> & { userExists?: boolean; tools?: string[] } = {}): InstallHost & { commands: string[][] } {
  const commands: string[][] = [];
  let exists = over.userExists ?? false;
  const tools = new Set(over.tools ?? ["useradd"]);
  return {
    uid: 0,
    compiled: false,
    execPath: "/nonexistent/bun",
    kernelRelease: "6.18.44",
    which: (cmd) => (tools.has(cmd) ? `/usr/sbin/${cmd}` : null),
    exists: (p) => p === "/usr/sbin/nologin",
    async run(argv) {
      commands.push([...argv]);
      if (argv[0] === "getent" && argv[1] === "passwd") {
        return exists ? { code: 0, stdout: `socle:x:${process.getuid!()}:${process.getgid!()}:Socle:/var/lib/socle:/usr/sbin/nologin\n`, stderr: "" } : { code: 2, stdout: "", stderr: "" };
      }
      if (argv[0] === "getent" && argv[1] === "group") return { code: 2, stdout: "", stderr: "" };
      if (argv[0] === "useradd" || argv[0] === "adduser") exists = true;
      return { code: 0, stdout: "", stderr: "" };
    },
    shippedUnit: async () => SHIPPED,
    ...over,
    commands,
  };
}

const opts = (prefix: string, over: Partial<InstallOptions> = {}): InstallOptions => ({
  prefix,
  live: false,
  bin: "/usr/local/bin/socle",
  dataDir: "/var/lib/socle",
  dryRun: false,
  ...over,
});

async function install(o: InstallOptions, host: InstallHost): Promise<string[]> {
  const lines: string[] = [];
  await installSystemd(o, host, (l) => lines.push(l));
  return lines;
}

describe("socle install --systemd", () => {
  test("not root, no --root: refused in one line before anything is done", async () => {
    const host = fakeHost({ uid: 1000 });
    const prefix = temp();
    const err = await install(opts(prefix, { live: true }), host).catch((e) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe("install: must run as root to create the socle user and write /etc/systemd/system (or use --root DIR to write below DIR, or --dry-run)");
    expect(err.message).not.toContain("\n");
    expect(host.commands).toEqual([]);
    expect(readdirSync(prefix)).toEqual([]);
  });

  test("--root: the unit byte for byte, the data directory 0750, no user, no binary from source; again: unchanged", async () => {
    const prefix = temp();
    const host = fakeHost({ uid: 1000 });
    const first = await install(opts(prefix), host);
    expect(readFileSync(join(prefix, UNIT), "utf8")).toBe(SHIPPED);
    expect(statSync(join(prefix, UNIT)).mode & 0o777).toBe(0o644);
    expect(statSync(join(prefix, "var/lib/socle")).mode & 0o777).toBe(0o750);
    expect(existsSync(join(prefix, "usr/local/bin/socle"))).toBe(false);
    expect(host.commands).toEqual([]);
    expect(first).toContain("unit /etc/systemd/system/socle.service: written");
    expect(first).toContain("data directory /var/lib/socle: created (owner unchanged (--root) 0750)");
    expect(first.find((l) => l.startsWith("user socle: not created (--root"))).toBeDefined();
    expect(first.find((l) => l.startsWith("executable /usr/local/bin/socle: not copied (running from source"))).toBeDefined();
    expect(first).toContain("  systemctl daemon-reload");
    expect(first).toContain("  systemctl enable --now socle");

    const second = await install(opts(prefix), host);
    expect(second).toContain("unit /etc/systemd/system/socle.service: unchanged");
    expect(second).toContain("data directory /var/lib/socle: exists (owner unchanged (--root) 0750)");
    expect(readdirSync(join(prefix, "etc/systemd/system"))).toEqual(["socle.service"]);
  });

  test("an edited unit is replaced; --data-dir and --bin reach the unit", async () => {
    const prefix = temp();
    mkdirSync(join(prefix, "etc/systemd/system"), { recursive: true });
    writeFileSync(join(prefix, UNIT), "[Service]\nExecStart=/bin/false\n");
    const lines = await install(opts(prefix, { dataDir: "/srv/socle", bin: "/opt/socle/bin/socle" }), fakeHost());
    expect(lines).toContain("unit /etc/systemd/system/socle.service: updated");
    const unit = readFileSync(join(prefix, UNIT), "utf8");
    expect(unit).toContain("\nExecStart=/opt/socle/bin/socle serve\n");
    expect(unit).toContain("\nReadWritePaths=/srv/socle\n");
    expect(statSync(join(prefix, "srv/socle")).mode & 0o777).toBe(0o750);
    expect(lines).toContain("warning: /opt/socle/bin/socle does not exist; the unit's ExecStart needs it");
  });

  test("the compiled binary is copied (0755) to --bin, and not again when it is the same", async () => {
    const prefix = temp();
    const exe = join(temp(), "socle-linux-amd64");
    writeFileSync(exe, "\x7fELF pretend executable");
    const host = fakeHost({ compiled: true, execPath: exe });
    expect(await install(opts(prefix), host)).toContain(`executable /usr/local/bin/socle: installed from ${exe}`);
    const bin = join(prefix, "usr/local/bin/socle");
    expect(readFileSync(bin, "utf8")).toBe("\x7fELF pretend executable");
    expect(statSync(bin).mode & 0o777).toBe(0o755);
    expect(await install(opts(prefix), host)).toContain("executable /usr/local/bin/socle: unchanged");
    writeFileSync(exe, "\x7fELF a newer build");
    expect(await install(opts(prefix), host)).toContain(`executable /usr/local/bin/socle: replaced from ${exe}`);
    expect(readFileSync(bin, "utf8")).toBe("\x7fELF a newer build");
    expect(readdirSync(join(prefix, "usr/local/bin"))).toEqual(["socle"]);
  });

  test("live: creates the user with useradd, owns the data directory, and says what to run next", async () => {
    const prefix = temp();
    const host = fakeHost();
    const lines = await install(opts(prefix, { live: true }), host);
    expect(host.commands).toContainEqual([
      "useradd", "--system", "--user-group", "--home-dir", "/var/lib/socle", "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "Socle provisioning server", "socle",
    ]);
    expect(lines).toContain(`user socle: created (uid ${process.getuid!()}, gid ${process.getgid!()})`);
    expect(lines).toContain("data directory /var/lib/socle: created (socle:socle 0750)");
    expect(lines[lines.indexOf("Next:") + 2]).toBe("  systemctl enable --now socle");
    const again = fakeHost({ userExists: true });
    expect(await install(opts(prefix, { live: true }), again)).toContain(`user socle: exists (uid ${process.getuid!()}, gid ${process.getgid!()})`);
    expect(again.commands.some((c) => c[0] === "useradd")).toBe(false);
  });

  test("live on a kernel before 5.7: the unit grants CAP_NET_RAW as well, and says why", async () => {
    const prefix = temp();
    const lines = await install(opts(prefix, { live: true }), fakeHost({ userExists: true, kernelRelease: "4.18.0-553.el8_10.x86_64" }));
    expect(lines[0]).toBe("kernel 4.18.0-553.el8_10.x86_64: SO_BINDTODEVICE needs CAP_NET_RAW before Linux 5.7, so the unit grants it too");
    expect(unitCapabilities(readFileSync(join(prefix, UNIT), "utf8"))).toEqual(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
  });

  test("a failing useradd stops the install with its message", async () => {
    const host = fakeHost({
      async run(argv) {
        if (argv[0] === "useradd") return { code: 9, stdout: "", stderr: "useradd: username 'socle' already exists\n" };
        return { code: 2, stdout: "", stderr: "" };
      },
    });
    const prefix = temp();
    await expect(install(opts(prefix, { live: true }), host)).rejects.toThrow(/^install: useradd --system .* socle failed \(exit 9\): useradd: username 'socle' already exists$/);
    expect(existsSync(join(prefix, UNIT))).toBe(false);
  });

  test("--dry-run: says what it would do, prints the unit, and writes nothing (no root needed)", async () => {
    const prefix = temp();
    const host = fakeHost({ uid: 1000 });
    const lines = await install(opts(prefix, { live: true, dryRun: true }), host);
    expect(readdirSync(prefix)).toEqual([]);
    expect(host.commands.filter((c) => c[0] !== "getent")).toEqual([]);
    expect(lines.find((l) => l.startsWith("user socle: would be created: useradd --system"))).toBeDefined();
    expect(lines).toContain("data directory /var/lib/socle: would be created, socle:socle 0750");
    expect(lines).toContain("unit /etc/systemd/system/socle.service: would be written");
    expect(lines.slice(lines.indexOf("--- /etc/systemd/system/socle.service ---") + 1).join("\n") + "\n").toBe(SHIPPED);
  });

  test("--root that is not a directory, or a data directory that is a file: refused", async () => {
    const prefix = temp();
    await expect(install(opts(join(prefix, "missing")), fakeHost())).rejects.toThrow(`install: --root "${join(prefix, "missing")}" is not a directory`);
    mkdirSync(join(prefix, "var/lib"), { recursive: true });
    writeFileSync(join(prefix, "var/lib/socle"), "");
    await expect(install(opts(prefix), fakeHost())).rejects.toThrow(`install: data directory "${join(prefix, "var/lib/socle")}" exists and is not a directory`);
  });

  test.skipIf(process.getuid?.() !== 0)("live (as root): what is already in the data directory becomes socle's", async () => {
    const prefix = temp();
    const data = join(prefix, "var/lib/socle");
    mkdirSync(join(data, "store"), { recursive: true });
    writeFileSync(join(data, "store/snapshot.json"), "{}");
    const host = fakeHost({
      userExists: true,
      async run(argv) {
        if (argv[0] === "getent" && argv[1] === "passwd") return { code: 0, stdout: "socle:x:65534:65534::/var/lib/socle:/usr/sbin/nologin\n", stderr: "" };
        return { code: 2, stdout: "", stderr: "" };
      },
    });
    const lines = await install(opts(prefix, { live: true }), host);
    expect(lines).toContain("data directory /var/lib/socle: owner fixed on 3 entries (socle:socle 0750)");
    for (const p of [data, join(data, "store"), join(data, "store/snapshot.json")]) expect(statSync(p).uid).toBe(65534);
    chownSync(data, 0, 0);
  });
});

describe("userAddCommands", () => {
  test("shadow's useradd; an existing group is joined rather than made", async () => {
    expect(await userAddCommands(fakeHost(), "/var/lib/socle")).toEqual([
      ["useradd", "--system", "--user-group", "--home-dir", "/var/lib/socle", "--no-create-home", "--shell", "/usr/sbin/nologin", "--comment", "Socle provisioning server", "socle"],
    ]);
    const withGroup = fakeHost({ run: async (argv) => ({ code: argv[1] === "group" ? 0 : 2, stdout: "", stderr: "" }) });
    expect((await userAddCommands(withGroup, "/srv/socle"))[0]?.slice(0, 4)).toEqual(["useradd", "--system", "--gid", "socle"]);
  });

  test("BusyBox (Alpine): addgroup -S, then adduser -S; neither: an error that says what to do", async () => {
    const bb = fakeHost({ tools: ["adduser", "addgroup"], exists: (p) => p === "/sbin/nologin" });
    expect(await userAddCommands(bb, "/var/lib/socle")).toEqual([
      ["addgroup", "-S", "socle"],
      ["adduser", "-S", "-D", "-H", "-h", "/var/lib/socle", "-s", "/sbin/nologin", "-G", "socle", "-g", "Socle provisioning server", "socle"],
    ]);
    await expect(userAddCommands(fakeHost({ tools: [] }), "/var/lib/socle")).rejects.toThrow(
      "install: cannot create user socle: neither useradd nor adduser is installed (create a system user socle and run install again)",
    );
  });
});

describe("replaceFile", () => {
  test("a failure while writing leaves the old file as it was and no temporary file behind", async () => {
    const dir = temp();
    const target = join(dir, "socle.service");
    writeFileSync(target, "old\n");
    const err = await replaceFile(target, 0o644, async (tmp) => {
      writeFileSync(tmp, "half of the ne");
      throw Object.assign(new Error("disk full"), { code: "ENOSPC" });
    }).catch((e) => e);
    expect(err).toBeInstanceOf(CliError);
    expect(err.message).toBe(`install: cannot write "${target}": ENOSPC`);
    expect(readFileSync(target, "utf8")).toBe("old\n");
    expect(readdirSync(dir)).toEqual(["socle.service"]);
  });

  test("success: the new content, with exactly the mode asked for", async () => {
    const dir = temp();
    const target = join(dir, "socle");
    await replaceFile(target, 0o755, async (tmp) => writeFileSync(tmp, "new", { mode: 0o600 }));
    expect(readFileSync(target, "utf8")).toBe("new");
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(readdirSync(dir)).toEqual(["socle"]);
  });
});
