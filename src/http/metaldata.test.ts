import { describe, expect, test } from "bun:test";
import type { MachineMetadata, MetadataSource } from "../boot/machine-metadata.ts";
import { createLogger } from "../log/logger.ts";
import { createMetaldataHandler, isMetaldataPath, rawPathname } from "./metaldata.ts";

const KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa a@x";
const KEY_B = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb b@x";

const FULL: MachineMetadata = {
  uuid: "3f1c1d4e-0000-4000-8000-000000000001",
  hostname: async () => "web-1",
  dnsDomain: "lab.example",
  address: "198.51.100.7",
  publicIpv4: "203.0.113.7",
  failureDomain: "rack-4",
  machineType: "r650",
  accessKeys: [
    { label: "alice", key: KEY_A },
    { label: "bob", key: KEY_B },
  ],
  userData: '{"ssh":{"entries":{}}}',
};

const BARE: MachineMetadata = {
  uuid: "3f1c1d4e-0000-4000-8000-000000000002",
  hostname: async () => "db-2",
  dnsDomain: "",
  address: "198.51.100.8",
  accessKeys: [],
};

const source = (machines: Record<string, MachineMetadata>, asked: string[] = []): MetadataSource => ({
  byAddress(remote) {
    asked.push(remote);
    return machines[remote];
  },
});

const lines: string[] = [];
const log = createLogger({ level: "debug", sink: (l) => lines.push(l) });
const handler = createMetaldataHandler({ source: source({ "198.51.100.7": FULL, "198.51.100.8": BARE }), log });

async function ask(path: string, from = "198.51.100.7", init: RequestInit = {}): Promise<{ status: number; body: string; headers: Headers }> {
  const r = await handler(new Request(`http://metaldata${path}`, init), { remoteAddress: from });
  return { status: r.status, body: await r.text(), headers: r.headers };
}

describe("LinuxKit metaldata paths (provider_metaldata.go)", () => {
  const cases: Array<[string, string]> = [
    ["hostname", "web-1"],
    ["public-ipv4", "203.0.113.7"],
    ["private-ipv4", "198.51.100.7"],
    ["failure-domain", "rack-4"],
    ["machine-id", FULL.uuid],
    ["machine-type", "r650"],
    ["authorized-keys", `${KEY_A}\n${KEY_B}\n`],
  ];
  for (const [key, value] of cases) {
    test(`/get/meta/${key}`, async () => {
      const r = await ask(`/get/meta/${key}`);
      expect(r.status).toBe(200);
      expect(r.body).toBe(value);
      expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
      expect(r.headers.get("cache-control")).toBe("no-store");
    });
  }

  test("/get/user is the user data as it is", async () => {
    const r = await ask("/get/user");
    expect(r.status).toBe(200);
    expect(r.body).toBe(FULL.userData!);
  });

  test("hostname has no newline: LinuxKit hands the body to sethostname(2)", async () => {
    expect((await ask("/get/meta/hostname", "198.51.100.8")).body).toBe("db-2");
  });

  test("a value that is not set is 404 (LinuxKit skips the file), never an empty 200", async () => {
    for (const key of ["public-ipv4", "failure-domain", "machine-type", "authorized-keys"]) {
      expect((await ask(`/get/meta/${key}`, "198.51.100.8")).status).toBe(404);
    }
    expect((await ask("/get/user", "198.51.100.8")).status).toBe(404);
    expect((await ask("/get/meta/private-ipv4", "198.51.100.8")).body).toBe("198.51.100.8");
  });

  test("a key LinuxKit does not ask for is 404", async () => {
    for (const p of ["/get/meta/", "/get/meta/password", "/get/meta/constructor", "/get/meta/__proto__", "/get/meta/hostname/", "/get/users", "/get"]) {
      expect((await ask(p)).status).toBe(404);
    }
  });

  test("a hostname that cannot be rendered is 404 (LinuxKit's probe fails, it tries the next provider)", async () => {
    const h = createMetaldataHandler({ source: source({ "198.51.100.9": { ...BARE, hostname: async () => undefined } }), log });
    const r = await h(new Request("http://metaldata/get/meta/hostname"), { remoteAddress: "198.51.100.9" });
    expect(r.status).toBe(404);
  });
});

