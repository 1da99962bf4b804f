import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SocleError } from "../model/errors.ts";
import { JobLogs } from "./job-logs.ts";

const JOB = "8e0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);
const MAX = 1 << 20;

let dir = "";
let logs: JobLogs;
let n = 0;
/** A job Uuid of its own for each test. */
const fresh = () => `8e0c1a2b-3c4d-4e5f-8a9b-${String(++n).padStart(12, "0")}`;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "socle-job-logs-"));
  logs = new JobLogs(dir);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("JobLogs", () => {
  test("a file per job under its first two characters, mode 0600; no path out of the directory", async () => {
    expect(logs.pathOf(JOB)).toBe(join(dir, "8e", `${JOB}.log`));
    expect(logs.pathOf(JOB.toUpperCase())).toBe(join(dir, "8e", `${JOB}.log`));
    await logs.append(JOB, 0, enc("x\n"), MAX);
    expect((await stat(logs.pathOf(JOB))).mode & 0o777).toBe(0o600);
    for (const bad of ["../../etc/passwd", "8e/../x", ""]) {
      expect(() => logs.pathOf(bad)).toThrow(SocleError);
    }
  });

  test("offsets: only bytes beyond those held are appended; a gap is refused with the length held", async () => {
    const id = fresh();
    expect(await logs.append(id, 0, enc("one\n"), MAX)).toEqual({ kind: "ok", length: 4 });
    expect(await logs.append(id, 0, enc("one\ntwo\n"), MAX)).toEqual({ kind: "ok", length: 8 });
    expect(await logs.append(id, 4, enc("two\n"), MAX)).toEqual({ kind: "ok", length: 8 });
    expect(await logs.append(id, 9, enc("lost\n"), MAX)).toEqual({ kind: "gap", length: 8 });
    expect(await logs.append(id, undefined, enc("end\n"), MAX)).toEqual({ kind: "ok", length: 12 });
    expect(dec(await logs.read(id))).toBe("one\ntwo\nend\n");
    expect(await logs.length(id)).toBe(12);
  });

  test("a chunk cut short by a crash is completed by the agent's resend, nothing doubled", async () => {
    const id = fresh();
    await logs.append(id, 0, enc("acked\n"), MAX);
    // The server died while writing "partial line\n": a prefix of it is on disk.
    await writeFile(logs.pathOf(id), "partial l", { flag: "a" });
    expect(await logs.append(id, 6, enc("partial line\nmore\n"), MAX)).toEqual({ kind: "ok", length: 24 });
    expect(dec(await logs.read(id))).toBe("acked\npartial line\nmore\n");
  });

  test("a server note between the agent's acknowledged bytes and its resend swallows none of the agent's output", async () => {
    const id = fresh();
    await logs.append(id, 0, enc("acked\n"), MAX);
    await logs.append(id, 6, enc("sent, answer lost\n"), MAX); // the agent never saw this acknowledged
    await logs.note(id, "server restarted while the job was running");
    // The agent resends from its acknowledged offset, with what it printed since.
    await logs.append(id, 6, enc("sent, answer lost\nafter the restart\n"), MAX);
    expect(dec(await logs.read(id))).toBe("acked\nsent, answer lost\n[socle] server restarted while the job was running\nafter the restart\n");
  });

  test("the limit: what fits, one line, then full", async () => {
    const id = fresh();
    expect((await logs.append(id, 0, enc("a".repeat(1000)), 1024)).kind).toBe("ok");
    const over = await logs.append(id, 1000, enc("b".repeat(100)), 1024);
    expect(over.kind).toBe("full");
    const text = dec(await logs.read(id));
    expect(text).toStartWith(`${"a".repeat(1000)}${"b".repeat(24)}\n[socle] log truncated: the job log limit of 1024 bytes`);
    expect(over.length).toBe(text.length);
    expect(await logs.append(id, over.length, enc("c"), 1024)).toEqual({ kind: "full", length: over.length });
    expect(await logs.append(id, 0, enc("a"), 1024)).toEqual({ kind: "full", length: over.length });
  });

  test("appends to one log never interleave", async () => {
    const id = fresh();
    const lines = Array.from({ length: 40 }, (_, i) => `line ${i}\n`);
    let offset = 0;
    const offsets = lines.map((l) => ((offset += l.length), offset - l.length));
    await Promise.all(lines.map((l, i) => logs.append(id, offsets[i], enc(l), MAX)));
    // Out-of-order arrivals are gaps; the ones in order land whole.
    const text = dec(await logs.read(id));
    expect(lines.join("").startsWith(text)).toBe(true);
    expect(text.length).toBeGreaterThan(0);
  });

  test("a note goes at the end on a line of its own; remove takes the file", async () => {
    const id = fresh();
    expect(await logs.note(id, "first")).toBe("[socle] first\n".length);
    await logs.append(id, undefined, enc("no newline"), MAX);
    await logs.note(id, "second\n");
    expect(dec(await logs.read(id))).toBe("[socle] first\nno newline\n[socle] second\n");
    await logs.remove(id);
    expect(existsSync(logs.pathOf(id))).toBe(false);
    expect(await logs.read(id)).toEqual(new Uint8Array(0));
    await logs.remove(id); // nothing to remove: fine
    expect(await readFile(logs.pathOf(JOB), "utf8")).toBe("x\n");
  });
});
