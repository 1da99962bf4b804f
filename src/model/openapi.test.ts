import { describe, expect, test } from "bun:test";
import { openApiDocument, SCHEMA_NAMES } from "./openapi.ts";
import { MODELS } from "./registry.ts";

type Doc = {
  openapi: string;
  info: { version: string };
  paths: Record<string, Record<string, { responses?: Record<string, unknown> }>>;
  components: { schemas: Record<string, { properties?: Record<string, { writeOnly?: boolean }>; required?: string[]; additionalProperties?: unknown }>; securitySchemes: Record<string, { scheme: string }> };
};

describe("openApiDocument", () => {
  const doc = openApiDocument({ version: "1.2.3" }) as Doc;

  test("is JSON and OpenAPI 3.1 with both security schemes", () => {
    const round = JSON.parse(JSON.stringify(doc)) as Doc;
    expect(round).toEqual(doc);
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.version).toBe("1.2.3");
    expect(doc.components.securitySchemes.basic?.scheme).toBe("basic");
    expect(doc.components.securitySchemes.bearer?.scheme).toBe("bearer");
  });

  test("paths for every type; writes only for writable types", () => {
    for (const def of Object.values(MODELS)) {
      const list = doc.paths[`/${def.prefix}`];
      const item = doc.paths[`/${def.prefix}/{key}`];
      expect(list?.get).toBeDefined();
      expect(list?.head).toBeDefined();
      expect(item?.get).toBeDefined();
      // A job is never replaced (PATCH of State and ExitState only; the scheduler owns POST).
      for (const m of ["put", "patch", "delete"]) expect(`${def.prefix} ${m} ${item?.[m] !== undefined}`).toBe(`${def.prefix} ${m} ${def.writable && !(def.prefix === "jobs" && m === "put")}`);
      expect(list?.post !== undefined).toBe(def.writable);
    }
    expect((doc.paths["/jobs"]?.post as { operationId?: string } | undefined)?.operationId).toBe("nextJob");
    for (const p of ["/jobs/{key}/actions", "/jobs/{key}/actions/{index}", "/jobs/{key}/log"]) expect(doc.paths[p]).toBeDefined();
    for (const p of ["/machines/{key}/params", "/profiles/{key}/params", "/prefs", "/info", "/users/{key}/token", "/render", "/events"]) {
      expect(doc.paths[p]).toBeDefined();
    }
  });

  test("schemas come from the zod schemas, secrets are write-only, Error is DRP's", () => {
    for (const def of Object.values(MODELS)) {
      const s = doc.components.schemas[SCHEMA_NAMES[def.prefix]!];
      expect(s?.additionalProperties).toBe(false);
      expect(Object.keys(s?.properties ?? {})).toEqual(Object.keys((def.schema as unknown as { shape: object }).shape));
    }
    expect(doc.components.schemas.Machine?.properties?.Secret?.writeOnly).toBe(true);
    expect(doc.components.schemas.Machine?.required).toEqual(["Name"]);
    expect(doc.components.schemas.User?.properties?.PasswordHash?.writeOnly).toBe(true);
    expect(doc.components.schemas.Error?.required).toEqual(["Model", "Key", "Type", "Messages", "Code"]);
  });

  test("every $ref resolves", () => {
    const refs = JSON.stringify(doc).match(/"\$ref":"#\/components\/schemas\/[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(20);
    for (const r of refs) {
      const name = r.split("/").pop()!.replace(/"$/, "");
      expect(doc.components.schemas[name]).toBeDefined();
    }
  });

  test("list operations document filters for each index", () => {
    const params = (doc.paths["/machines"]?.get as unknown as { parameters: { name: string }[] }).parameters.map((p) => p.name);
    for (const f of ["sort", "reverse", "limit", "offset", "Name", "Address", "HardwareAddrs"]) expect(params).toContain(f);
  });
});
