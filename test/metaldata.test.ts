// The metadata service (src/http/metaldata.ts) in a whole Socle, asked with curl.
//
// Loopback: Socle's optional metadata listener and its boot file server on high ports of
// 127.0.0.1. Machines are told apart by source address alone, through loopback aliases that need
// no setup on Linux: web-1 holds 127.0.0.2 (its Address), db-2 holds 127.0.0.5 (an active DHCP
// lease of its MAC), 127.0.0.4 is nobody's. curl sends `Host: metaldata` as LinuxKit does.
//
// Namespaces (root only): Socle on port 80 in its own namespace, on a bridge with 198.51.100.1
// and, as README tells operators, 169.254.169.254; two machines and a stranger in three client
// namespaces, each with its own address, asking http://metaldata/ (resolved by curl --resolve, as
// the operator's DNS would) and http://169.254.169.254/latest/... (a route on the link).
//
//   [mc1: 198.51.100.11] --+
//   [mc2: 198.51.100.12] --+-- bridge 198.51.100.1/24 + 169.254.169.254/32 [mds: Socle, port 80]
//   [mc3: 198.51.100.13] --+

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { NetLab, needsRoot } from "./helpers/netns.ts";
import { SocleInNetns, until } from "./helpers/socle-netns.ts";
import { freePort, startTestSocle, type TestSocle } from "./helpers/socle.ts";

setDefaultTimeout(60_000);

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa alice@lab";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb bob@lab";
const WEB = "127.0.0.2";
const STRANGER = "127.0.0.4";
const DB_LEASED = "127.0.0.5";
const DB_MAC = "52:54:00:0d:00:02";

interface Got {
  exit: number;
  status: number;
  body: string;
  type: string;
}

/** curl as a metadata client: from `from`, with `extra` arguments, body and status and content type back. */
async function curl(argv: string[], from?: string, ns?: string): Promise<Got> {
  const cmd = ["curl", "-sS", "--max-time", "10", ...(from ? ["--interface", from] : []), "-o", "-", "-w", "\n%{http_code} %{content_type}", ...argv];
  const p = Bun.spawn(ns ? ["ip", "netns", "exec", ns, ...cmd] : cmd, { stdout: "pipe", stderr: "pipe" });
  const [out, , exit] = await Promise.all([new Response(p.stdout).text(), new Response(p.stderr).text(), p.exited]);
  const i = out.lastIndexOf("\n");
  const [status = "0", ...type] = out.slice(i + 1).split(" ");
  return { exit, status: Number(status), body: out.slice(0, i), type: type.join(" ") };
}