describe("EC2-style paths (LinuxKit's aws and openstack providers, cloud-init)", () => {
  const cases: Array<[string, string]> = [
    ["hostname", "web-1.lab.example"],
    ["local-hostname", "web-1.lab.example"],
    ["local-ipv4", "198.51.100.7"],
    ["public-ipv4", "203.0.113.7"],
    ["instance-id", FULL.uuid],
    ["instance-type", "r650"],
    ["placement/availability-zone", "rack-4"],
    ["placement", "availability-zone"],
    ["placement/", "availability-zone"],
    ["public-keys", "0=alice\n1=bob"],
    ["public-keys/", "0=alice\n1=bob"],
    ["public-keys/0", "openssh-key"],
    ["public-keys/0/openssh-key", KEY_A],
    ["public-keys/1/openssh-key", KEY_B],
  ];
  for (const [key, value] of cases) {
    test(`/latest/meta-data/${key}`, async () => {
      const r = await ask(`/latest/meta-data/${key}`);
      expect(r.status).toBe(200);
      expect(r.body).toBe(value);
    });
  }

  test("the index lists what this machine has, subdirectories with a slash", async () => {
    const full = "hostname\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/\npublic-ipv4\npublic-keys/";
    expect((await ask("/latest/meta-data/")).body).toBe(full);
    expect((await ask("/latest/meta-data")).body).toBe(full);
    expect((await ask("/latest/meta-data/", "198.51.100.8")).body).toBe("hostname\ninstance-id\nlocal-hostname\nlocal-ipv4");
    expect((await ask("/latest/")).body).toBe("meta-data/\nuser-data");
    expect((await ask("/latest", "198.51.100.8")).body).toBe("meta-data/");
  });

  test("user-data, and dated versions answer like latest (cloud-init asks 2009-04-04 and newer)", async () => {
    expect((await ask("/latest/user-data")).body).toBe(FULL.userData!);
    expect((await ask("/2009-04-04/meta-data/instance-id")).body).toBe(FULL.uuid);
    expect((await ask("/2021-03-23/user-data")).body).toBe(FULL.userData!);
    expect((await ask("/latest/user-data", "198.51.100.8")).status).toBe(404);
  });

  test("without a domain, EC2 host names are the short name", async () => {
    expect((await ask("/latest/meta-data/hostname", "198.51.100.8")).body).toBe("db-2");
  });

  test("keys, indexes and paths it does not have are 404", async () => {
    for (const p of [
      "/latest/meta-data/public-keys/2/openssh-key",
      "/latest/meta-data/public-keys/00/openssh-key",
      "/latest/meta-data/public-keys/-1/openssh-key",
      "/latest/meta-data/public-keys/0/other",
      "/latest/meta-data/ami-id",
      "/latest/meta-data/constructor",
      "/latest/meta-data/iam/security-credentials/",
      "/latest/dynamic/instance-identity/document",
      "/latest/user-data/x",
      "/1.0/meta-data/instance-id",
      "/",
    ]) {
      expect({ p, status: (await ask(p)).status }).toEqual({ p, status: 404 });
    }
    for (const p of ["/latest/meta-data/public-keys", "/latest/meta-data/placement/availability-zone", "/latest/meta-data/public-ipv4"]) {
      expect((await ask(p, "198.51.100.8")).status).toBe(404);
    }
  });
});

describe("who is asking", () => {
  test("an address no machine holds gets 404 on every path, with the same body as a missing key", async () => {
    const missing = await ask("/get/meta/password");
    for (const p of ["/get/meta/hostname", "/get/user", "/latest/meta-data/", "/latest/user-data", "/latest/"]) {
      const r = await ask(p, "198.51.100.99");
      expect(r.status).toBe(404);
      expect(r.body).toBe(missing.body);
    }
  });

  test("only the source address identifies: X-Forwarded-For, Forwarded, X-Real-IP and Host change nothing", async () => {
    const asked: string[] = [];
    const h = createMetaldataHandler({ source: source({ "198.51.100.7": FULL, "198.51.100.8": BARE }, asked), log });
    const headers = { "X-Forwarded-For": "198.51.100.7", Forwarded: "for=198.51.100.7", "X-Real-IP": "198.51.100.7", Host: "198.51.100.7" };
    const r = await h(new Request("http://metaldata/get/user", { headers }), { remoteAddress: "198.51.100.8" });
    expect(r.status).toBe(404); // the asker (BARE) has no user data; FULL's is not handed out
    const s = await h(new Request("http://metaldata/get/user", { headers }), { remoteAddress: "198.51.100.99" });
    expect(s.status).toBe(404);
    expect(asked).toEqual(["198.51.100.8", "198.51.100.99"]);
  });

  test("a lookup that fails (a profile cycle, a sealed value without the key) is 503 and a log line, not 500", async () => {
    const failing: MetadataSource = {
      byAddress() {
        throw new Error("profile cycle: a -> b -> a");
      },
    };
    const before = lines.length;
    const h = createMetaldataHandler({ source: failing, log });
    const r = await h(new Request("http://metaldata/get/meta/hostname"), { remoteAddress: "198.51.100.7" });
    expect(r.status).toBe(503);
    expect(await r.text()).not.toContain("cycle");
    expect(lines.slice(before).join("\n")).toContain("profile cycle");
  });

  test("a path that is not the service's is 404 before anyone is looked up", async () => {
    const asked: string[] = [];
    const h = createMetaldataHandler({ source: source({}, asked), log });
    await h(new Request("http://metaldata/etc/passwd"), { remoteAddress: "198.51.100.7" });
    expect(asked).toEqual([]);
  });
});

