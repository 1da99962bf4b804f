// Runs the discovery registration script under real busybox (the applets the initramfs has)
// against a fake /proc and /sys, posting over TLS (Socle's own PKI) to a local server that
// records the request: what it sends, how it parses the answer, and how it fails.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePki } from "../../pki/pki.ts";
import { nullLogger } from "../../log/logger.ts";

const SCRIPT = join(import.meta.dir, "socle-register");
const BUSYBOX = ["/bin/busybox", "/usr/bin/busybox"].find((p) => existsSync(p));
const APPLETS = ["sh", "cat", "sed", "tr", "grep", "head", "mkdir", "rm", "sleep", "timeout", "wget", "uname", "ssl_client"];

interface Seen {
  auth: string;
  type: string;
  body: any;
}

let dir = "";
let bin = "";
let server: ReturnType<typeof Bun.serve> | undefined;
const seen: Seen[] = [];
let answer: { status: number; body: string } = { status: 201, body: "" };
/** Answers given before `answer`, first to last (each used once). */
let answersFirst: Array<{ status: number; body: string }> = [];

function fakeRoot(cmdline: string): string {
  const r = mkdtempSync(join(dir, "root-"));
  const w = (p: string, s: string) => {
    mkdirSync(join(r, p, ".."), { recursive: true });
    writeFileSync(join(r, p), s);
  };
  w("proc/cmdline", cmdline + "\n");
  w("proc/cpuinfo", "processor\t: 0\nmodel name\t: QEMU\n\nprocessor\t: 1\nmodel name\t: QEMU\n");
  w("proc/meminfo", "MemTotal:         254420 kB\nMemFree:          200000 kB\n");
  const nic = (name: string, mac: string, type = "1", device = true) => {
    w(`sys/class/net/${name}/address`, mac + "\n");
    w(`sys/class/net/${name}/type`, type + "\n");
    if (device) mkdirSync(join(r, "sys/class/net", name, "device"), { recursive: true });
  };
  nic("lo", "00:00:00:00:00:00", "772", false);
  nic("eth0", "52:54:00:AA:00:01");
  nic("eth1", "52:54:00:aa:00:02");
  nic("br0", "52:54:00:aa:00:09", "1", false); // virtual: no device link
  w("sys/block/vda/size", "41943040\n");
  w("sys/block/loop0/size", "100\n");
  w("sys/block/sda/size", "2048\n");
  w("sys/class/dmi/id/product_serial", 'SN"12\\34\n');
  w("sys/class/dmi/id/product_uuid", "4c4c4544-0031-3510-8052-b4c04f4e3232\n");
  w("sys/class/dmi/id/sys_vendor", "QEMU\n");
  w("sys/class/dmi/id/product_name", "Not Specified\n");
  w("run/lease.env", "ip='198.51.100.100'\nhostname='node-7'\n");
  return r;
}

async function runScript(root: string, iface = "eth1"): Promise<{ code: number; out: string }> {
  const p = Bun.spawn([join(bin, "sh"), SCRIPT, iface], {
    env: { PATH: bin, SOCLE_ROOT: root },
    stdout: "pipe",
    stderr: "pipe",
  });
  const [o, e, code] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  return { code, out: o + e };
}