describe("a whole Socle on loopback: the optional listener and the boot file server port", () => {
  let s: TestSocle;
  let mdPort = 0;
  let filePort = 0;
  let webUuid = "";
  let dbUuid = "";
  /** LinuxKit's request: http://metaldata/<path>, the name resolved to Socle. */
  const metaldata = (from: string, path: string, extra: string[] = []) => curl(["--resolve", `metaldata:${mdPort}:127.0.0.1`, ...extra, `http://metaldata:${mdPort}${path}`], from);
  const onFilePort = (from: string, path: string) => curl([`http://127.0.0.1:${filePort}${path}`], from);

  beforeAll(async () => {
    mdPort = freePort();
    filePort = freePort();
    s = await startTestSocle([
      "--disable-static=false",
      "--static-listen", "127.0.0.1",
      "--static-port", String(filePort),
      "--metaldata-port", String(mdPort),
      "--metaldata-listen", "127.0.0.1",
      "--address", "127.0.0.1",
    ]);
    const web = await s.call("POST", "/api/v3/machines", {
      body: {
        Name: "web-1.lab",
        HardwareAddrs: ["52:54:00:0d:00:01"],
        Address: WEB,
        Arch: "amd64",
        BootEnv: "linuxkit",
        Params: {
          "access-keys": { bob: KEY_B, alice: KEY_A },
          "linuxkit-user-data": '{"secret":{"token":{"perm":"0600","content":"user-data-of-web-1"}}}',
          "failure-domain": "rack-4",
          "metaldata-public-ipv4": "203.0.113.7",
        },
      },
    });
    expect(web.status).toBe(201);
    webUuid = web.body.Uuid;
    const db = await s.call("POST", "/api/v3/machines", {
      body: { Name: "db-2", HardwareAddrs: [DB_MAC], Arch: "arm64", BootEnv: "linuxkit", Params: { "linuxkit-user-data": "user-data-of-db-2", "machine-type": "r650" } },
    });
    expect(db.status).toBe(201);
    dbUuid = db.body.Uuid;
    await s.call("POST", "/api/v3/prefs", { body: { bindMachineFiles: "true" } });
    const expires = new Date(Date.now() + 3600_000).toISOString();
    await s.socle.store.put("leases", DB_LEASED, { Addr: DB_LEASED, Token: DB_MAC, Strategy: "MAC", State: "ACK", ExpireTime: expires, Via: "", Hostname: "" });
  });

  afterAll(async () => {
    await s?.stop();
  });

  test("the listener starts and says where", () => {
    expect(s.lines.some((l) => l.includes("metadata service listening") && l.includes(`port=${mdPort}`))).toBe(true);
  });

  test("GET /api/v3/info shows it configured and running", async () => {
    const info = await s.call("GET", "/api/v3/info");
    expect(info.body.Services.Metaldata).toEqual({ Enabled: true, Running: true, Port: mdPort });
  });

  test("a port it cannot bind leaves it off with one line naming the flag; the rest of Socle runs", async () => {
    const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const other = await startTestSocle(["--metaldata-port", String(taken.port), "--metaldata-listen", "127.0.0.1"]);
    try {
      const line = other.lines.find((l) => l.includes("METALDATA is not running"));
      expect(line).toContain("--metaldata-port");
      const info = await other.call("GET", "/api/v3/info");
      expect(info.body.Services.Metaldata).toMatchObject({ Enabled: true, Running: false });
    } finally {
      await other.stop();
      taken.stop(true);
    }
  });

  test("every key LinuxKit's metaldata provider asks, for the machine at its Address", async () => {
    const want: Record<string, string> = {
      hostname: "web-1",
      "public-ipv4": "203.0.113.7",
      "private-ipv4": WEB,
      "failure-domain": "rack-4",
      "machine-id": webUuid,
      "machine-type": "amd64",
      "authorized-keys": `${KEY_A}\n${KEY_B}\n`,
    };
    for (const [key, value] of Object.entries(want)) {
      const r = await metaldata(WEB, `/get/meta/${key}`);
      expect({ key, status: r.status, body: r.body, type: r.type }).toEqual({ key, status: 200, body: value, type: "text/plain; charset=utf-8" });
    }
    const user = await metaldata(WEB, "/get/user");
    expect(user.status).toBe(200);
    expect(JSON.parse(user.body).secret.token.content).toBe("user-data-of-web-1");
  });

  test("the render preview's metaldata format shows what the service answers (POST /render, Format metaldata)", async () => {
    const r = await s.call("POST", "/api/v3/render", { body: { Machine: webUuid, Format: "metaldata" } });
    expect(r.status).toBe(200);
    expect(r.body.ContentType).toBe("application/json");
    const preview = JSON.parse(r.body.Output) as { meta: Record<string, string>; user?: string };
    for (const [key, value] of Object.entries(preview.meta)) {
      const live = await metaldata(WEB, `/get/meta/${key}`);
      expect({ key, body: live.body, status: live.status }).toEqual({ key, body: value, status: 200 });
    }
    expect(Object.keys(preview.meta).sort()).toEqual(["authorized-keys", "failure-domain", "hostname", "machine-id", "machine-type", "private-ipv4", "public-ipv4"]);
    expect(preview.user).toBe((await metaldata(WEB, "/get/user")).body);
    // A key the service answers 404 for is absent from the preview (db-2 has no public-ipv4).
    const db = JSON.parse((await s.call("POST", "/api/v3/render", { body: { Machine: dbUuid, Format: "metaldata" } })).body.Output);
    expect(db.meta["public-ipv4"]).toBeUndefined();
    expect((await metaldata(DB_LEASED, "/get/meta/public-ipv4")).status).toBe(404);
  });

  test("the user data is a Secure param: stored sealed, in clear only for its machine (and getSecure holders)", () => {
    const stored = s.socle.store.get("machines", webUuid)!;
    expect(JSON.stringify(stored.Params)).not.toContain("user-data-of-web-1");
    expect(JSON.stringify(stored.Params)).toContain("$socle-secure");
  });

  test("the machine known by a DHCP lease gets its own answers", async () => {
    expect((await metaldata(DB_LEASED, "/get/meta/hostname")).body).toBe("db-2");
    expect((await metaldata(DB_LEASED, "/get/meta/machine-id")).body).toBe(dbUuid);
    expect((await metaldata(DB_LEASED, "/get/meta/machine-type")).body).toBe("r650");
    expect((await metaldata(DB_LEASED, "/get/meta/private-ipv4")).body).toBe(DB_LEASED);
    expect((await metaldata(DB_LEASED, "/get/user")).body).toBe("user-data-of-db-2");
    expect((await metaldata(DB_LEASED, "/get/meta/public-ipv4")).status).toBe(404);
    expect((await metaldata(DB_LEASED, "/get/meta/authorized-keys")).status).toBe(404);
  });

  test("EC2-style paths on the same listener", async () => {
    const at = (path: string, from = WEB) => curl([`http://127.0.0.1:${mdPort}${path}`], from);
    expect((await at("/latest/meta-data/instance-id")).body).toBe(webUuid);
    expect((await at("/latest/meta-data/local-ipv4")).body).toBe(WEB);
    expect((await at("/latest/meta-data/hostname")).body).toBe("web-1.localdomain");
    expect((await at("/latest/meta-data/placement/availability-zone")).body).toBe("rack-4");
    expect((await at("/latest/meta-data/public-keys/0/openssh-key")).body).toBe(KEY_A);
    expect((await at("/latest/meta-data/")).body.split("\n")).toContain("public-keys/");
    expect((await at("/2009-04-04/meta-data/instance-id", DB_LEASED)).body).toBe(dbUuid);
    expect((await at("/latest/user-data", DB_LEASED)).body).toBe("user-data-of-db-2");
  });

  test("the same paths on the boot file server port, whose other files are unchanged", async () => {
    expect((await onFilePort(WEB, "/get/meta/hostname")).body).toBe("web-1");
    expect((await onFilePort(DB_LEASED, "/latest/user-data")).body).toBe("user-data-of-db-2");
    expect((await onFilePort(STRANGER, "/get/user")).status).toBe(404);
    const ipxe = await onFilePort(STRANGER, "/default.ipxe");
    expect(ipxe.status).toBe(200);
    expect(ipxe.body.startsWith("#!ipxe")).toBe(true);
  });

  test("an address no machine holds: 404 everywhere, nothing about any machine", async () => {
    for (const path of ["/get/meta/hostname", "/get/meta/machine-id", "/get/user", "/latest/meta-data/", "/latest/user-data"]) {
      const r = await metaldata(STRANGER, path);
      expect({ path, status: r.status, body: r.body }).toEqual({ path, status: 404, body: "not found\n" });
    }
  });

  test("attacker: no header makes one machine another (X-Forwarded-For, Forwarded, X-Real-IP, Host)", async () => {
    const spoof = ["-H", `X-Forwarded-For: ${WEB}`, "-H", `Forwarded: for=${WEB}`, "-H", `X-Real-IP: ${WEB}`, "-H", `Host: ${WEB}`];
    const fromStranger = await curl([...spoof, `http://127.0.0.1:${mdPort}/get/user`], STRANGER);
    expect(fromStranger.status).toBe(404);
    expect(fromStranger.body).not.toContain("user-data-of-web-1");
    // db-2, asking as itself with web-1's address in every header, gets db-2's user data.
    const fromDb = await curl([...spoof, `http://127.0.0.1:${mdPort}/get/user`], DB_LEASED);
    expect(fromDb.body).toBe("user-data-of-db-2");
    const onFiles = await curl([...spoof, `http://127.0.0.1:${filePort}/get/user`], DB_LEASED);
    expect(onFiles.body).toBe("user-data-of-db-2");
  });

  test("attacker: paths that try to reach elsewhere stay with the asker, or are 404", async () => {
    for (const path of ["/get/meta/../user", "/get/meta/%2e%2e/user", "/get/meta/..%2fuser", `/get/meta/..%2f..%2fmachines%2f${webUuid}%2fuser`, "/get/meta/..%5cuser", "/latest/meta-data/../../get/user"]) {
      const r = await curl(["--path-as-is", `http://127.0.0.1:${mdPort}${path}`], DB_LEASED);
      expect({ path, leak: r.body.includes("user-data-of-web-1"), status: r.status < 500 }).toEqual({ path, leak: false, status: true });
    }
    const long = await curl([`http://127.0.0.1:${mdPort}/get/meta/${"a".repeat(5000)}`], WEB);
    expect(long.status).toBe(414);
  });

  test("methods other than GET and HEAD are 405", async () => {
    const put = await curl(["-X", "PUT", "-H", "X-aws-ec2-metadata-token-ttl-seconds: 60", `http://127.0.0.1:${mdPort}/latest/api/token`], WEB);
    expect(put.status).toBe(405);
    const head = await curl(["-I", `http://127.0.0.1:${mdPort}/get/meta/hostname`], WEB);
    expect(head.status).toBe(200);
  });

  test("a lease that ends takes the answers with it", async () => {
    await s.socle.store.put("leases", DB_LEASED, { Addr: DB_LEASED, Token: DB_MAC, Strategy: "MAC", State: "RELEASED", ExpireTime: new Date().toISOString(), Via: "", Hostname: "" });
    expect((await metaldata(DB_LEASED, "/get/user")).status).toBe(404);
  });
});

