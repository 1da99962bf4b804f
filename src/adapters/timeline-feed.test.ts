import { afterAll, beforeAll, expect, test } from "bun:test";
import { MemoryStore } from "../store/memory-store.ts";
import { Kind, TftpOutcome } from "../timeline/kinds.ts";
import { macFromString } from "../timeline/mac.ts";
import { createStoreTimeline, type StoreTimeline } from "./timeline-feed.ts";

const M1 = "52:54:00:00:00:01";
const M2 = "52:54:00:00:00:02";
const UUID = "00000000-0000-4000-8000-000000000001";
const store = new MemoryStore();
let fed: StoreTimeline;

beforeAll(async () => {
  await store.open();
  await store.put("machines", "00000000-0000-4000-8000-000000000009", { Uuid: "00000000-0000-4000-8000-000000000009", Name: "old", HardwareAddrs: [M2], Address: "198.51.100.9" });
  fed = createStoreTimeline(store);
});
afterAll(async () => {
  fed.close();
  await store.close();
});

test("a machine created: a registration event for each of its MACs, which move to the registered pool", async () => {
  const t = fed.timeline;
  t.record(macFromString(M1)!, Kind.Dhcp, 1, 1, 7, 67, "198.51.100.20", "ipxe.efi", "PXEClient", "", "");
  expect(t.stats()).toMatchObject({ knownMacs: 0, unknownMacs: 1 });
  await store.put("machines", UUID, { Uuid: UUID, Name: "n1", HardwareAddrs: [M1] });
  const rows = t.of(macFromString(M1)!);
  expect(rows.map((r) => r.kind)).toEqual([Kind.Dhcp, Kind.Register]);
  expect(rows[1]).toMatchObject({ addr: UUID, text: "n1" });
  expect(t.stats()).toMatchObject({ knownMacs: 1, unknownMacs: 0 });
  // an update is no second registration
  await store.put("machines", UUID, { Uuid: UUID, Name: "n1", HardwareAddrs: [M1], Description: "x" });
  expect(t.of(macFromString(M1)!)).toHaveLength(2);
});

test("a job's states: started, then finished, each once however often the job is written", async () => {
  const job = { Uuid: "00000000-0000-4000-8000-0000000000aa", Machine: UUID, Task: "inventory", Stage: "discover", Workflow: "image-deploy" };
  for (const State of ["created", "running", "running", "running", "finished", "finished"]) await store.put("jobs", job.Uuid, { ...job, State });
  const jobs = fed.timeline.of(macFromString(M1)!).filter((r) => r.kind === Kind.Job);
  expect(jobs.map((r) => [r.outcome, r.text, r.a, r.b])).toEqual([
    [1, "inventory", "discover", "image-deploy"],
    [2, "inventory", "discover", "image-deploy"],
  ]);
});

test("addresses: a lease's MAC, else the machine whose Address it is (at start and as machines change)", async () => {
  const t = fed.timeline;
  expect(t.macOf("198.51.100.9")).toBe(macFromString(M2));
  await store.put("leases", "198.51.100.30", { Addr: "198.51.100.30", Token: M1, State: "ACK" });
  expect(t.macOf("198.51.100.30")).toBe(macFromString(M1));
  await store.put("machines", UUID, { Uuid: UUID, Name: "n1", HardwareAddrs: [M1], Address: "198.51.100.40" });
  expect(t.macOf("198.51.100.40")).toBe(macFromString(M1));
  t.recordFrom("198.51.100.40", Kind.Tftp, 0, TftpOutcome.Served, 10, "ipxe.efi");
  expect(t.of(macFromString(M1)!).at(-1)).toMatchObject({ kind: Kind.Tftp, addr: "198.51.100.40" });
  await store.put("machines", UUID, { Uuid: UUID, Name: "n1", HardwareAddrs: [M1], Address: "" });
  expect(t.macOf("198.51.100.40")).toBeUndefined();
  expect(t.macOf("203.0.113.1")).toBeUndefined();
});
