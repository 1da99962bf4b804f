import { afterEach, describe, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { ModelObject } from "../model/object.ts";
import { SNAPSHOT_FILE, readSnapshot, snapshotView, writeSnapshot } from "./snapshot-file.ts";
import { refusal } from "./test-util.ts";

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), "socle-snapshot-"));
  dirs.push(d);
  return d;
}

type Got = Array<[string, string, ModelObject]>;

async function read(dir: string, chunkBytes?: number): Promise<{ seq: number | null; got: Got }> {
  const got: Got = [];
  const seq = await readSnapshot(dir, (type, key, obj) => got.push([type, key, obj]), chunkBytes === undefined ? {} : { chunkBytes });
  return { seq, got };
}

/** Objects with multi-byte text (split across chunk edges at small chunk sizes), "}]" inside strings, and one larger than a chunk. */
function sample(): Got {
  const out: Got = [];
  for (let i = 0; i < 40; i++) out.push(["leases", `10.0.0.${i}`, { Addr: `10.0.0.${i}`, Hostname: `hôte-${i}-😀`, Note: i % 7 === 0 ? 'x}],"y' : "", N: i }]);
  out.push(["machines", "m-big", { Name: "m-big", Blob: "é".repeat(5000), Nested: { List: [1, [2, { A: "}]" }]] } }]);
  out.push(["machines", 'm-"q"', { Name: 'quote"d', Tabs: "a\tb\nc\r\n" }]);
  return out;
}

async function writeSample(dir: string, seq = 42): Promise<Got> {
  const objs = sample();
  await writeSnapshot(
    dir,
    seq,
    snapshotView(objs.map(([Type, Key, Object]) => ({ Type, Key, Object }))),
  );
  return objs;
}

const sorted = (g: Got) => [...g].sort((a, b) => (a[0] + a[1] < b[0] + b[1] ? -1 : 1));
const file = (dir: string) => path.join(dir, SNAPSHOT_FILE);

