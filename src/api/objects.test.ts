import { beforeAll, describe, expect, test } from "bun:test";
import { MemoryStore } from "../store/memory-store.ts";
import type { ModelObject } from "../model/object.ts";
import { ObjectService, type ReadView, type SecureAccess } from "./objects.ts";
import { SocleError } from "../model/errors.ts";
import { ENVELOPE_FIELD, ParamCipher, SECURE_MARKER, isEnvelope, type SecureEnvelope } from "../model/secure-params.ts";

/** A read view that marks every BootEnv whose Name starts with "down" unavailable; records what it saw. */
function markingView(): ReadView & { seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    fields: ["Available", "Errors"],
    async apply(objs) {
      return objs.map((o) => {
        seen.push(String(o.Name));
        return String(o.Name).startsWith("down") ? { ...o, Available: false, Errors: ["down"] } : o;
      });
    },
  };
}

describe("ObjectService.list with a read view", () => {
  const store = new MemoryStore();
  const objects = new ObjectService(store);
  const q = (s: string) => new URLSearchParams(s);
  const namesOf = (items: ModelObject[]) => items.map((o) => o.Name);

  beforeAll(async () => {
    await store.open();
    for (const Name of ["a", "b", "down-1", "down-2", "z"]) await objects.create("bootenvs", { Name });
  });

  test("without a filter or sort on a field the view sets, only the page returned is viewed", async () => {
    const view = markingView();
    const { items, total } = await objects.list("bootenvs", q("sort=Name&offset=2&limit=2"), view);
    expect(namesOf(items)).toEqual(["down-1", "down-2"]);
    expect(items.map((o) => o.Available)).toEqual([false, false]);
    expect(total).toBe(5);
    expect(view.seen).toEqual(["down-1", "down-2"]);
  });

  test("a filter on Available sees the view before it filters", async () => {
    const view = markingView();
    const { items, total } = await objects.list("bootenvs", q("Available=Eq(false)"), view);
    expect(namesOf(items).sort()).toEqual(["down-1", "down-2"]);
    expect(total).toBe(2);
    expect(view.seen.length).toBe(5);
  });

  test("so does a sort on Available", async () => {
    const { items } = await objects.list("bootenvs", q("sort=Available&sort=Name"), markingView());
    expect(namesOf(items)).toEqual(["down-1", "down-2", "a", "b", "z"]);
  });

  test("without a view, the stored status", async () => {
    const { items } = await objects.list("bootenvs", q("Available=Eq(false)"));
    expect(items).toEqual([]);
  });

  test("a bad query is refused before the view is asked", async () => {
    const view = markingView();
    await expect(objects.list("bootenvs", q("Colour=Eq(red)"), view)).rejects.toThrow();
    expect(view.seen).toEqual([]);
  });
});

