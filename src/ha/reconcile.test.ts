import { describe, expect, test } from "bun:test";
import type { Change, ModelObject } from "../model/object.ts";
import { lastPerObject, mergeLease, objectKey, planMerge, type DivergentEntry } from "./reconcile.ts";

const future = (s: number) => new Date(Date.now() + s * 1000).toISOString();
const lease = (token: string, state: string, endS: number): ModelObject => ({ Addr: "198.51.100.120", Token: token, State: state, ExpireTime: future(endS), Strategy: "MAC", Via: "", Hostname: "" });
const entry = (Type: string, Key: string, Object: ModelObject | null, Seq: number): DivergentEntry => ({ Type, Key, Object, Seq });

describe("planMerge", () => {
  test("objects only the loser changed are taken (a delete too); equal ones cost nothing", () => {
    const winner = new Map<string, ModelObject>([[objectKey("profiles", "same"), { Name: "same", V: 1 }], [objectKey("profiles", "gone"), { Name: "gone" }]]);
    const plan = planMerge(
      [entry("profiles", "new", { Name: "new" }, 12), entry("profiles", "gone", null, 13), entry("profiles", "same", { V: 1, Name: "same" }, 14)],
      new Map(),
      (t, k) => winner.get(objectKey(t, k)),
    );
    expect(plan.writes).toEqual([
      { Type: "profiles", Key: "new", Object: { Name: "new" } },
      { Type: "profiles", Key: "gone", Object: null },
    ]);
    expect(plan.conflicts).toEqual([]);
    expect(plan.same).toBe(1);
  });

  test("an object both changed: the higher local Seq wins, a tie to the winner; each is a conflict", () => {
    const touched = lastPerObject([
      { Seq: 20, Time: "", Type: "profiles", Action: "update", Key: "x", Object: { Name: "x", By: "winner" } },
      { Seq: 25, Time: "", Type: "profiles", Action: "update", Key: "y", Object: { Name: "y", By: "winner" } },
      { Seq: 30, Time: "", Type: "profiles", Action: "update", Key: "z", Object: { Name: "z", By: "winner" } },
    ] as Change[]);
    const current = (_t: string, k: string) => ({ Name: k, By: "winner" });
    const plan = planMerge([entry("profiles", "x", { Name: "x", By: "loser" }, 22), entry("profiles", "y", { Name: "y", By: "loser" }, 21), entry("profiles", "z", { Name: "z", By: "loser" }, 30)], touched, current);
    expect(plan.writes).toEqual([{ Type: "profiles", Key: "x", Object: { Name: "x", By: "loser" } }]);
    expect(plan.conflicts.map((c) => [c.ObjectKey, c.Kept, c.WinnerSeq, c.LoserSeq])).toEqual([
      ["x", "loser", 20, 22],
      ["y", "winner", 25, 21],
      ["z", "winner", 30, 30],
    ]);
  });

  test("an object the winner deleted stays deleted, whatever the loser's Seq", () => {
    const touched = lastPerObject([{ Seq: 3, Time: "", Type: "machines", Action: "delete", Key: "m", Object: { Uuid: "m" } }] as Change[]);
    const plan = planMerge([entry("machines", "m", { Uuid: "m", Stage: "x" }, 900)], touched, () => undefined);
    expect(plan.writes).toEqual([]);
    expect(plan.conflicts[0]).toMatchObject({ Kept: "winner", Reason: expect.stringContaining("stays deleted") });
  });

  test("the winner's history gone: every object the loser changed that differs is a conflict the winner keeps", () => {
    const plan = planMerge([entry("profiles", "x", { Name: "x", By: "loser" }, 99)], undefined, () => ({ Name: "x", By: "winner" }));
    expect(plan.writes).toEqual([]);
    expect(plan.conflicts[0]).toMatchObject({ Kept: "winner", Reason: expect.stringContaining("history") });
  });
});

describe("mergeLease (by expiry, never by Seq)", () => {
  test("same client: the later expiry wins; at equal time an ACK beats EXPIRED", () => {
    expect(mergeLease(lease("m1", "ACK", 100), lease("m1", "ACK", 200))).toEqual({ take: true });
    expect(mergeLease(lease("m1", "ACK", 200), lease("m1", "ACK", 100))).toEqual({ take: false });
    const t = future(100);
    expect(mergeLease({ Token: "m1", State: "EXPIRED", ExpireTime: t }, { Token: "m1", State: "ACK", ExpireTime: t })).toEqual({ take: true });
  });

  test("two clients on one address: the live one keeps it; both live: the winner's, as a conflict", () => {
    expect(mergeLease(lease("m1", "RELEASED", 100), lease("m2", "ACK", 100))).toMatchObject({ take: true, conflict: expect.stringContaining("m2") });
    expect(mergeLease(lease("m1", "ACK", 100), lease("m2", "ACK", 100))).toMatchObject({ take: false, conflict: expect.stringContaining("winner's client keeps it") });
    expect(mergeLease(lease("m1", "ACK", 100), lease("m2", "EXPIRED", -10))).toEqual({ take: false });
  });

  test("only on one side: taken; deleted on the loser: the winner's stands", () => {
    expect(mergeLease(null, lease("m1", "ACK", 100))).toEqual({ take: true });
    expect(mergeLease(lease("m1", "ACK", 100), null)).toEqual({ take: false });
  });

  test("planMerge routes leases through the expiry rule, whatever the Seq numbers say", () => {
    const plan = planMerge([entry("leases", "198.51.100.120", lease("m1", "ACK", 50), 999)], new Map([[objectKey("leases", "198.51.100.120"), entry("leases", "198.51.100.120", null, 1)]]), () =>
      lease("m1", "ACK", 500),
    );
    expect(plan.writes).toEqual([]);
    expect(plan.conflicts).toEqual([]);
  });
});
