// Pins finding 2 of the machine-trust issue, by fuzzing: "/register hands out and changes known
// machines. Take the registration token from GET :8091/boot/<unknown-mac>.ipxe (no credentials,
// unknownBootEnv=discovery). POST /register with a known machine's MAC plus another MAC. The
// answer carries the known machine's Params, secrets included. The new MAC is added to that
// machine, so it now boots what the attacker's MAC boots. Arch and inventory are overwritten. One
// registration token made 20 registrations in 0.2 s."
//
// POST /api/v3/register over the real HTTPS API.
// Seeded (REGISTER_FUZZ_SEED=<n> replays a run; the seed is in every failure message), bounded to
// a few seconds. Registration tokens are taken from the boot file server as an attacker would, new
// ones and reused ones; each request posts a random mix of MACs of operator-made machines, MACs of
// machines registered earlier in the run, fresh MACs, repeats and capitals, with random names
// (other machines' names among them), arches and inventories; requests go out in concurrent
// batches. After every batch the store is compared with the one before it:
// - no answer carries another machine's Uuid, Name, Secret or Params values (secrets, serials),
//   nor its own machine's Secret;
// - every machine that existed before the batch is unchanged: no MAC gained, no Arch, inventory
//   or anything else changed through a registration token;
// - each new machine has exactly the MACs its 201 posted, all of them unknown before;
// - a token creates at most one machine, and a 200 is only a retry of a token's own creation.
// Per-source limits are lifted here (every request comes from 127.0.0.1); they have their own test
// in register-known-mac.test.ts. Per-token limits stay as shipped.

import { makeRng } from "../../src/dhcp/codec/testdata/fuzz.ts";
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { TestSocle } from "../helpers/socle.ts";
import type { ModelObject } from "../../src/model/object.ts";
import { registrationToken, startWithBootServer } from "./discovery-boot.ts";

const SEED = Number(process.env.REGISTER_FUZZ_SEED ?? 20261206);
const BUDGET_MS = 3000;
const MAX_BATCHES = 200;
const BATCH = 4;
const OK_STATUSES = [200, 201, 403, 409, 422, 429];


const rnd = makeRng(SEED);
const int = (n: number) => Math.floor(rnd() * n);
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
const chance = (p: number) => rnd() < p;
const hex = (bytes: number) => Array.from({ length: bytes }, () => int(256).toString(16).padStart(2, "0")).join("");
const freshMac = () => `52:54:00:${hex(1)}:${hex(1)}:${hex(1)}`;

let s: TestSocle;
let bootPort = 0;

beforeAll(async () => {
  ({ s, bootPort } = await startWithBootServer({ registrationLimits: { sourceBurst: 1_000_000, sourceRefillSeconds: 1 } }));
});
afterAll(async () => {
  await s?.stop();
});

interface Sent {
  token: string;
  body: Record<string, unknown>;
  bodyText: string;
  macs: string[]; // normalised, de-duplicated: what the server sees
  valid: boolean;
}

interface Got {
  status: number;
  text: string;
  body: any;
}

const snapshot = (): Map<string, ModelObject> => new Map(s.socle.store.list("machines").map((m) => [String(m.Uuid), structuredClone(m)]));

/** The strings of a machine that must never reach anyone else: long enough not to occur by chance. */
function secretsOf(m: ModelObject): string[] {
  const out = [String(m.Uuid), String(m.Name), String(m.Secret)];
  const params = (m.Params ?? {}) as Record<string, any>;
  for (const [k, v] of Object.entries(params)) {
    if (typeof v === "string") out.push(v);
    if (k === "inventory" && v && typeof v === "object") for (const f of ["SerialNumber", "Hostname"]) if (typeof v[f] === "string") out.push(v[f]);
  }
  return out.filter((x) => x.length >= 8);
}