describe("readSnapshot", () => {
  test("no snapshot: null, nothing handed over", async () => {
    expect(await read(tmp())).toEqual({ seq: null, got: [] });
  });

  test("end markers inside strings (a client's host name \"]]}}\" or \"]],\") only shorten batches: every object reads back", async () => {
    const dir = tmp();
    const objs: Got = [];
    for (let i = 0; i < 500; i++) objs.push(["leases", `10.1.${i >> 8}.${i & 255}`, { Addr: `10.1.${i >> 8}.${i & 255}`, Hostname: i % 3 === 0 ? "]]}}" : i % 3 === 1 ? "a]],b" : "plain", N: i }]);
    objs.push(["machines", "m1", { Name: "]]}}\n" }]);
    await writeSnapshot(dir, 7, snapshotView(objs.map(([Type, Key, Object]) => ({ Type, Key, Object }))));
    for (const chunk of [64, 333, 4096, 1 << 20]) {
      const { seq, got } = await read(dir, chunk);
      expect(seq).toBe(7);
      expect(sorted(got)).toEqual(sorted(objs));
    }
  });

  test("what writeSnapshot wrote reads back whole, however the reads split lines and characters", async () => {
    const dir = tmp();
    const objs = await writeSample(dir);
    for (const chunk of [64, 65, 97, 1000, 4096, 1 << 20]) {
      const { seq, got } = await read(dir, chunk);
      expect(seq).toBe(42);
      expect(sorted(got)).toEqual(sorted(objs));
    }
  });

  test("many objects of several types, batches of lines cut by chunk edges, strings that look like the layout", async () => {
    const dir = tmp();
    const objs: Got = [];
    for (const type of ["a", "b", "c"]) {
      for (let i = 0; i < 700; i++) objs.push([type, `${type}-${i}`, { I: i, S: i % 50 === 0 ? 'x]]}}\n"],[' : "ü".repeat(i % 9), E: [], M: {} }]);
    }
    await writeSnapshot(dir, 9, snapshotView(objs.map(([Type, Key, Object]) => ({ Type, Key, Object }))));
    const text = fs.readFileSync(file(dir), "utf8");
    for (const variant of [text, text.replace(/\n/g, "\r\n")]) {
      fs.writeFileSync(file(dir), variant);
      for (const chunk of [333, 4096, 65536]) {
        const { seq, got } = await read(dir, chunk);
        expect(seq).toBe(9);
        expect(sorted(got)).toEqual(sorted(objs));
      }
    }
  });

  test("an empty store's snapshot, with and without the final newline", async () => {
    const dir = tmp();
    await writeSnapshot(dir, 7, snapshotView([]));
    expect(fs.readFileSync(file(dir), "utf8")).toBe('{"Seq":7,"Objects":{}}\n');
    expect(await read(dir)).toEqual({ seq: 7, got: [] });
    fs.writeFileSync(file(dir), '{"Seq":8,"Objects":{}}');
    expect(await read(dir)).toEqual({ seq: 8, got: [] });
  });

  test("the last line without its newline still reads", async () => {
    const dir = tmp();
    const objs = await writeSample(dir);
    fs.writeFileSync(file(dir), fs.readFileSync(file(dir), "utf8").replace(/\n$/, ""));
    for (const chunk of [64, 1 << 20]) expect(sorted((await read(dir, chunk)).got)).toEqual(sorted(objs));
  });

  test("CRLF line ends (the writer never makes them; an editor might) read the same", async () => {
    const dir = tmp();
    const objs = await writeSample(dir);
    const text = fs.readFileSync(file(dir), "utf8");
    expect(text.includes("\r")).toBe(false);
    fs.writeFileSync(file(dir), text.replace(/\n/g, "\r\n"));
    for (const chunk of [64, 333, 1 << 20]) {
      const { seq, got } = await read(dir, chunk);
      expect(seq).toBe(42);
      expect(sorted(got)).toEqual(sorted(objs));
    }
  });

  test("a truncated last line: the objects before it are handed over as read, then the open is refused naming the file", async () => {
    const dir = tmp();
    await writeSample(dir);
    const text = fs.readFileSync(file(dir), "utf8");
    fs.writeFileSync(file(dir), text.slice(0, text.length - 30));
    for (const chunk of [64, 1 << 20]) {
      const got: Got = [];
      const e = await refusal(readSnapshot(dir, (t, k, o) => got.push([t, k, o]), { chunkBytes: chunk }));
      expect(e.message).toContain(file(dir));
      expect(e.message).toContain("not JSON");
      // Read a line at a time: everything but the torn last object arrived before the refusal.
      expect(got.length).toBe(sample().length - 1);
      expect(new Set(got.map(([t, k]) => `${t}/${k}`)).size).toBe(got.length);
    }
  });

  test("a snapshot cut after a whole line (no closing brackets) is refused", async () => {
    const dir = tmp();
    await writeSample(dir);
    const lines = fs.readFileSync(file(dir), "utf8").split("\n");
    fs.writeFileSync(file(dir), `${lines.slice(0, 5).join("\n").replace(/,$/, "")}\n`);
    expect((await refusal(read(dir))).message).toContain("not JSON");
  });

  test("the same JSON in another layout (pretty-printed, or on one line as jq -c writes it) reads the same", async () => {
    const dir = tmp();
    const objs = await writeSample(dir);
    const data = JSON.parse(fs.readFileSync(file(dir), "utf8"));
    for (const text of [JSON.stringify(data, null, 2), JSON.stringify(data), ` ${JSON.stringify(data)}\n`]) {
      fs.writeFileSync(file(dir), text);
      for (const chunk of [64, 1 << 20]) {
        const { seq, got } = await read(dir, chunk);
        expect(seq).toBe(42);
        expect(sorted(got)).toEqual(sorted(objs));
      }
    }
  });

  test("a hand-edited object spread over lines midway: every object handed over exactly once, in file order", async () => {
    const dir = tmp();
    await writeSample(dir);
    const lines = fs.readFileSync(file(dir), "utf8").split("\n");
    // Line 0 is the header, 1 the first type; line 10 is the ninth lease.
    lines[10] = (lines[10] as string).replace('{"Addr"', '{\n  "Addr"');
    fs.writeFileSync(file(dir), lines.join("\n"));
    const expected: Got = [];
    const data = JSON.parse(lines.join("\n")) as { Objects: Record<string, Array<[string, ModelObject]>> };
    for (const type in data.Objects) for (const [k, o] of data.Objects[type] ?? []) expected.push([type, k, o]);
    for (const chunk of [64, 1 << 20]) expect((await read(dir, chunk)).got).toEqual(expected);
  });

  test("malformed content is refused with the same messages as before, naming the file", async () => {
    const dir = tmp();
    const cases: Array<[string, string]> = [
      ["", "not JSON"],
      ['{"Seq":3,"Objects":{"machines":', "not JSON"],
      ['{"Seq":-1,"Objects":{}}\n', 'no valid "Seq"'],
      ['{"Seq":1.5,"Objects":{}}\n', 'no valid "Seq"'],
      ['{"Seq":1,"Objects":[]}\n', 'no "Objects" map'],
      ['{"Seq":1,"Objects":{\n"machines":{}}}\n', '"Objects.machines" is not a list of [key, object] pairs'],
      ['{"Seq":1,"Objects":{\n"machines":[\n["a",{"N":1}],\n["b",[1]]]}}\n', '"Objects.machines[1]" is not a [key, object] pair'],
      ['{"Seq":1,"Objects":{\n"machines":[\n["a",{"N":1}],\n[7,{"N":2}]]}}\n', '"Objects.machines[1]" is not a [key, object] pair'],
      ['{"Seq":1,"Objects":{\n"m":[\n["a",{}]],\n"m":[\n["b",{}]]}}\n', '"Objects" lists "m" twice'],
    ];
    for (const [text, why] of cases) {
      fs.writeFileSync(file(dir), text);
      const e = await refusal(read(dir, 64));
      expect(e.message).toContain(file(dir));
      expect(e.message).toContain(why);
    }
  });

  test("extra fields in a pair are ignored, as before", async () => {
    const dir = tmp();
    fs.writeFileSync(file(dir), '{"Seq":2,"Objects":{\n"m":[\n["a",{"N":1},"extra"],\n["b",{"N":2}]]}}\n');
    expect(await read(dir)).toEqual({ seq: 2, got: [["m", "a", { N: 1 }], ["m", "b", { N: 2 }]] });
  });

  test("what the callback throws reaches the caller unchanged", async () => {
    const dir = tmp();
    await writeSample(dir);
    const boom = new Error("boom");
    const e = await readSnapshot(dir, () => {
      throw boom;
    }).catch((x: unknown) => x);
    expect(e).toBe(boom);
  });
});
