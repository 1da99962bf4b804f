// The timeline routes over the real API app (auth middleware, claims, error edge) with a real
// recorder: who may read which MAC's events, bad input, the diagnoses a machine's facts add, and
// the live records only streams that ask for them get.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { MemoryStore } from "../store/memory-store.ts";
import { ObjectService } from "./objects.ts";
import { PrefsService } from "./prefs.ts";
import { EventHub, matches, parseEventFilter, type StreamEvent } from "./events.ts";
import { Authenticator } from "./authn.ts";
import { createApi } from "./app.ts";
import { nullLogger } from "../log/logger.ts";
import { Timeline } from "../timeline/recorder.ts";
import { DhcpOutcome, Foreign, HttpMethod, HttpOutcome, Kind, RegisterOutcome, TftpOutcome } from "../timeline/kinds.ts";
import { macFromString } from "../timeline/mac.ts";
import { publishTimeline } from "./routes-timeline.ts";

const M1 = "52:54:00:00:00:01";
const M2 = "52:54:00:00:00:02";
const UNKNOWN = "02:00:00:00:00:99";
const store = new MemoryStore();
const objects = new ObjectService(store);
const authn = new Authenticator({ store, serverKey: "k".repeat(32), log: nullLogger, registrationSecret: "r".repeat(32) });
let clock = Date.parse("2026-12-07T09:00:00Z");
const recorder = new Timeline({ now: () => clock });
const names = { messageType: (n: number) => ["", "DHCPDISCOVER", "DHCPOFFER", "DHCPREQUEST", "DHCPDECLINE", "DHCPACK"][n] ?? `type ${n}`, arch: (n: number) => (n === 7 ? "x64 UEFI" : `arch ${n}`) };
const events = new EventHub(store);
const tokens: Record<string, string> = {};
let app: ReturnType<typeof createApi>;
let uuid1 = "";

beforeAll(async () => {
  await store.open();
  await objects.create("roles", { Name: "everything", Claims: [{ Scope: "*", Action: "*", Specific: "*" }] });
  await objects.create("roles", { Name: "machine-reader", Claims: [{ Scope: "machines", Action: "get,list", Specific: "*" }] });
  await objects.create("roles", { Name: "timeline-reader", Claims: [{ Scope: "machines,timeline", Action: "get,list", Specific: "*" }] });
  await objects.create("roles", { Name: "timeline-only", Claims: [{ Scope: "timeline", Action: "get,list", Specific: "*" }] });
  const user = async (name: string, roles: string[]) =>
    (tokens[name] = authn.tokenForUser(await objects.save("users", objects.def("users").prepare({ Name: name, Roles: roles, Secret: name.padEnd(32, "x") })), 3600).token);
  await user("admin", ["everything"]);
  await user("machines-only", ["machine-reader"]);
  await user("reader", ["timeline-reader"]);
  await user("timeline-only", ["timeline-only"]);
  const m1 = await objects.create("machines", { Name: "n1", HardwareAddrs: [M1], Address: "198.51.100.50", Arch: "arm64" });
  uuid1 = String(m1.Uuid);
  const m2 = await objects.create("machines", { Name: "n2", HardwareAddrs: [M2] });
  tokens.machine2 = authn.tokenForMachine(m2, 3600).token;
  tokens.registration = authn.tokenForRegistration(3600).token;
  await objects.create("leases", { Addr: "198.51.100.120", Token: M1, State: "ACK", ExpireTime: "2026-12-08T00:00:00Z", Strategy: "MAC" }).catch(async () => {
    // the lease model's required fields, whatever they are now: the store takes it as written
    await store.put("leases", "198.51.100.120", { Addr: "198.51.100.120", Token: M1, State: "ACK" });
  });
  const m = macFromString(M1)!;
  recorder.record(m, Kind.Dhcp, 1, DhcpOutcome.Offer, 7, 67, "198.51.100.120", "ipxe.efi", "PXEClient:Arch:00007:UNDI:003016", "", "");
  clock += 5;
  recorder.record(m, Kind.DhcpForeign, 2, Foreign.Rogue, -1, 0, "198.51.100.61", "pxelinux.0", "198.51.100.2", "198.51.100.2", "br0");
  clock += 5;
  recorder.record(m, Kind.Dhcp, 3, DhcpOutcome.OtherServer, 7, 67, "", "198.51.100.2", "PXEClient:Arch:00007:UNDI:003016", "", "");
  recorder.learn("198.51.100.120", m);
  recorder.recordFrom("198.51.100.120", Kind.Tftp, 0, TftpOutcome.NotFound, 0, "missing.efi", 'file "missing.efi" not found');
  recorder.recordFrom("198.51.100.120", Kind.Http, HttpMethod.Get, HttpOutcome.Served, 200, "boot/52:54:00:00:00:01.ipxe", "");
  recorder.record(m, Kind.Register, 0, RegisterOutcome.Created, -1, 0, uuid1, "n1", "", "", "");
  recorder.record(macFromString(UNKNOWN)!, Kind.Dhcp, 1, DhcpOutcome.NoSubnet, -1, 67, "", "relay 203.0.113.1, link 203.0.113.0", "", "", "203.0.113.1");
  app = createApi({ store, objects, authn, prefs: new PrefsService(store), events, log: nullLogger, version: "test", info: () => ({}), timeline: { recorder, names } });
});