describe("ObjectService and Secure params", () => {
  const store = new MemoryStore();
  const cipher = new ParamCipher(ParamCipher.generateKey());
  let compactions = 0;
  const objects = new ObjectService(store, { cipher, compact: async () => void compactions++ });
  const machines = objects.def("machines");
  const ALL: SecureAccess = () => true;
  let uuid = "";
  const stored = () => store.get("machines", uuid)!.Params as Record<string, unknown>;
  const envelopeOf = (v: unknown) => (v as Record<string, string>)[ENVELOPE_FIELD];
  const errorOf = async (p: Promise<unknown>): Promise<SocleError> => {
    try {
      await p;
    } catch (err) {
      if (err instanceof SocleError) return err;
      throw err;
    }
    throw new Error("expected a SocleError");
  };

  beforeAll(async () => {
    await store.open();
    await objects.create("params", { Name: "bmc-password", Secure: true, Schema: { type: "string", minLength: 4 } });
    await objects.create("params", { Name: "ipmi-user", Schema: { type: "string" } });
    uuid = String((await objects.create("machines", { Name: "n1", Params: { "bmc-password": "hunter22", disk: "vda" } })).Uuid);
  });

  test("a write stores the value sealed for this machine and param; nothing in the store holds it in clear", () => {
    expect(isEnvelope(stored()["bmc-password"])).toBe(true);
    expect(cipher.open({ type: "machines", key: uuid }, "bmc-password", stored()["bmc-password"] as never)).toBe("hunter22");
    expect(JSON.stringify(store.list("machines"))).not.toContain("hunter22");
    expect(stored().disk).toBe("vda");
  });

  test("readers see the marker, holders of getSecure the value; other params as stored", () => {
    const obj = store.get("machines", uuid)!;
    expect((objects.redact(machines, obj).Params as Record<string, unknown>)["bmc-password"]).toBe(SECURE_MARKER);
    expect((objects.redact(machines, obj, ALL).Params as Record<string, unknown>)["bmc-password"]).toBe("hunter22");
    expect((objects.redact(machines, obj).Params as Record<string, unknown>).disk).toBe("vda");
    // An object without secure values is returned as it is, without a copy.
    const plain = { Name: "p", Params: { disk: "vda" } };
    expect(objects.redact(objects.def("profiles"), plain)).toBe(plain);
  });

  test("a PUT of what a reader saw (the marker) keeps the stored envelope, byte for byte", async () => {
    const before = envelopeOf(stored()["bmc-password"]);
    await objects.replace("machines", uuid, { ...objects.redact(machines, store.get("machines", uuid)!), Name: "n1-renamed" });
    expect(envelopeOf(stored()["bmc-password"])).toBe(before);
    expect(store.get("machines", uuid)!.Name).toBe("n1-renamed");
  });

  test("so does a PUT of what a getSecure holder saw (the value in clear)", async () => {
    const before = envelopeOf(stored()["bmc-password"]);
    await objects.replace("machines", uuid, objects.redact(machines, store.get("machines", uuid)!, ALL));
    expect(envelopeOf(stored()["bmc-password"])).toBe(before);
  });

  test("a new value is checked in clear, then sealed anew", async () => {
    const bad = await errorOf(objects.replace("machines", uuid, { ...objects.redact(machines, store.get("machines", uuid)!), Params: { "bmc-password": "abc" } }));
    expect(bad.messages).toEqual(['Params.bmc-password: "abc" is shorter than 4 characters']);
    const before = envelopeOf(stored()["bmc-password"]);
    await objects.replace("machines", uuid, { ...objects.redact(machines, store.get("machines", uuid)!), Params: { "bmc-password": "correct-horse", disk: "vda" } });
    expect(envelopeOf(stored()["bmc-password"])).not.toBe(before);
    expect((objects.redact(machines, store.get("machines", uuid)!, ALL).Params as Record<string, unknown>)["bmc-password"]).toBe("correct-horse");
  });

  test("JSON Patch: a test op compares with what the reader sees; other ops keep the value", async () => {
    const before = envelopeOf(stored()["bmc-password"]);
    await objects.patch("machines", uuid, [
      { op: "test", path: "/Params/bmc-password", value: SECURE_MARKER },
      { op: "replace", path: "/Params/disk", value: "vdb" },
    ]);
    expect(envelopeOf(stored()["bmc-password"])).toBe(before);
    expect(stored().disk).toBe("vdb");
    // Guessing the value through a test op: a 409 that quotes only the marker.
    const guess = await errorOf(objects.patch("machines", uuid, [{ op: "test", path: "/Params/bmc-password", value: "correct-horse" }]));
    expect(guess.type).toBe("Conflict");
    expect(guess.message).not.toContain(before);
    expect(JSON.stringify(guess.messages)).toContain(SECURE_MARKER);
    // With getSecure the test compares with the value in clear.
    await objects.patch("machines", uuid, [{ op: "test", path: "/Params/bmc-password", value: "correct-horse" }], undefined, undefined, ALL);
    expect(envelopeOf(stored()["bmc-password"])).toBe(before);
  });

  test("a marker with nothing stored behind it, and an envelope from a client, are refused", async () => {
    const copied = await errorOf(objects.patch("machines", uuid, [{ op: "copy", from: "/Params/bmc-password", path: "/Params/ipmi-user" }]));
    expect(copied.type).toBe("ValidationError");
    expect(copied.messages[0]).toContain('Params.ipmi-user: "[secure]" stands for a stored secure value');
    const created = await errorOf(objects.create("machines", { Name: "n2", Params: { "bmc-password": SECURE_MARKER } }));
    expect(created.messages[0]).toContain("has none; send the value itself");
    const moved = await errorOf(objects.create("machines", { Name: "n3", Params: { "bmc-password": stored()["bmc-password"] } }));
    expect(moved.messages[0]).toContain("is a sealed value, which only the server makes");
    expect(JSON.stringify(store.list("machines"))).not.toContain('"n2"');
  });

  test("profiles hold sealed values too", async () => {
    await objects.create("profiles", { Name: "rack-1", Params: { "bmc-password": "rack-secret" } });
    const p = store.get("profiles", "rack-1")!;
    expect(isEnvelope((p.Params as Record<string, unknown>)["bmc-password"])).toBe(true);
    expect(cipher.open({ type: "profiles", key: "rack-1" }, "bmc-password", (p.Params as Record<string, SecureEnvelope>)["bmc-password"]!)).toBe("rack-secret");
  });

  test("a Param that becomes Secure has its values sealed before the write answers, and the store is compacted", async () => {
    await objects.replace("machines", uuid, { ...objects.redact(machines, store.get("machines", uuid)!), Params: { ...stored(), "ipmi-user": "operator" } });
    expect(stored()["ipmi-user"]).toBe("operator");
    const runs = compactions;
    await objects.replace("params", "ipmi-user", { Name: "ipmi-user", Secure: true, Schema: { type: "string" } });
    expect(isEnvelope(stored()["ipmi-user"])).toBe(true);
    expect(compactions).toBe(runs + 1);
    // Turning Secure off opens nothing: the value stays sealed and hidden from readers.
    await objects.replace("params", "ipmi-user", { Name: "ipmi-user", Secure: false, Schema: { type: "string" } });
    expect(isEnvelope(stored()["ipmi-user"])).toBe(true);
    expect((objects.redact(machines, store.get("machines", uuid)!).Params as Record<string, unknown>)["ipmi-user"]).toBe(SECURE_MARKER);
    expect((objects.redact(machines, store.get("machines", uuid)!, ALL).Params as Record<string, unknown>)["ipmi-user"]).toBe("operator");
  });

  test("sealStored seals values stored in clear (data from before sealing), once", async () => {
    const m = store.get("machines", uuid)!;
    await store.put("machines", uuid, { ...m, Params: { ...stored(), "bmc-password": "written-in-clear" } });
    expect(await objects.sealStored()).toBe(1);
    expect(isEnvelope(stored()["bmc-password"])).toBe(true);
    expect(await objects.sealStored()).toBe(0);
  });

  test("without a key a secure value is refused (503), never stored in clear", async () => {
    const bare = new ObjectService(store);
    const err = await errorOf(bare.create("machines", { Name: "n4", Params: { "bmc-password": "hunter22" } }));
    expect(err.type).toBe("Unavailable");
    expect(err.messages[0]).toContain("no secure params key");
    expect(store.list("machines").some((o) => o.Name === "n4")).toBe(false);
  });
});

