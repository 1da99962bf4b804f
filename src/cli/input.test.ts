import { expect, test } from "bun:test";
import { CliError } from "./cli-error.ts";
import { readObjectArg, readPatchArg, type InputSources } from "./input.ts";

const files: Record<string, string> = { "m.yaml": "Name: n1\nArch: amd64\n", "m.json": '{"Name":"n2"}', "p.json": '[{"op":"remove","path":"/X"}]' };
const src = (stdin = ""): InputSources => ({
  readStdin: async () => stdin,
  fileExists: (p) => p in files,
  readFile: (p) => {
    const f = files[p];
    if (f === undefined) throw Object.assign(new Error("nope"), { code: "ENOENT" });
    return f;
  },
});

test("inline JSON and YAML", async () => {
  expect(await readObjectArg('{"Name":"a"}', src())).toEqual({ Name: "a" });
  expect(await readObjectArg("Name: b", src())).toEqual({ Name: "b" });
  await expect(readObjectArg("{Name: c}", src())).rejects.toThrow("cannot parse argument as JSON");
});

test("files by path or @path, and stdin", async () => {
  expect(await readObjectArg("m.yaml", src())).toEqual({ Name: "n1", Arch: "amd64" });
  expect(await readObjectArg("@m.json", src())).toEqual({ Name: "n2" });
  expect(await readObjectArg("-", src("Name: s"))).toEqual({ Name: "s" });
  expect(await readPatchArg("p.json", src())).toEqual([{ op: "remove", path: "/X" }]);
});

test("errors say what was wrong with which input", async () => {
  await expect(readObjectArg("@missing.yaml", src())).rejects.toThrow('cannot read file "missing.yaml": no such file');
  await expect(readObjectArg("missing.yaml", src())).rejects.toThrow('argument "missing.yaml" is not an object (and no such file)');
  await expect(readObjectArg('{"Name": }', src())).rejects.toThrow("cannot parse argument as JSON");
  await expect(readObjectArg("a: b: c", src())).rejects.toThrow("cannot parse argument as YAML");
  await expect(readObjectArg("-", src("  "))).rejects.toThrow("cannot parse standard input: it is empty");
  await expect(readObjectArg("[1]", src())).rejects.toThrow('argument "[1]" is not an object');
  await expect(readPatchArg("m.json", src())).rejects.toThrow('file "m.json" is not a JSON Patch');
  await expect(readObjectArg("@m.yaml", src())).resolves.toBeDefined();
  const err = await readObjectArg("[1]", src()).catch((e) => e);
  expect(err).toBeInstanceOf(CliError);
});
