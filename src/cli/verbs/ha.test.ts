// `socle ha ...` through runCli: the API verbs with an in-process fake fetch (the request sent,
// what is printed, the exit code), and `ha join` with a fake haJoin (what it is handed, where the
// secret comes from, and every refusal, none of which calls it).

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runCli } from "../main.ts";
import type { HaJoinOptions } from "../context.ts";
import { defaultLanAddress, formatAge, statusText } from "./ha.ts";

const API = "https://127.0.0.1:8092/api/v3";
const PIN = `sha256//${"Ab+/".repeat(10)}abc=`;

const STATUS = {
  Node: "socle-a",
  Slot: 0,
  State: "active",
  Term: 3,
  Reason: "partner silent on every path",
  Vip: "198.51.100.10/24",
  HoldsVip: true,
  Seq: 42,
  SharedSeq: 40,
  Peer: {
    Name: "socle-b",
    State: "standby",
    Term: 3,
    Seq: 40,
    LastHeardMs: 4200,
    Paths: [
      { Address: "203.0.113.2", Up: true, AgeMs: 120, RttMs: 1 },
      { Address: "198.51.100.3", Up: false, AgeMs: null, RttMs: null },
    ],
  },
  LagSeq: 2,
  LagBytes: 512,
  FilesPendingBytes: 0,
  UnackedClients: ["52:54:00:00:00:01"],
  SyncTimeouts: 1,
  FailoverSafe: false,
  Why: ["the standby lags by 2 changes"],
  Transitions: [],
};

interface Seen {
  method: string;
  url: string;
  body: unknown;
}

function harness(reply: (s: Seen) => { status?: number; body?: unknown } = () => ({ body: STATUS })) {
  const seen: Seen[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const joins: HaJoinOptions[] = [];
  let joinResult: () => Promise<{ peerName: string; vip: string; slot: number }> = async () => ({ peerName: "socle-a", vip: "198.51.100.10/24", slot: 1 });
  const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const raw = typeof init?.body === "string" ? init.body : undefined;
    const s: Seen = { method: init?.method ?? "GET", url: String(input), body: raw ? JSON.parse(raw) : undefined };
    seen.push(s);
    const r = reply(s);
    return new Response(JSON.stringify(r.body ?? {}), { status: r.status ?? 200, headers: { "Content-Type": "application/json" } });
  }) as typeof fetch;
  const run = (argv: string[], env: Record<string, string> = {}, stdin = "", withJoin = true) =>
    runCli(
      argv,
      { SOCLE_DATA_DIR: "/nonexistent-socle-test", ...env },
      { out: (s) => out.push(s), err: (s) => err.push(s), readStdin: async () => stdin },
      {
        fetch: fakeFetch,
        serve: async () => 0,
        ...(withJoin
          ? {
              haJoin: async (o: HaJoinOptions) => {
                joins.push(o);
                return joinResult();
              },
            }
          : {}),
      },
    );
  return {
    run,
    seen,
    out,
    err,
    joins,
    failJoin(message: string) {
      joinResult = async () => {
        throw new Error(message);
      };
    },
  };
}

