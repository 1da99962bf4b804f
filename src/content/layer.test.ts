import { describe, expect, test } from "bun:test";
import { buildContentLayer, ContentError } from "./layer.ts";
import { SHIPPED_FILES } from "./shipped.ts";

const fails = (files: Record<string, string>): ContentError => {
  try {
    buildContentLayer(files);
  } catch (e) {
    expect(e).toBeInstanceOf(ContentError);
    return e as ContentError;
  }
  throw new Error("expected a ContentError");
};

describe("buildContentLayer", () => {
  test("the shipped content is valid and read-only, with the built-in superuser role", () => {
    const layer = buildContentLayer(SHIPPED_FILES);
    const local = layer.objects.get("bootenvs")?.get("local");
    expect(local?.ReadOnly).toBe(true);
    expect(layer.objects.get("bootenvs")?.has("ignore")).toBe(true);
    expect(layer.objects.get("templates")?.get("local-ipxe.tmpl")?.Contents).toContain("#!ipxe");
    expect(layer.objects.get("roles")?.get("superuser")?.ReadOnly).toBe(true);
  });

  test("every template a shipped bootenv names by ID is shipped too", () => {
    const layer = buildContentLayer(SHIPPED_FILES);
    const templates = layer.objects.get("templates")!;
    for (const env of layer.objects.get("bootenvs")!.values()) {
      for (const t of env.Templates as { ID?: string }[]) if (t.ID) expect(templates.has(t.ID)).toBe(true);
    }
  });

  test("builds params and profiles, defaulting Name from the file", () => {
    const layer = buildContentLayer({
      "x/bootenv.yaml": "Description: x\n",
      "x/params/console.yaml": "Schema:\n  type: string\n  default: ttyS0\n",
      "x/profiles/rack.json": '{"Params":{"console":"ttyS1"}}',
    });
    expect(layer.objects.get("bootenvs")?.get("x")?.Name).toBe("x");
    expect(layer.objects.get("params")?.get("console")?.ReadOnly).toBe(true);
    expect(layer.objects.get("profiles")?.get("rack")?.Params).toEqual({ console: "ttyS1" });
  });

  test("errors name the file: syntax, schema, misplaced Name, stray file, duplicates", () => {
    expect(fails({ "x/bootenv.yaml": "Name: [x\n" }).message).toContain("x/bootenv.yaml");
    expect(fails({ "x/bootenv.yaml": "Name: x\nColour: red\n" }).message).toContain("Colour");
    expect(fails({ "x/bootenv.yaml": "Name: y\n" }).message).toContain('"x"');
    expect(fails({ "x/notes.txt": "hello" }).message).toContain("x/notes.txt");
    expect(fails({ "a/templates/t.tmpl": "1", "b/templates/t.tmpl": "2" }).message).toContain("defined twice");
  });
});