test(`registration fuzz (seed ${SEED}): no answer leaks another machine, no known machine changes`, async () => {
  const fail = (msg: string, extra?: unknown): never => {
    throw new Error(`register fuzz, seed ${SEED}: ${msg}${extra === undefined ? "" : `\n${JSON.stringify(extra, null, 2)}`}`);
  };

  // Machines an operator made: MACs, names, arches and secrets of their own.
  for (let i = 0; i < 6; i++) {
    const macs = Array.from({ length: 1 + int(3) }, freshMac);
    const r = await s.call("POST", "/api/v3/machines", {
      body: {
        Name: `operator-${hex(4)}`,
        HardwareAddrs: [...new Set(macs)],
        Arch: pick(["amd64", "arm64"]),
        BootEnv: "local",
        ...(i === 0 ? { Address: "127.0.0.1" } : {}),
        Params: { "bmc-password": `bmc-${hex(8)}`, inventory: { CPUs: 1 + int(64), SerialNumber: `OPSN-${hex(6)}` } },
      },
    });
    expect(r.status).toBe(201);
  }

  const used: string[] = []; // tokens sent at least once
  const createdBy = new Map<string, { uuid: string; macs: string[] }>();
  const stats: Record<number, number> = {};
  const names = () => [...snapshot().values()].map((m) => String(m.Name));
  const macsOf = (filter: (m: ModelObject) => boolean) => [...snapshot().values()].filter(filter).flatMap((m) => m.HardwareAddrs as string[]);
  const registered = new Set<string>();

  const makeRequest = async (): Promise<Sent> => {
    let token: string;
    const reuse = used.length > 0 && chance(0.55);
    if (reuse) token = pick(used);
    else token = await registrationToken(bootPort, freshMac());
    const mine = createdBy.get(token);
    const list: string[] = [];
    if (mine && chance(0.4)) list.push(...mine.macs.filter(() => chance(0.7)));
    const n = list.length > 0 ? int(2) : 1 + int(4);
    const operatorMacs = macsOf((m) => !registered.has(String(m.Uuid)));
    const registeredMacs = macsOf((m) => registered.has(String(m.Uuid)));
    for (let i = 0; i < n; i++) {
      const r = rnd();
      if (r < 0.3) list.push(operatorMacs.length ? pick(operatorMacs) : freshMac());
      else if (r < 0.5) list.push(registeredMacs.length ? pick(registeredMacs) : freshMac());
      else if (r < 0.6) list.push(list.length ? pick(list) : freshMac()); // a repeat
      else if (r < 0.63) list.push(`zz:${hex(2)}`); // not a MAC: 422
      else list.push(freshMac());
    }
    if (list.length === 0) list.push(freshMac());
    const sentMacs = list.map((m) => (chance(0.2) ? m.toUpperCase() : m));
    const body: Record<string, unknown> = { HardwareAddrs: sentMacs };
    if (chance(0.3)) body.Name = chance(0.5) ? pick(names()) : `fuzz-${hex(5)}`;
    if (chance(0.7)) body.Arch = pick(["amd64", "arm64", "x86_64", "aarch64"]);
    const inv: Record<string, unknown> = { CPUs: 1 + int(256), MemoryBytes: int(2 ** 40), SerialNumber: `FZSN-${hex(6)}` };
    if (chance(0.5)) inv.Disks = Array.from({ length: int(3) }, (_, i) => ({ Name: `vd${"abc"[i]}`, SizeBytes: int(2 ** 40) }));
    if (chance(0.3)) inv.Hostname = chance(0.5) ? pick(names()) : `host-${hex(5)}`;
    body.Inventory = inv;
    const valid = sentMacs.every((m) => /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(m));
    const macs = [...new Set(sentMacs.map((m) => m.toLowerCase()))];
    if (!reuse) used.push(token);
    return { token, body, bodyText: JSON.stringify(body), macs, valid };
  };

  const send = async (q: Sent): Promise<Got> => {
    const r = await s.call("POST", "/api/v3/register", { auth: `Bearer ${q.token}`, body: q.body });
    return { status: r.status, text: typeof r.body === "string" ? r.body : JSON.stringify(r.body), body: r.body };
  };

  const started = Date.now();
  let batches = 0;
  while (batches < MAX_BATCHES && Date.now() - started < BUDGET_MS) {
    batches++;
    const before = snapshot();
    const knownMacs = new Set([...before.values()].flatMap((m) => m.HardwareAddrs as string[]));
    const sent: Sent[] = [];
    for (let i = 0; i < BATCH; i++) sent.push(await makeRequest());
    const got = await Promise.all(sent.map(send));
    const after = snapshot();

    // Answers: statuses, and nothing of any other machine. An answer's own machine is the one
    // its token created (now, with a 201, or earlier, for a 200): any other is someone else's.
    const uuidIn = (g: Got) => String(g.body?.Machine?.Uuid ?? "");
    const madeNow = new Map(got.map((g, i) => [sent[i]!.token, g] as const).filter(([, g]) => g.status === 201 && !before.has(uuidIn(g))).map(([t, g]) => [t, uuidIn(g)]));
    got.forEach((g, i) => {
      const q = sent[i]!;
      stats[g.status] = (stats[g.status] ?? 0) + 1;
      if (!OK_STATUSES.includes(g.status)) fail(`unexpected status ${g.status}`, { sent: q.body, got: g.text });
      const mine = createdBy.get(q.token)?.uuid ?? madeNow.get(q.token);
      const own = (g.status === 200 || g.status === 201) && uuidIn(g) === mine ? uuidIn(g) : "";
      if (g.status === 200 || g.status === 201) {
        if (Object.keys(g.body).sort().join() !== "Machine,Token" || Object.keys(g.body.Machine).sort().join() !== "Name,Uuid") fail("a registration answer carries more than Uuid, Name and Token", g.body);
      }
      const everyone = new Map([...before, ...after]);
      // The answering machine's own Uuid and Name may be in the answer, even where another
      // machine holds the same text (an inventory Hostname the fuzzer took from a machine name).
      const ownMachine = everyone.get(own);
      const mayShow = new Set(ownMachine ? [String(ownMachine.Uuid), String(ownMachine.Name)] : []);
      for (const m of everyone.values()) {
        const isOwn = String(m.Uuid) === own;
        const secrets = isOwn ? [String(m.Secret)] : secretsOf(m).filter((x) => !mayShow.has(x));
        for (const x of secrets) {
          if (g.text.includes(x) && !q.bodyText.includes(x)) fail(`an answer carries ${isOwn ? "its own Secret" : `data of machine ${m.Name}`}: ${JSON.stringify(x)}`, { sent: q.body, status: g.status, got: g.text });
        }
      }
    });

    // Creations: one per token, only of MACs nobody had, and exactly what was posted.
    const fresh = [...after.keys()].filter((k) => !before.has(k));
    const created = got.map((g, i) => [g, sent[i]!] as const).filter(([g]) => g.status === 201);
    if (fresh.length !== created.length) fail(`${fresh.length} machines appeared for ${created.length} answers 201`, { fresh, created: created.map(([g]) => g.body) });
    for (const [g, q] of created) {
      const uuid = String(g.body.Machine.Uuid);
      const m = after.get(uuid);
      if (!m || before.has(uuid)) fail("a 201 names no new machine", g.body);
      if (createdBy.has(q.token)) fail("one registration token created two machines", { first: createdBy.get(q.token), second: uuid });
      for (const mac of q.macs) if (knownMacs.has(mac)) fail(`a 201 for MAC ${mac}, which a machine had before`, q.body);
      if (JSON.stringify([...(m!.HardwareAddrs as string[])].sort()) !== JSON.stringify([...q.macs].sort())) fail("a new machine's MACs differ from those posted", { posted: q.macs, stored: m!.HardwareAddrs });
      createdBy.set(q.token, { uuid, macs: q.macs });
      registered.add(uuid);
    }
    // A 200 is the retry of its token's own registration, nothing else.
    got.forEach((g, i) => {
      if (g.status !== 200) return;
      const q = sent[i]!;
      const mine = createdBy.get(q.token);
      if (!mine || String(g.body.Machine.Uuid) !== mine.uuid || !q.macs.every((m) => mine.macs.includes(m))) fail("a 200 that is not a retry of the token's own registration", { sent: q.body, got: g.body, mine });
    });
    // Every machine that existed before the batch is exactly as it was.
    for (const [uuid, m] of before) {
      const now = after.get(uuid);
      if (JSON.stringify(now) !== JSON.stringify(m)) fail(`machine ${m.Name} changed through registration`, { before: m, after: now });
    }
    // No MAC in two machines, and a refused request created nothing.
    const all = [...after.values()].flatMap((m) => m.HardwareAddrs as string[]);
    if (new Set(all).size !== all.length) fail("a MAC belongs to two machines", all);
    got.forEach((g, i) => {
      if (g.status === 422 && sent[i]!.valid && JSON.stringify(g.body).includes("HardwareAddrs")) fail("a valid MAC list was refused as invalid", { sent: sent[i]!.body, got: g.text });
    });
  }

  console.log(`register fuzz: seed ${SEED}, ${batches} batches of ${BATCH} in ${Date.now() - started} ms, statuses ${JSON.stringify(stats)}, ${createdBy.size} machines registered`);
  expect(stats[201] ?? 0).toBeGreaterThan(0);
  expect(stats[403] ?? 0).toBeGreaterThan(0);
}, 30_000);
