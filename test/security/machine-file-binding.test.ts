// Pins finding 3 of the machine-trust issue: "Rendered per-machine files are open to anyone. A
// kickstart for a known machine, with its root password hash and a fresh one-hour machine token,
// is served to any address that asks for /machines/<uuid>/kickstart.ks. The machine's own address
// is never checked. UUIDs are not secret; they appear in the machine's iPXE script, which is open
// too."
//
// A whole Socle on 127.0.0.1 serves boot files over HTTP; a known machine booting the shipped
// rocky-9 env has Address 127.0.0.2. curl asks from 127.0.0.2 (the machine), 127.0.0.3 (anyone
// else) and 127.0.0.4 (an address DHCP leased to the machine's MAC): loopback aliases need no
// setup on Linux. TFTP is asked the same through a boot core over the same store, on 127.0.0.1
// (with the server's key: the password hash is a Secure param, stored sealed).
// With the bindMachineFiles pref off (a lab behind NAT), anyone gets the files again.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createStoreBootData, type StoreBootData } from "../../src/adapters/boot-data.ts";
import { BootCore } from "../../src/boot/core.ts";
import { createLogger } from "../../src/log/logger.ts";
import { startTftpServer, type TftpServer } from "../../src/tftp/server.ts";
import { agentFacts } from "../../src/assets/agent-files.ts";
import { freePort, secureParamCipher, startTestSocle, type TestSocle } from "../helpers/socle.ts";

const MAC = "52:54:00:0b:00:01";
const MACHINE_ADDRESS = "127.0.0.2";
const STRANGER = "127.0.0.3";
const LEASED = "127.0.0.4";
const HASH = "$6$bindingSalt$bindingTestHashNotARealPassword";

let s: TestSocle;
let httpPort = 0;
let uuid = "";
let tftp: TftpServer;
let tftpCore: BootCore;
let tftpData: StoreBootData;
const tftpLines: string[] = [];


async function curl(from: string, url: string): Promise<{ exit: number; status: number; body: string; stderr: string }> {
  const p = Bun.spawn(["curl", "-sS", "--max-time", "20", "--interface", from, "-o", "-", "-w", "\n%{http_code}", url], { stdout: "pipe", stderr: "pipe" });
  const [out, stderr, exit] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const i = out.lastIndexOf("\n");
  return { exit, status: Number(out.slice(i + 1)), body: out.slice(0, i), stderr };
}

const http = (from: string, path: string) => curl(from, `http://127.0.0.1:${httpPort}/${path}`);
const kickstart = () => `machines/${uuid}/kickstart.ks`;
const ipxe = `boot/${MAC.replaceAll(":", "-")}.ipxe`;
const refusals = (lines: string[]) => lines.filter((l) => l.includes("file of a known machine refused"));

async function setPref(value: "true" | "false") {
  const r = await s.call("POST", "/api/v3/prefs", { body: { bindMachineFiles: value } });
  expect(r.status).toBe(200);
}

beforeAll(async () => {
  httpPort = freePort();
  s = await startTestSocle(["--disable-static=false", "--static-listen", "127.0.0.1", "--static-port", String(httpPort), "--address", "127.0.0.1"]);
  const created = await s.call("POST", "/api/v3/machines", {
    body: { Name: "bound", HardwareAddrs: [MAC], Address: MACHINE_ADDRESS, BootEnv: "rocky-9", Params: { "provisioner-default-password-hash": HASH } },
  });
  expect(created.status).toBe(201);
  uuid = created.body.Uuid;

  tftpData = createStoreBootData(s.socle.store, createLogger({ level: "warn", sink: () => {} }));
  const log = createLogger({ level: "debug", sink: (l) => tftpLines.push(l) });
  tftpCore = new BootCore({
    data: tftpData,
    log,
    httpPort,
    apiPort: s.socle.apiPort,
    tokens: { machine: (id) => `machine-token-${id}`, registration: () => "registration-token" },
    cipher: await secureParamCipher(s.dir),
    agent: agentFacts(),
  });
  tftp = await startTftpServer({ port: 0, listen: ["127.0.0.1"], source: tftpCore, log });
});