const skip = needsRoot();
if (skip) console.log(`skipping the metadata namespace test: ${skip}`);

describe.skipIf(skip !== undefined)("namespaces: port 80, three client addresses, 169.254.169.254 on Socle's link", () => {
  const lab = new NetLab();
  let socle: SocleInNetns;
  const clients: Record<string, { ns: string; addr: string }> = {};
  const uuids: Record<string, string> = {};

  beforeAll(async () => {
    const srv = await lab.ns("mds");
    const br = lab.name("mbr");
    const ports: string[] = [];
    for (const [i, who] of ["web", "db", "nobody"].entries()) {
      const ns = await lab.ns(`mc${i}`);
      const here = lab.name(`m${i}s`);
      const there = lab.name(`m${i}c`);
      await lab.veth({ ns: srv, name: here }, { ns, name: there });
      const addr = `198.51.100.${11 + i}`;
      await lab.addr(ns, there, `${addr}/24`);
      // As on a cloud: the link-local metadata address is reached on the link.
      await lab.ip(ns, "route", "add", "169.254.169.254/32", "dev", there);
      clients[who] = { ns, addr };
      ports.push(here);
    }
    await lab.bridge(srv, br, ports);
    await lab.addr(srv, br, "198.51.100.1/24");
    await lab.addr(srv, br, "169.254.169.254/32");
    socle = await SocleInNetns.start(lab, srv, { interfaces: [br], args: ["--metaldata-port", "80", "--address", "198.51.100.1"] });
    await until("the metadata service listens", 10_000, () => socle.output().includes("metadata service listening"));
    for (const who of ["web", "db"]) {
      const created = await socle.cli<{ Uuid: string }>(
        "machines",
        "create",
        JSON.stringify({
          Name: `${who}-ns`,
          Address: clients[who]!.addr,
          BootEnv: "linuxkit",
          Params: { "linuxkit-user-data": `user-data-of-${who}`, ...(who === "web" ? { "access-keys": { alice: KEY_A, bob: KEY_B }, "failure-domain": "rack-4" } : {}) },
        }),
      );
      uuids[who] = created.Uuid;
    }
  });

  afterAll(async () => {
    await socle?.close();
    await lab.cleanup();
  });

  const ask = (who: string, url: string, extra: string[] = []) => curl(["--resolve", "metaldata:80:198.51.100.1", ...extra, url], undefined, clients[who]!.ns);

  test("each machine gets its own answers at http://metaldata/ on port 80", async () => {
    for (const who of ["web", "db"]) {
      expect((await ask(who, "http://metaldata/get/meta/hostname")).body).toBe(`${who}-ns`);
      expect((await ask(who, "http://metaldata/get/meta/machine-id")).body).toBe(uuids[who]!);
      expect((await ask(who, "http://metaldata/get/meta/private-ipv4")).body).toBe(clients[who]!.addr);
      expect((await ask(who, "http://metaldata/get/user")).body).toBe(`user-data-of-${who}`);
    }
  });

  test("and at http://169.254.169.254/latest/ (EC2-style)", async () => {
    for (const who of ["web", "db"]) {
      expect((await ask(who, "http://169.254.169.254/latest/meta-data/instance-id")).body).toBe(uuids[who]!);
      expect((await ask(who, "http://169.254.169.254/latest/user-data")).body).toBe(`user-data-of-${who}`);
    }
  });

  // LinuxKit's own client (pkg/metadata, Go): LINUXKIT_METADATA names a binary built from it
  // (`cd pkg/metadata && go build -mod=vendor -o metadata .` in a linuxkit checkout). It writes
  // /run/config and sets the host name, so it runs in mount and UTS namespaces of its own, with a
  // tmpfs on /run and an /etc/hosts that resolves metaldata as the operator's DNS would.
  const LINUXKIT = process.env.LINUXKIT_METADATA;
  if (!LINUXKIT) console.log("skipping LinuxKit's real metadata client: set LINUXKIT_METADATA to a binary built from linuxkit/pkg/metadata");
  const linuxkit = async (who: string, provider: string[]): Promise<Record<string, string>> => {
    const dir = (await Bun.$`mktemp -d /tmp/socle-metaldata-XXXXXX`.text()).trim();
    try {
      await Bun.write(`${dir}/hosts`, "127.0.0.1 localhost\n198.51.100.1 metaldata\n");
      const script = [
        "set -e",
        "mount --make-rprivate /",
        "mount -t tmpfs tmpfs /run",
        `mount --bind ${dir}/hosts /etc/hosts`,
        `${LINUXKIT} ${provider.join(" ")} >/dev/null 2>&1 || true`,
        "cd /run/config && for f in $(find . -type f | sort); do printf '==%s\\n' \"$f\"; cat \"$f\"; printf '\\n'; done",
        "printf '==uts\\n%s\\n' \"$(hostname)\"",
      ].join("\n");
      const r = await lab.exec(clients[who]!.ns, ["unshare", "--mount", "--uts", "sh", "-c", script], 60_000);
      const files: Record<string, string> = {};
      for (const part of r.stdout.split(/^==/m).slice(1)) {
        const nl = part.indexOf("\n");
        files[part.slice(0, nl).replace(/^\.\//, "")] = part.slice(nl + 1).replace(/\n$/, "");
      }
      return files;
    } finally {
      await Bun.$`rm -rf ${dir}`;
    }
  };

  test.skipIf(!LINUXKIT)("LinuxKit's metadata client, metaldata provider: writes the files the machine's params say", async () => {
    const files = await linuxkit("web", ["metaldata"]);
    expect(files).toEqual({
      provider: "metaldata",
      hostname: "web-ns",
      private_ipv4: clients.web!.addr,
      machine_id: uuids.web!,
      machine_type: "amd64",
      failure_domain: "rack-4",
      "ssh/authorized_keys": `${KEY_A}\n${KEY_B}\n`,
      userdata: "user-data-of-web",
      uts: "web-ns",
    });
    const db = await linuxkit("db", ["metaldata"]);
    expect(db.userdata).toBe("user-data-of-db");
    expect(db.machine_id).toBe(uuids.db!);
    expect(db["ssh/authorized_keys"]).toBeUndefined();
    expect(await linuxkit("nobody", ["metaldata"])).toEqual({ uts: expect.any(String) });
  });

  test.skipIf(!LINUXKIT)("LinuxKit's metadata client with no provider named: the aws provider finds the EC2-style paths first", async () => {
    const files = await linuxkit("web", []);
    expect(files).toMatchObject({
      provider: "AWS",
      hostname: "web-ns.localdomain",
      local_hostname: "web-ns.localdomain",
      local_ipv4: clients.web!.addr,
      instance_id: uuids.web!,
      instance_type: "amd64",
      availability_zone: "rack-4",
      "ssh/authorized_keys": KEY_A,
      userdata: "user-data-of-web",
    });
  });

  test("the stranger gets 404, whatever it claims in its headers", async () => {
    for (const url of ["http://metaldata/get/meta/hostname", "http://metaldata/get/user", "http://169.254.169.254/latest/user-data"]) {
      const r = await ask("nobody", url, ["-H", `X-Forwarded-For: ${clients.web!.addr}`]);
      expect({ url, status: r.status }).toEqual({ url, status: 404 });
    }
    const asWeb = await ask("db", "http://metaldata/get/user", ["-H", `X-Forwarded-For: ${clients.web!.addr}`, "-H", `Host: ${clients.web!.addr}`]);
    expect(asWeb.body).toBe("user-data-of-db");
  });
});
