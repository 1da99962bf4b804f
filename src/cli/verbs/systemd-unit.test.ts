import { describe, expect, test } from "bun:test";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { CliError, UsageError } from "../cli-error.ts";
import { bindToDeviceNeedsNetRaw, checkUnitPath, renderUnit, shippedUnit, UNIT_ASSET, unitCapabilities } from "./systemd-unit.ts";

const SHIPPED = readFileSync(resolve(import.meta.dir, "../../..", UNIT_ASSET), "utf8");
const settings = (unit: string) => unit.split("\n").filter((l) => /^[A-Za-z]+=/.test(l));

describe("shippedUnit", () => {
  test("from source: the file in the tree", async () => {
    expect(await shippedUnit({ embedded: [] })).toBe(SHIPPED);
  });

  test("compiled: the embedded file of that name, not the tree", async () => {
    const blob = Object.assign(new Blob(["[Service]\n"]), { name: UNIT_ASSET });
    const other = Object.assign(new Blob(["x"]), { name: "assets/boot/ipxe.efi" });
    expect(await shippedUnit({ embedded: [other, blob] })).toBe("[Service]\n");
  });

  test("compiled without it: an error naming the asset; from a tree without it: one naming the path", async () => {
    const other = Object.assign(new Blob(["x"]), { name: "assets/boot/ipxe.efi" });
    await expect(shippedUnit({ embedded: [other] })).rejects.toThrow(`this socle executable has no ${UNIT_ASSET} embedded`);
    const empty = mkdtempSync(join(tmpdir(), "socle-unit-"));
    try {
      const err = await shippedUnit({ embedded: [], sourceRoot: empty }).catch((e) => e);
      expect(err).toBeInstanceOf(CliError);
      expect(err.message).toBe(`cannot read the systemd unit "${join(empty, UNIT_ASSET)}": ENOENT`);
      mkdirSync(join(empty, "assets/systemd"), { recursive: true });
      writeFileSync(join(empty, UNIT_ASSET), "[Unit]\n");
      expect(await shippedUnit({ embedded: [], sourceRoot: empty })).toBe("[Unit]\n");
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe("renderUnit", () => {
  test("the defaults give the shipped text byte for byte", () => {
    expect(renderUnit(SHIPPED, { bin: "/usr/local/bin/socle", dataDir: "/var/lib/socle" })).toBe(SHIPPED);
    expect(renderUnit(SHIPPED, { bin: "/usr/local/bin/socle/", dataDir: "/var/lib//socle/", extraCapabilities: [] })).toBe(SHIPPED);
  });

  test("--bin changes ExecStart only", () => {
    const unit = renderUnit(SHIPPED, { bin: "/opt/bin/socle", dataDir: "/var/lib/socle" });
    expect(settings(unit).filter((l) => !settings(SHIPPED).includes(l))).toEqual(["ExecStart=/opt/bin/socle serve"]);
  });

  test("a data directory under /var/lib/ stays a StateDirectory=", () => {
    const unit = renderUnit(SHIPPED, { bin: "/usr/local/bin/socle", dataDir: "/var/lib/socle-b" });
    expect(settings(unit).filter((l) => !settings(SHIPPED).includes(l))).toEqual(["Environment=SOCLE_DATA_DIR=/var/lib/socle-b", "StateDirectory=socle-b"]);
    expect(settings(unit)).toContain("StateDirectoryMode=0750");
  });

  test("elsewhere it becomes the one ReadWritePaths= (no StateDirectory= left)", () => {
    const unit = renderUnit(SHIPPED, { bin: "/usr/local/bin/socle", dataDir: "/srv/socle" });
    const s = settings(unit);
    expect(s.filter((l) => !settings(SHIPPED).includes(l))).toEqual(["Environment=SOCLE_DATA_DIR=/srv/socle", "ReadWritePaths=/srv/socle"]);
    expect(s.filter((l) => l.startsWith("StateDirectory"))).toEqual([]);
    expect(s).toContain("ProtectSystem=strict");
  });

  test("extra capabilities join both capability lines, once", () => {
    const unit = renderUnit(SHIPPED, { bin: "/usr/local/bin/socle", dataDir: "/var/lib/socle", extraCapabilities: ["CAP_NET_RAW", "CAP_NET_BIND_SERVICE"] });
    expect(unitCapabilities(unit)).toEqual(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW"]);
    expect(settings(unit)).toContain("AmbientCapabilities=CAP_NET_BIND_SERVICE CAP_NET_RAW");
  });

  test("an HA node's unit: CAP_NET_ADMIN and CAP_NET_RAW on both lines, AF_PACKET allowed; nothing else changes", () => {
    const unit = renderUnit(SHIPPED, { bin: "/usr/local/bin/socle", dataDir: "/var/lib/socle", extraCapabilities: ["CAP_NET_RAW"], ha: true });
    expect(unitCapabilities(unit)).toEqual(["CAP_NET_BIND_SERVICE", "CAP_NET_RAW", "CAP_NET_ADMIN"]);
    expect(settings(unit)).toContain("RestrictAddressFamilies=AF_INET AF_INET6 AF_NETLINK AF_UNIX AF_PACKET");
    const changed = unit.split("\n").filter((l, i) => l !== SHIPPED.split("\n")[i]);
    expect(changed.length).toBe(3);
  });

  test("a unit that lacks a line the renderer replaces is an error, not a silent no-op", () => {
    const broken = SHIPPED.replace("StateDirectory=socle\n", "");
    expect(() => renderUnit(broken, { bin: "/usr/local/bin/socle", dataDir: "/srv/x" })).toThrow('expected the line "StateDirectory=socle" once, found it 0 times');
  });
});

describe("unitCapabilities", () => {
  test("the shipped unit grants CAP_NET_BIND_SERVICE and nothing else", () => {
    expect(unitCapabilities(SHIPPED)).toEqual(["CAP_NET_BIND_SERVICE"]);
  });

  test("the bounding and ambient sets must agree, appear once, and name capabilities", () => {
    expect(() => unitCapabilities("CapabilityBoundingSet=CAP_A\nAmbientCapabilities=CAP_B\n")).toThrow("CapabilityBoundingSet=CAP_A and AmbientCapabilities=CAP_B differ");
    expect(() => unitCapabilities("CapabilityBoundingSet=CAP_A\n")).toThrow("expected one AmbientCapabilities= line, found 0");
    expect(() => unitCapabilities("CapabilityBoundingSet=net_raw\nAmbientCapabilities=net_raw\n")).toThrow('names "net_raw", not a capability');
    expect(unitCapabilities("CapabilityBoundingSet=CAP_B CAP_A\nAmbientCapabilities=CAP_A CAP_B\n")).toEqual(["CAP_B", "CAP_A"]);
    expect(unitCapabilities("CapabilityBoundingSet=\nAmbientCapabilities=\n")).toEqual([]);
  });
});

test("bindToDeviceNeedsNetRaw: kernels before 5.7", () => {
  expect(bindToDeviceNeedsNetRaw("4.18.0-553.el8_10.x86_64")).toBe(true);
  expect(bindToDeviceNeedsNetRaw("5.6.19")).toBe(true);
  expect(bindToDeviceNeedsNetRaw("5.7.0")).toBe(false);
  expect(bindToDeviceNeedsNetRaw("5.10.0-30-amd64")).toBe(false);
  expect(bindToDeviceNeedsNetRaw("6.18.44-fc-v1272")).toBe(false);
  expect(bindToDeviceNeedsNetRaw("unknown")).toBe(false);
});

test("checkUnitPath: absolute, normalised, nothing systemd would read differently", () => {
  expect(checkUnitPath("--bin", "/usr/local//bin/socle/")).toBe("/usr/local/bin/socle");
  const bad = (v: string) => {
    try {
      checkUnitPath("--data-dir", v);
    } catch (e) {
      expect(e).toBeInstanceOf(UsageError);
      return (e as Error).message;
    }
    return "accepted";
  };
  expect(bad("var/lib/socle")).toBe('--data-dir: "var/lib/socle" is not an absolute path');
  expect(bad("/")).toBe('--data-dir: "/" is the root directory');
  for (const v of ["/srv/my socle", "/srv/50%", "/srv/$HOME", '/srv/"x"', "/srv/a\\b"]) expect(bad(v)).toContain("contains a character systemd would not take literally");
});