afterAll(async () => {
  await tftp?.stop();
  tftpCore?.close();
  tftpData?.close();
  await s?.stop();
});

describe("HTTP boot file server (a whole Socle)", () => {
  test("the machine gets its kickstart: root password hash and a machine token", async () => {
    const r = await http(MACHINE_ADDRESS, kickstart());
    expect(r.status).toBe(200);
    expect(r.body).toContain(`rootpw --iscrypted ${HASH}`);
    expect(r.body).toMatch(/Authorization: Bearer [\w.-]{20,}/);
  });

  test("any other address gets 404, exactly as for a file that does not exist, and one log line", async () => {
    const before = refusals(s.lines).length;
    const r = await http(STRANGER, kickstart());
    expect(r.status).toBe(404);
    expect(r.body).not.toContain(HASH);
    const missing = await http(STRANGER, "machines/00000000-0000-0000-0000-00000000dead/kickstart.ks");
    expect(missing.status).toBe(404);
    expect(r.body).toBe(missing.body);
    // The machine's iPXE script (which names the kickstart's URL) is bound too.
    expect((await http(STRANGER, ipxe)).status).toBe(404);
    expect((await http(STRANGER, kickstart())).status).toBe(404);
    const lines = refusals(s.lines).slice(before);
    expect(lines.length).toBe(1);
    expect(lines[0]).toContain(`path=${kickstart()} remote=${STRANGER} machine=${uuid} name=bound expected=${MACHINE_ADDRESS} `);
  });

  test("the machine gets its iPXE script", async () => {
    const r = await http(MACHINE_ADDRESS, ipxe);
    expect(r.status).toBe(200);
    expect(r.body).toContain(`inst.ks=http://127.0.0.1:${httpPort}/${kickstart()}`);
  });

  test("an address DHCP leased to the machine's MAC (through a relay) gets its files", async () => {
    expect((await http(LEASED, kickstart())).status).toBe(404);
    const expires = new Date(Date.now() + 3600_000).toISOString();
    await s.socle.store.put("leases", LEASED, { Addr: LEASED, Token: MAC, Strategy: "MAC", State: "ACK", ExpireTime: expires, Via: "127.0.0.9", Hostname: "" });
    const r = await http(LEASED, kickstart());
    expect(r.status).toBe(200);
    expect(r.body).toContain(HASH);
    await s.socle.store.delete("leases", LEASED);
    expect((await http(LEASED, kickstart())).status).toBe(404);
  });

  test("bindMachineFiles=false serves them to anyone (labs behind NAT); true binds them again", async () => {
    await setPref("false");
    try {
      const r = await http(STRANGER, kickstart());
      expect(r.status).toBe(200);
      expect(r.body).toContain(HASH);
      expect((await http(STRANGER, ipxe)).status).toBe(200);
    } finally {
      await setPref("true");
    }
    expect((await http(STRANGER, kickstart())).status).toBe(404);
  });
});

describe("TFTP", () => {
  const tftpUrl = (path: string) => `tftp://127.0.0.1:${tftp.stats().listening[0]!.port}/${path}`;

  test("the machine gets its kickstart; any other address gets error 1 (file not found), as for a missing file", async () => {
    const own = await curl(MACHINE_ADDRESS, tftpUrl(kickstart()));
    expect(own.exit).toBe(0);
    expect(own.body).toContain(`rootpw --iscrypted ${HASH}`);

    const before = refusals(tftpLines).length;
    const other = await curl(STRANGER, tftpUrl(kickstart()));
    expect(other.exit).toBe(68); // CURLE_TFTP_NOTFOUND: TFTP error 1
    expect(other.body).not.toContain(HASH);
    const missing = await curl(STRANGER, tftpUrl("machines/00000000-0000-0000-0000-00000000dead/kickstart.ks"));
    expect(missing.exit).toBe(68);
    expect(other.stderr).toBe(missing.stderr);
    expect(refusals(tftpLines).slice(before)).toEqual([expect.stringContaining(`TFTP: file of a known machine refused`)]);
  });
});