describe("ObjectService uniqueness by index", () => {
  test("writes made beside the service (the store itself: registration, DHCP) count; deletes and renames free values; concurrent creates get one winner", async () => {
    const store = new MemoryStore();
    await store.open();
    const objects = new ObjectService(store);
    const a = await objects.create("machines", { Name: "a", HardwareAddrs: ["52:54:00:00:10:01"] });
    // Now the index exists; this write goes round the service.
    await store.put("machines", "u-beside", { ...a, Uuid: "u-beside", Name: "beside", HardwareAddrs: ["52:54:00:00:10:02"] });
    const refused = (await objects.create("machines", { Name: "c", HardwareAddrs: ["52:54:00:00:10:02"] }).catch((e) => e)) as SocleError;
    expect(refused).toBeInstanceOf(SocleError);
    expect(JSON.stringify(refused.toJSON())).toContain('HardwareAddrs: \\"52:54:00:00:10:02\\" is already used by machines \\"u-beside\\"');
    await store.delete("machines", "u-beside");
    await objects.create("machines", { Name: "c", HardwareAddrs: ["52:54:00:00:10:02"] });
    await objects.patch("machines", String(a.Uuid), [{ op: "replace", path: "/Name", value: "a2" }]);
    await objects.create("machines", { Name: "a", HardwareAddrs: [] });
    const both = await Promise.allSettled([
      objects.create("machines", { Name: "x1", HardwareAddrs: ["52:54:00:00:10:09"] }),
      objects.create("machines", { Name: "x2", HardwareAddrs: ["52:54:00:00:10:09"] }),
    ]);
    expect(both.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
  });
});
