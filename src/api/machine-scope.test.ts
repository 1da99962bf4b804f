import { describe, expect, test } from "bun:test";
import { assertMachineWrite, forbiddenMachineChanges, machineWriteGuard } from "./machine-scope.ts";
import { machineClaims, superuserClaims, type Principal } from "../auth/claims.ts";
import { SocleError } from "../model/errors.ts";

const UUID = "0f0e0d0c-0b0a-4908-8706-050403020100";
const base = {
  Uuid: UUID,
  Name: "n1",
  HardwareAddrs: ["52:54:00:00:00:01"],
  Profiles: ["site"],
  Params: { disk: "vda", inventory: { CPUs: 1 } },
  Secret: "s".repeat(24),
  Validated: true,
  Available: true,
  Errors: [],
};
const machine: Principal = { kind: "machine", name: UUID, machine: UUID, claims: machineClaims(UUID) };
const admin: Principal = { kind: "user", name: "admin", claims: superuserClaims() };

describe("forbiddenMachineChanges", () => {
  test("nothing changed, or only the allowlist, or only server-set status: nothing forbidden", () => {
    expect(forbiddenMachineChanges(base, structuredClone(base))).toEqual([]);
    expect(forbiddenMachineChanges(base, { ...base, Params: { ...base.Params, inventory: { CPUs: 64 } } })).toEqual([]);
    expect(forbiddenMachineChanges(base, { ...base, Params: { disk: "vda" } })).toEqual([]); // inventory removed
    expect(forbiddenMachineChanges(base, { ...base, Available: false, Errors: ["x"], Validated: false, ReadOnly: true })).toEqual([]);
  });

  test("a machine cannot move its own workflow position (it would skip its own tasks)", () => {
    expect(forbiddenMachineChanges(base, { ...base, CurrentTask: 3, CurrentJob: "j" })).toEqual(["CurrentJob", "CurrentTask"]);
  });

  test("every other field is named, Params one parameter at a time, sorted", () => {
    expect(forbiddenMachineChanges(base, { ...base, Profiles: ["site", "bmc"], Name: "x", Params: { disk: "sdb", extra: 1, inventory: {} } })).toEqual(["Name", "Params.disk", "Params.extra", "Profiles"]);
    const { Secret, ...noSecret } = base;
    expect(forbiddenMachineChanges(noSecret, base)).toEqual(["Secret"]);
    expect(forbiddenMachineChanges(base, noSecret)).toEqual(["Secret"]);
    expect(forbiddenMachineChanges(base, { ...base, Params: "gone" })).toEqual(["Params"]);
    expect(forbiddenMachineChanges(base, { ...base, "Profiles/-": "bmc", "Params.disk": 1 })).toEqual(["Params.disk", "Profiles/-"]);
  });
});

describe("assertMachineWrite and the guard", () => {
  test("a machine is refused with 403 naming the fields; users are not held to the allowlist", () => {
    expect(() => assertMachineWrite(admin, base, { ...base, Name: "x" })).not.toThrow();
    expect(machineWriteGuard(admin)).toBeUndefined();
    try {
      machineWriteGuard(machine)!({ ...base, BootEnv: "local", Name: "x" }, base);
      throw new Error("not refused");
    } catch (err) {
      expect(err).toBeInstanceOf(SocleError);
      expect((err as SocleError).type).toBe("Forbidden");
      expect((err as SocleError).key).toBe(UUID);
      expect((err as SocleError).messages[0]).toBe(`machine "${UUID}" may not change BootEnv, Name: a machine token writes only Params.inventory`);
    }
  });
});
