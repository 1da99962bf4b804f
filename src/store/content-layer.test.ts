import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SocleError } from "../model/errors.ts";
import { loadContentLayer } from "./content-layer.ts";

const dirs: string[] = [];
function tree(files: Record<string, string>): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "socle-content-"));
  dirs.push(d);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(d, name)), { recursive: true });
    fs.writeFileSync(path.join(d, name), text);
  }
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

async function failure(dir: string): Promise<SocleError> {
  const e = await loadContentLayer(dir).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(SocleError);
  return e as SocleError;
}

describe("loadContentLayer", () => {
  test("builds bootenvs, templates, params and profiles from the tree", async () => {
    const dir = tree({
      "local/bootenv.yaml": "Name: local\nOS:\n  Name: local\n",
      "local/templates/local-ipxe.tmpl": "#!ipxe\nexit\n",
      "local/README.md": "ignored",
      "fedora/bootenv.json": '{"OS": {"Name": "fedora-40"}}',
      "fedora/templates/fedora.ks.tmpl": "text\n<%= it.param('x') %>\n",
      "fedora/templates/notes.txt": "ignored",
      "fedora/params/fedora-mirror.yaml": "Schema:\n  type: string\n  default: https://mirror\n",
      "fedora/profiles/fedora-base.json": '{"Name": "fedora-base", "Params": {"a": 1}}',
      ".hidden/bootenv.yaml": "Name: hidden\n",
      "toplevel.txt": "ignored",
    });
    const layer = await loadContentLayer(dir);
    expect([...layer.objects.keys()].sort()).toEqual(["bootenvs", "params", "profiles", "templates"]);
    expect([...(layer.objects.get("bootenvs")?.keys() ?? [])]).toEqual(["fedora", "local"]);
    expect(layer.objects.get("bootenvs")?.get("fedora")).toEqual({ OS: { Name: "fedora-40" }, Name: "fedora" });
    expect(layer.objects.get("templates")?.get("local-ipxe.tmpl")).toEqual({ ID: "local-ipxe.tmpl", Contents: "#!ipxe\nexit\n" });
    expect(layer.objects.get("templates")?.size).toBe(2);
    expect(layer.objects.get("params")?.get("fedora-mirror")).toEqual({
      Name: "fedora-mirror",
      Schema: { type: "string", default: "https://mirror" },
    });
    expect(layer.objects.get("profiles")?.get("fedora-base")?.Params).toEqual({ a: 1 });
  });

  test("loads the shipped bootenvs/ folder of this repository", async () => {
    const layer = await loadContentLayer(path.join(import.meta.dir, "../../bootenvs"));
    expect(layer.objects.get("bootenvs")?.has("local")).toBe(true);
  });

  test("a YAML syntax error names the file and line", async () => {
    const dir = tree({ "x/bootenv.yaml": "Name: x\nOS:\n  Name: [a,\nKernel: k\n" });
    const e = await failure(dir);
    expect(e.message).toContain(path.join(dir, "x/bootenv.yaml"));
    expect(e.message).toMatch(/invalid YAML at line \d+/);
  });

  test("a JSON syntax error names the file and line", async () => {
    const dir = tree({ "x/params/p.json": '{\n  "Name": "p",\n  "Schema": }\n' });
    const e = await failure(dir);
    expect(e.message).toContain(path.join(dir, "x/params/p.json"));
    expect(e.message).toContain("invalid JSON at line 3, column 13");
  });

  test("a duplicate key names both files; a Name that disagrees with its place is refused", async () => {
    const dup = tree({ "a/templates/t.tmpl": "1", "b/templates/t.tmpl": "2" });
    const e = await failure(dup);
    expect(e.message).toContain(path.join(dup, "b/templates/t.tmpl"));
    expect(e.message).toContain(path.join(dup, "a/templates/t.tmpl"));
    const wrong = tree({ "a/bootenv.yaml": "Name: b\n" });
    expect((await failure(wrong)).message).toContain('Name "b" does not match the folder name "a"');
    const list = tree({ "a/profiles/p.yaml": "- 1\n- 2\n" });
    expect((await failure(list)).message).toContain("want a mapping (object) at the top level, got a list");
  });

  test("a missing directory is an error naming it", async () => {
    const e = await failure("/nonexistent/socle-content");
    expect(e.message).toContain('"/nonexistent/socle-content"');
  });
});