afterAll(async () => {
  events.close();
  await store.close();
});

async function get(path: string, as?: string) {
  const headers: Record<string, string> = as ? { authorization: `Bearer ${tokens[as]}` } : {};
  const res = await app.fetch(new Request(`https://198.51.100.1${path}`, { headers }));
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as any) : undefined };
}

describe("GET /api/v3/machines/<id>/timeline", () => {
  test("the machine's events in order with plain summaries, and the diagnoses its facts and events show", async () => {
    const r = await get(`/api/v3/machines/${uuid1}/timeline`, "admin");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ Mac: M1, Machine: uuid1, Name: "n1" });
    expect(r.body.Events.map((e: any) => e.Kind)).toEqual(["dhcp", "dhcp-foreign", "dhcp", "tftp", "http", "register"]);
    expect(r.body.Events[0].Summary).toBe("DISCOVER arch 7 (x64 UEFI) PXEClient -> DHCPOFFER 198.51.100.120 file ipxe.efi");
    expect(r.body.Events[0]).toMatchObject({ Mac: M1, Time: "2026-12-07T09:00:00.000Z", Detail: { Arch: 7, Address: "198.51.100.120", BootFile: "ipxe.efi" } });
    const codes = r.body.Diagnoses.map((d: any) => d.Code).sort();
    expect(codes).toEqual(["address-mismatch", "arch-mismatch", "file-missing", "rogue-dhcp"]);
    const rogue = r.body.Diagnoses.find((d: any) => d.Code === "rogue-dhcp");
    expect(rogue.Message).toContain("198.51.100.2");
    expect(rogue.Message).toContain("The client then asked that server for its lease");
    expect(rogue.Evidence).toEqual([r.body.Events[1].Seq, r.body.Events[2].Seq]);
    expect(r.body.Diagnoses.find((d: any) => d.Code === "file-missing").Message).toContain("missing.efi");
    expect(r.body.Diagnoses.find((d: any) => d.Code === "arch-mismatch").Message).toContain("recorded as arm64");
    expect(r.body.Diagnoses.find((d: any) => d.Code === "address-mismatch").Message).toContain("198.51.100.50");
    // By an index, as every machine route takes it.
    expect((await get("/api/v3/machines/Name:n1/timeline", "admin")).body.Machine).toBe(uuid1);
  });

  test("no credentials 401; a user without the timeline claim 403; another machine's token and a registration token see no such machine", async () => {
    expect((await get(`/api/v3/machines/${uuid1}/timeline`)).status).toBe(401);
    const forbidden = await get(`/api/v3/machines/${uuid1}/timeline`, "machines-only");
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.Messages.join(" ")).toContain("may not get timeline");
    const other = await get(`/api/v3/machines/${uuid1}/timeline`, "machine2");
    expect(other.status).toBe(404);
    expect(JSON.stringify(other.body)).not.toContain(M1);
    expect((await get(`/api/v3/machines/${uuid1}/timeline`, "registration")).status).toBeGreaterThanOrEqual(401);
    expect((await get("/api/v3/machines/no-such-machine/timeline", "admin")).status).toBe(404);
  });
});