describe("ha status", () => {
  test("GET /ha; json by default: the whole object", async () => {
    const h = harness();
    expect(await h.run(["ha", "status"])).toBe(0);
    expect(h.seen).toEqual([{ method: "GET", url: `${API}/ha`, body: undefined }]);
    expect(JSON.parse(h.out[0] as string)).toEqual(STATUS);
  });

  test("-o table: the fields that matter, paths with ages, and why a failover is not safe", async () => {
    const h = harness();
    expect(await h.run(["-o", "table", "ha", "status"])).toBe(0);
    expect((h.out[0] as string).split("\n")).toEqual([
      "Node             socle-a (slot 0)",
      "State            active, term 3 (partner silent on every path)",
      "VIP              198.51.100.10/24, held by this node",
      "Peer             socle-b: standby, term 3, last heard 4.2 s ago",
      "  path           203.0.113.2 up, last frame 120 ms ago, rtt 1 ms",
      "  path           198.51.100.3 down, last frame never",
      "Lag              2 changes, 512 bytes (files pending 0 bytes)",
      "Seq              42 (shared with the partner: 40)",
      "Unacked clients  1: 52:54:00:00:00:01",
      "Sync timeouts    1",
      "Failover safe    no: the standby lags by 2 changes",
    ]);
  });

  test("HA off: the server's 404 and its advice, exit 1", async () => {
    const off = { Model: "ha", Key: "", Type: "NotFound", Messages: ["HA is off on this node", "turn it on with socle serve --ha-vip <addr/len>"], Code: 404 };
    const h = harness(() => ({ status: 404, body: off }));
    expect(await h.run(["ha", "status"])).toBe(1);
    expect(h.err[0]).toContain("HA is off on this node");
    expect(h.err[0]).toContain("--ha-vip");
  });

  test("the human view of a node that has never heard its partner", () => {
    const text = statusText({ ...STATUS, HoldsVip: false, FailoverSafe: true, Why: [], UnackedClients: [], Peer: { Name: "socle-b", State: "unknown", Term: 0, LastHeardMs: null, Paths: [] } });
    expect(text).toContain("VIP              198.51.100.10/24, not held by this node");
    expect(text).toContain("Peer             socle-b: unknown, term 0, last heard never");
    expect(text).toContain("Unacked clients  none");
    expect(text).toContain("Failover safe    yes");
    expect([formatAge(999), formatAge(59_000), formatAge(600_000), formatAge(7_200_000), formatAge(null)]).toEqual(["999 ms", "59.0 s", "10 min", "2 h", "never"]);
  });
});

describe("ha enrol", () => {
  const ENROLMENT = {
    Secret: "K5XWGZLTMFWWK3TUMVZXGZLDOJSXIY3POJZGKY3UNBXXE43F",
    ExpiresAt: "2026-12-07T06:15:00.000Z",
    CaPin: PIN,
    Vip: "198.51.100.10/24",
    Node: "socle-a",
    Address: "203.0.113.1",
    Port: 8094,
    Join: `socle ha join 203.0.113.1 --port 8094 --ca-pin ${PIN} --data-dir /var/lib/socle`,
  };

  test("POST /ha/enrolment; json: the server's answer", async () => {
    const h = harness(() => ({ status: 201, body: ENROLMENT }));
    expect(await h.run(["ha", "enrol"])).toBe(0);
    expect(h.seen).toEqual([{ method: "POST", url: `${API}/ha/enrolment`, body: undefined }]);
    expect(JSON.parse(h.out[0] as string)).toEqual(ENROLMENT);
  });

  test("-o table: secret, expiry, pin and the join command, secret kept off that command", async () => {
    const h = harness(() => ({ status: 201, body: ENROLMENT }));
    expect(await h.run(["ha", "enrol", "-o", "table"])).toBe(0);
    const lines = (h.out[0] as string).split("\n");
    expect(lines[0]).toBe(`Enrolment secret:  ${ENROLMENT.Secret}`);
    expect(lines[1]).toBe("Valid until:       2026-12-07T06:15:00.000Z (one join)");
    expect(lines[2]).toBe(`CA pin:            ${PIN}`);
    expect(lines).toContain(`  ${ENROLMENT.Join}`);
    expect(lines.at(-1)).toContain("standard input");
  });

  test("an already paired node: the 409, exit 1", async () => {
    const h = harness(() => ({ status: 409, body: { Model: "ha", Key: "enrolment", Type: "Conflict", Messages: ["already paired with socle-b"], Code: 409 } }));
    expect(await h.run(["ha", "enrol"])).toBe(1);
    expect(h.err).toEqual(["Error: Conflict 409: already paired with socle-b"]);
  });
});

describe("ha takeover, step-down, partner-down", () => {
  test("each POSTs its route (partner-down with {Confirm: true}) and prints the status", async () => {
    const h = harness();
    expect(await h.run(["ha", "takeover"])).toBe(0);
    expect(await h.run(["ha", "step-down"])).toBe(0);
    expect(await h.run(["ha", "partner-down", "--confirm"])).toBe(0);
    expect(h.seen).toEqual([
      { method: "POST", url: `${API}/ha/takeover`, body: undefined },
      { method: "POST", url: `${API}/ha/step-down`, body: undefined },
      { method: "POST", url: `${API}/ha/partner-down`, body: { Confirm: true } },
    ]);
    expect(JSON.parse(h.out[0] as string).State).toBe("active");
    const t = harness();
    expect(await t.run(["-o", "table", "ha", "step-down"])).toBe(0);
    expect(t.out[0]).toStartWith("step-down requested");
    expect(t.out[1]).toStartWith("Node ");
  });

  test("partner-down without --confirm (or --confirm=false) is refused, saying why; nothing sent", async () => {
    const h = harness();
    for (const argv of [["ha", "partner-down"], ["ha", "partner-down", "--confirm=false"]]) {
      expect(await h.run(argv)).toBe(2);
      expect(h.err.at(-1)).toStartWith("Error: partner-down needs --confirm: it lets this node hand out addresses from the partner's half of every pool once MCLT");
    }
    expect(await h.run(["ha", "takeover", "now"])).toBe(2);
    expect(h.err.at(-1)).toStartWith('Error: unexpected argument "now"');
    expect(h.seen).toEqual([]);
  });
});