describe("requests", () => {
  test("HEAD: the headers of GET, no body", async () => {
    const r = await ask("/get/meta/hostname", "198.51.100.7", { method: "HEAD" });
    expect(r.status).toBe(200);
    expect(r.body).toBe("");
    expect(r.headers.get("content-length")).toBe("5");
  });

  test("other methods are 405 with Allow (IMDSv2's PUT /latest/api/token too: clients fall back to plain GET)", async () => {
    for (const method of ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const r = await ask(method === "PUT" ? "/latest/api/token" : "/get/user", "198.51.100.7", { method });
      expect(r.status).toBe(405);
      expect(r.headers.get("allow")).toBe("GET, HEAD");
    }
  });

  test("dot segments resolve as in any URL client, and never leave the asking machine's answers", async () => {
    // new Request (like Bun's server) resolves "..", also "%2e%2e", before the handler sees the URL.
    expect(rawPathname(new Request("http://metaldata/get/meta/../user").url)).toBe("/get/user");
    expect((await ask("/get/meta/../user")).body).toBe(FULL.userData!);
    expect((await ask("/get/meta/%2e%2e/user")).body).toBe(FULL.userData!);
    expect((await ask("/get/meta/../user", "198.51.100.8")).status).toBe(404);
  });

  test("encoded slashes, encoded names, backslashes, NUL and raw dot segments are 404", async () => {
    const h = createMetaldataHandler({ source: source({ "198.51.100.7": FULL }), log });
    // Request objects cannot carry a raw "..": ask with a URL string the way a socket would see it.
    const raw = (path: string) => h({ method: "GET", url: `http://metaldata${path}`, headers: new Headers() } as unknown as Request, { remoteAddress: "198.51.100.7" });
    for (const p of ["/get/meta/..%2fuser", "/get/meta/%68ostname", "/get/meta/hostname%00", "/get/meta\\..\\user", "/get/meta/../user", "/latest/meta-data/./hostname", "/get/meta/host name"]) {
      expect({ p, status: (await raw(p)).status }).toEqual({ p, status: 404 });
    }
  });

  test("a very long path is 414; a query string is ignored", async () => {
    expect((await ask(`/get/meta/${"a".repeat(300)}`)).status).toBe(414);
    expect((await ask(`/latest/meta-data/${"x/".repeat(2000)}`)).status).toBe(414);
    expect((await ask("/get/meta/hostname?x=1#y")).body).toBe("web-1");
  });

  test("no input is a 500: a sweep of odd paths and methods", async () => {
    const pieces = ["", "/", "//", ".", "..", "%", "%zz", "%00", "get", "meta", "user", "latest", "meta-data", "public-keys", "0", "99999", "openssh-key", "placement", "__proto__", "a=b", "~", ";", "\u00e9"];
    for (let i = 0; i < 400; i++) {
      const n = 1 + (i % 5);
      let p = "";
      for (let j = 0; j < n; j++) p += "/" + pieces[(i * 7 + j * 13) % pieces.length];
      const r = await ask(p, i % 2 ? "198.51.100.7" : "198.51.100.99");
      expect(r.status).toBeLessThan(500);
    }
  });
});

describe("isMetaldataPath (what the boot file server hands over)", () => {
  test("the service's paths", () => {
    for (const p of ["/get/user", "/get/meta/hostname", "/get/meta/x", "/latest", "/latest/", "/latest/meta-data/", "/latest/user-data", "/2009-04-04/meta-data/instance-id"]) {
      expect({ p, owned: isMetaldataPath(p) }).toEqual({ p, owned: true });
    }
  });
  test("everything else stays a boot file", () => {
    for (const p of ["/", "/default.ipxe", "/get", "/get/users", "/getmeta/x", "/latest-kernel", "/latest/vmlinuz", "/latest/dynamic/x", "/machines/x/user-data", "/linuxkit/linuxkit-kernel"]) {
      expect({ p, owned: isMetaldataPath(p) }).toEqual({ p, owned: false });
    }
  });
});