describe.skipIf(!BUSYBOX)("socle-register (busybox)", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "socle-register-"));
    bin = join(dir, "bin");
    mkdirSync(bin);
    for (const a of APPLETS) symlinkSync(BUSYBOX as string, join(bin, a));
    const pki = await ensurePki(join(dir, "pki"), { log: nullLogger, addresses: ["127.0.0.1"] });
    server = Bun.serve({
      hostname: "127.0.0.1",
      port: 0,
      tls: { cert: readFileSync(pki.certPath, "utf8"), key: readFileSync(pki.keyPath, "utf8") },
      async fetch(req) {
        const url = new URL(req.url);
        if (req.method !== "POST" || url.pathname !== "/api/v3/register") return new Response("no", { status: 404 });
        const text = await req.text();
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        seen.push({ auth: req.headers.get("authorization") ?? "", type: req.headers.get("content-type") ?? "", body });
        const a = answersFirst.shift() ?? answer;
        return new Response(a.body, { status: a.status, headers: { "Content-Type": "application/json" } });
      },
    });
  });
  afterAll(() => {
    server?.stop(true);
    rmSync(dir, { recursive: true, force: true });
  });

  test("posts MACs (boot NIC first) and inventory with the token, keeps the machine token", async () => {
    seen.length = 0;
    answer = {
      status: 201,
      body: JSON.stringify({ Machine: { Uuid: "0f0e0d0c-0b0a-4908-8706-050403020100", Name: "node-7" }, Token: "machine.tok.en" }),
    };
    const root = fakeRoot(`console=ttyS0 socle.api=https://127.0.0.1:${server!.port}/ socle.token=reg.tok.en socle.url=http://127.0.0.1:8091`);
    const r = await runScript(root);
    expect(r.out).toContain("registered as node-7 (0f0e0d0c-0b0a-4908-8706-050403020100)");
    expect(r.code).toBe(0);
    expect(seen.length).toBe(1);
    const s = seen[0]!;
    expect(s.auth).toBe("Bearer reg.tok.en");
    expect(s.type).toBe("application/json");
    expect(s.body.HardwareAddrs).toEqual(["52:54:00:aa:00:02", "52:54:00:aa:00:01"]);
    expect(s.body.Arch).toBe(process.arch === "x64" ? "x86_64" : s.body.Arch);
    const inv = s.body.Inventory;
    expect(inv.CPUs).toBe(2);
    expect(inv.MemoryBytes).toBe(254420 * 1024);
    expect(inv.Disks).toEqual([
      { Name: "sda", SizeBytes: 2048 * 512 },
      { Name: "vda", SizeBytes: 41943040 * 512 },
    ]);
    expect(inv.Nics).toEqual([
      { Name: "eth1", Mac: "52:54:00:aa:00:02" },
      { Name: "eth0", Mac: "52:54:00:aa:00:01" },
    ]);
    expect(inv.SerialNumber).toBe("SN1234"); // quote and backslash dropped
    expect(inv.SystemUuid).toBe("4c4c4544-0031-3510-8052-b4c04f4e3232");
    expect(inv.Manufacturer).toBe("QEMU");
    expect(inv.ProductName).toBeUndefined(); // "Not Specified" is no fact
    expect(inv.Hostname).toBe("node-7");
    const tokenFile = join(root, "run/socle/token");
    expect(readFileSync(tokenFile, "utf8").trim()).toBe("machine.tok.en");
    expect(statSync(tokenFile).mode & 0o077).toBe(0);
  });

  test("a known machine booting discovery again: its machine token is sent, and kept when the answer withholds a new one", async () => {
    seen.length = 0;
    answer = { status: 200, body: JSON.stringify({ Machine: { Uuid: "0f0e0d0c-0b0a-4908-8706-050403020100", Name: "web-1" }, Token: "" }) };
    const root = fakeRoot(`socle.api=https://127.0.0.1:${server!.port} socle.token=own.machine.token`);
    const r = await runScript(root);
    expect(r.code).toBe(0);
    expect(r.out).toContain("registered as web-1 (0f0e0d0c-0b0a-4908-8706-050403020100)");
    expect(seen.map((s) => s.auth)).toEqual(["Bearer own.machine.token"]);
    expect(readFileSync(join(root, "run/socle/token"), "utf8").trim()).toBe("own.machine.token");
  });

  test("a server error is retried, then reported with exit 1", async () => {
    seen.length = 0;
    answer = { status: 503, body: JSON.stringify({ Messages: ["busy"] }) };
    const root = fakeRoot(`socle.api=https://127.0.0.1:${server!.port}/api/v3 socle.token=t`);
    const r = await runScript(root);
    expect(r.code).toBe(1);
    expect(seen.length).toBe(5);
    expect(r.out).toContain("could not register with https://127.0.0.1:");
  }, 30_000);

  test("a refusal (403, 422) is final: one request, exit 1 naming it", async () => {
    for (const status of [403, 422]) {
      seen.length = 0;
      answer = { status, body: JSON.stringify({ Messages: ["refused"] }) };
      const r = await runScript(fakeRoot(`socle.api=https://127.0.0.1:${server!.port} socle.token=t`));
      expect(r.code).toBe(1);
      expect(seen.length).toBe(1);
      expect(r.out).toContain(`refused by https://127.0.0.1:${server!.port}/api/v3/register`);
      expect(r.out).toContain(String(status));
    }
  });

  test("429 (too many registrations) is retried after a longer pause", async () => {
    seen.length = 0;
    answersFirst = [{ status: 429, body: JSON.stringify({ Messages: ["slow down"] }) }];
    answer = { status: 201, body: JSON.stringify({ Machine: { Uuid: "0f0e0d0c-0b0a-4908-8706-050403020100", Name: "node-7" }, Token: "machine.tok.en" }) };
    const t0 = Date.now();
    const r = await runScript(fakeRoot(`socle.api=https://127.0.0.1:${server!.port} socle.token=t`));
    expect(r.code).toBe(0);
    expect(seen.length).toBe(2);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(5_000);
  }, 30_000);

  test("no socle.api or socle.token: exit 1 naming the missing argument, nothing sent", async () => {
    seen.length = 0;
    const a = await runScript(fakeRoot("socle.token=t"));
    expect(a.code).toBe(1);
    expect(a.out).toContain("no socle.api=");
    const b = await runScript(fakeRoot("socle.api=https://127.0.0.1:1"));
    expect(b.code).toBe(1);
    expect(b.out).toContain("no socle.token=");
    expect(seen.length).toBe(0);
  });

  test("the script and init are executable (cpio keeps the mode)", () => {
    expect(statSync(SCRIPT).mode & 0o111).not.toBe(0);
    expect(statSync(join(import.meta.dir, "init")).mode & 0o111).not.toBe(0);
  });
});