describe("ha join", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), "socle-ha-join-"));
    dirs.push(d);
    return d;
  };
  const base = (dataDir: string) => ["ha", "join", "203.0.113.1", "--ca-pin", PIN, "--data-dir", dataDir, "--node-name", "socle-b", "--lan-address", "198.51.100.3"];

  test("hands haJoin the flags and the first line of stdin, then says what to run next", async () => {
    const h = harness();
    const dir = join(tmp(), "data"); // absent: created by the join
    expect(await h.run([...base(dir), "--port", "9094"], {}, "  SECRET-ONE  \nignored second line\n")).toBe(0);
    expect(h.joins).toEqual([{ host: "203.0.113.1", port: 9094, caPin: PIN, secret: "SECRET-ONE", nodeName: "socle-b", lanAddress: "198.51.100.3", dataDir: dir }]);
    expect(h.err).toEqual(["Reading the enrolment secret from standard input (first line; at a terminal, end with Enter and Ctrl-D)"]);
    const text = h.out.join("\n");
    expect(text).toContain("Joined the HA pair of socle-a as node socle-b (slot 1); VIP 198.51.100.10/24.");
    expect(text).toContain(`  socle serve --data-dir ${dir} --ha-vip 198.51.100.10/24`);
    expect(text).not.toContain("SECRET-ONE");
  });

  test("the secret from SOCLE_HA_ENROL_SECRET wins over stdin; defaults: port 8094, host name, first LAN address, SOCLE_DATA_DIR", async () => {
    const h = harness();
    const dir = tmp(); // present and empty
    expect(await h.run(["ha", "join", "socle-a.example", "--ca-pin", PIN], { SOCLE_HA_ENROL_SECRET: "FROM-ENV", SOCLE_DATA_DIR: dir }, "FROM-STDIN\n")).toBe(0);
    const o = h.joins[0] as HaJoinOptions;
    expect(o).toMatchObject({ host: "socle-a.example", port: 8094, secret: "FROM-ENV", dataDir: dir });
    expect(o.nodeName).toMatch(/^[A-Za-z0-9][A-Za-z0-9.-]*$/);
    let lan: string | undefined;
    try {
      lan = defaultLanAddress();
    } catch {}
    if (lan !== undefined) expect(o.lanAddress).toBe(lan);
    expect(h.err).toEqual([]);
  });

  test("the first non-loopback IPv4 address, or an error saying to give --lan-address", () => {
    const lo = { address: "127.0.0.1", netmask: "255.0.0.0", family: "IPv4", mac: "00:00:00:00:00:00", internal: true, cidr: "127.0.0.1/8" } as const;
    const v6 = { address: "fe80::1", netmask: "ffff:ffff:ffff:ffff::", family: "IPv6", mac: "52:54:00:00:00:01", internal: false, cidr: "fe80::1/64", scopeid: 2 } as const;
    const v4 = { address: "198.51.100.3", netmask: "255.255.255.0", family: "IPv4", mac: "52:54:00:00:00:01", internal: false, cidr: "198.51.100.3/24" } as const;
    expect(defaultLanAddress({ lo: [lo], eth0: [v6, v4] })).toBe("198.51.100.3");
    expect(() => defaultLanAddress({ lo: [lo], eth0: [v6] })).toThrow("give the one the first node can reach with --lan-address");
  });

  test("--secret is refused, in either spelling, saying why; a second argument is refused without echoing it", async () => {
    const h = harness();
    const dir = tmp();
    for (const extra of [["--secret", "TOPSECRET"], ["--secret=TOPSECRET"]]) {
      expect(await h.run([...base(dir), ...extra])).toBe(2);
      expect(h.err.at(-1)).toStartWith("Error: --secret is refused: a secret on the command line is readable by every user of this host");
      expect(h.err.at(-1)).toContain("SOCLE_HA_ENROL_SECRET");
      expect(h.err.at(-1)).not.toContain("TOPSECRET");
    }
    expect(await h.run([...base(dir), "TOPSECRET"])).toBe(2);
    expect(h.err.at(-1)).toStartWith("Error: ha join takes one argument, the first node's address, got 2");
    expect(h.err.at(-1)).not.toContain("TOPSECRET");
    expect(h.joins).toEqual([]);
  });

  test("a data dir that holds anything is refused, naming it; so is a file in its place", async () => {
    const h = harness();
    const dir = tmp();
    mkdirSync(join(dir, "store"));
    writeFileSync(join(dir, "initial-admin-password"), "x");
    expect(await h.run(base(dir), {}, "S\n")).toBe(1);
    expect(h.err.at(-1)).toBe(
      `Error: data dir "${dir}" (--data-dir) is not empty (it holds initial-admin-password, store): a joining node's store is replaced by the first node's; give an empty or new directory with --data-dir, or move this one aside`,
    );
    const file = join(tmp(), "f");
    writeFileSync(file, "x");
    expect(await h.run(["ha", "join", "203.0.113.1", "--ca-pin", PIN, "--node-name", "b", "--lan-address", "198.51.100.3"], { SOCLE_DATA_DIR: file }, "S\n")).toBe(1);
    expect(h.err.at(-1)).toBe(`Error: data dir "${file}" (SOCLE_DATA_DIR) is not a directory`);
    expect(h.joins).toEqual([]);
  });

  test("bad or missing flags are usage errors naming the flag; nothing joined", async () => {
    const h = harness();
    const dir = tmp();
    const cases: [string[], string][] = [
      [["ha", "join", "--ca-pin", PIN, "--data-dir", dir], "Error: missing the first node's address"],
      [["ha", "join", "203.0.113.1", "--data-dir", dir], "Error: --ca-pin is required"],
      [["ha", "join", "203.0.113.1", "--ca-pin", "sha256//short=", "--data-dir", dir], 'Error: --ca-pin: invalid pin "sha256//short="'],
      [[...base(dir), "--port", "80a"], 'Error: --port: invalid port "80a"'],
      [[...base(dir), "--port", "0"], 'Error: --port: invalid port "0"'],
      [[...base(dir), "--node-name", "-bad"], 'Error: --node-name: invalid node name "-bad"'],
      [[...base(dir), "--lan-address", "198.51.100"], 'Error: --lan-address: invalid IPv4 address "198.51.100"'],
      [[...base(dir), "--ha-vip", "198.51.100.10/24"], 'Error: unknown flag "--ha-vip"'],
    ];
    for (const [argv, start] of cases) {
      expect({ argv, code: await h.run(argv, {}, "S\n") }).toEqual({ argv, code: 2 });
      expect(h.err.at(-1)).toStartWith(start);
      expect(h.err.at(-1)).toContain("usage: socle ha join <address> [--ca-pin sha256//...]");
    }
    expect(h.joins).toEqual([]);
  });

  test("no secret anywhere, or no haJoin in this build: refused, nothing joined", async () => {
    const h = harness();
    const dir = tmp();
    expect(await h.run(base(dir), {}, "\n")).toBe(1);
    expect(h.err.at(-1)).toBe("Error: no enrolment secret: standard input was empty and SOCLE_HA_ENROL_SECRET is not set (socle ha enrol on the first node prints one)");
    expect(await h.run(base(dir), {}, "S\n", false)).toBe(1);
    expect(h.err.at(-1)).toBe("Error: ha join is not available in this build of socle");
    expect(h.joins).toEqual([]);
  });

  test("a failed join is one line with haJoin's reason, exit 1, and no next steps", async () => {
    const h = harness();
    h.failJoin("join: 203.0.113.1:8094 refused the enrolment: the enrolment secret expired");
    expect(await h.run(base(tmp()), {}, "S\n")).toBe(1);
    expect(h.err.at(-1)).toBe("Error: join: 203.0.113.1:8094 refused the enrolment: the enrolment secret expired");
    expect(h.out).toEqual([]);
  });
});