describe("GET /api/v3/timeline", () => {
  test("?mac= in any spelling: an unknown MAC's events and its diagnosis; a registered one names its machine", async () => {
    const r = await get(`/api/v3/timeline?mac=${UNKNOWN.toUpperCase().replace(/:/g, "-")}`, "reader");
    expect(r.status).toBe(200);
    expect(r.body.Mac).toBe(UNKNOWN);
    expect(r.body.Machine).toBeUndefined();
    expect(r.body.Events).toHaveLength(1);
    expect(r.body.Diagnoses).toEqual([expect.objectContaining({ Code: "relay-no-subnet", Severity: "error" })]);
    expect(r.body.Diagnoses[0].Message).toContain("203.0.113.1");
    const known = await get(`/api/v3/timeline?mac=${M1}`, "reader");
    expect(known.body.Machine).toBe(uuid1);
    const none = await get("/api/v3/timeline?mac=02:00:00:00:00:00", "reader");
    expect(none.body).toEqual({ Mac: "02:00:00:00:00:00", Events: [], Diagnoses: [] });
  });

  test("bad input is a 400 naming the field and value; the global view pages by Seq", async () => {
    for (const [q, field] of [["mac=52:54:00", "mac"], ["mac=<script>", "mac"], ["since=-1", "since"], ["limit=0", "limit"], ["limit=99999", "limit"], ["limit=abc", "limit"]] as const) {
      const r = await get(`/api/v3/timeline?${q}`, "admin");
      expect({ q, status: r.status }).toEqual({ q, status: 400 });
      expect(r.body.Messages.join(" ")).toContain(`${field}:`);
    }
    const all = await get("/api/v3/timeline?limit=2", "admin");
    expect(all.body.Events.map((e: any) => e.Seq)).toEqual([1, 2]);
    expect(all.body.LastSeq).toBe(7);
    expect((await get("/api/v3/timeline?since=6", "admin")).body.Events.map((e: any) => e.Seq)).toEqual([7]);
  });

  test("the global view and other MACs' timelines need the timeline claim; a machine token gets neither", async () => {
    expect((await get("/api/v3/timeline")).status).toBe(401);
    expect((await get("/api/v3/timeline", "machines-only")).status).toBe(403);
    expect((await get("/api/v3/timeline", "machine2")).status).toBe(403);
    expect((await get(`/api/v3/timeline?mac=${M1}`, "machine2")).status).toBe(403);
  });
});

test("a caller who may read a MAC's timeline but not its machine sees the registration, not which machine it made", async () => {
  const r = await get(`/api/v3/timeline?mac=${M1}`, "timeline-only");
  expect(r.status).toBe(200);
  expect(r.body.Machine).toBeUndefined();
  const reg = r.body.Events.find((e: any) => e.Kind === "register");
  expect(reg.Detail).toEqual({ Outcome: "registered (new machine)" });
  expect(JSON.stringify(r.body)).not.toContain(uuid1);
  expect(JSON.stringify(r.body)).not.toContain('"n1"');
  const all = await get("/api/v3/timeline", "timeline-only");
  expect(JSON.stringify(all.body)).not.toContain(uuid1);
  // with machines get it is named
  expect((await get(`/api/v3/timeline?mac=${M1}`, "reader")).body.Events.find((e: any) => e.Kind === "register").Detail.Machine).toBe(uuid1);
});

describe("live records", () => {
  test("published only while a stream asked for type=timeline, and only to such streams", async () => {
    const seen: StreamEvent[] = [];
    const stop = publishTimeline(events, { recorder, names }, 20);
    const all = parseEventFilter(new URLSearchParams(""));
    const onlyTimeline = parseEventFilter(new URLSearchParams("type=timeline"));
    const offAll = events.listen((e) => {
      if (matches(all, e)) seen.push(e);
    });
    recorder.record(macFromString(M2)!, Kind.Dhcp, 1, DhcpOutcome.Offer, -1, 67, "198.51.100.121", "", "", "", "");
    await Bun.sleep(80);
    expect(seen).toEqual([]); // nobody asked: nothing described or sent
    const got: StreamEvent[] = [];
    const off = events.listen((e) => {
      if (matches(onlyTimeline, e)) got.push(e);
    }, onlyTimeline.types);
    expect(events.wants("timeline")).toBe(true);
    recorder.record(macFromString(M2)!, Kind.Dhcp, 3, DhcpOutcome.Ack, -1, 67, "198.51.100.121", "", "", "", "");
    await Bun.sleep(80);
    off();
    offAll();
    stop();
    expect(events.wants("timeline")).toBe(false);
    expect(got.map((e) => [e.Type, e.Action, e.Key, (e.Object as any).Summary])).toEqual([["timeline", "record", M2, "REQUEST -> DHCPACK 198.51.100.121"]]);
    expect(seen).toEqual([]); // a stream without the type filter never gets timeline records
  });
});
