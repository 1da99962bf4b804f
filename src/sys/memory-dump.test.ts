import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { installMemoryDump, MEMORY_DIR_ENV, MEMORY_SNAPSHOT_ENV, parseSmapsRollup, type MemoryReport } from "./memory-dump.ts";

const dirs: string[] = [];
const scratch = () => {
  const d = mkdtempSync(join(tmpdir(), "socle-memdump-"));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Send SIGUSR2 to this process and wait for the handler's outcome. */
async function dumpOnSignal(env: Record<string, string>): Promise<string[]> {
  let outcome: { files: string[] } | { error: Error } | undefined;
  const remove = installMemoryDump(env, (r) => (outcome = r));
  expect(remove).toBeFunction();
  try {
    process.kill(process.pid, "SIGUSR2");
    for (let i = 0; i < 200 && !outcome; i++) await Bun.sleep(10);
  } finally {
    remove!();
  }
  if (!outcome) throw new Error("no dump within 2 s of SIGUSR2");
  if ("error" in outcome) throw outcome.error;
  return outcome.files;
}

test("without SOCLE_DEBUG_MEMORY_DIR nothing is installed", () => {
  expect(installMemoryDump({}, () => {})).toBeUndefined();
  expect(installMemoryDump({ [MEMORY_DIR_ENV]: "" }, () => {})).toBeUndefined();
});

test("SIGUSR2 writes the report and smaps_rollup, no snapshot unless asked", async () => {
  const dir = join(scratch(), "nested");
  const files = await dumpOnSignal({ [MEMORY_DIR_ENV]: dir });
  expect(readdirSync(dir).sort()).toEqual(files.map((f) => f.slice(dir.length + 1)).sort());
  expect(files.map((f) => f.split(".").pop())).toEqual(["json", "smaps_rollup"]);
  expect(files[0]).toMatch(new RegExp(`/memory-\\d{4}-\\d\\d-\\d\\dT[\\d-]+Z-${process.pid}\\.json$`));
  const report = JSON.parse(readFileSync(files[0]!, "utf8")) as MemoryReport;
  expect(report.pid).toBe(process.pid);
  expect(report.heap.heapSize).toBeGreaterThan(0);
  expect(report.heap.heapCapacity).toBeGreaterThanOrEqual(report.heap.heapSize);
  expect(report.heap.objectTypeCounts.Object).toBeGreaterThan(0);
  expect(report.process.current).toBeGreaterThan(0);
  expect(report.process.currentCommit).toBeGreaterThan(0);
  if (process.platform === "linux") {
    expect(report.smapsKb.Rss).toBeGreaterThan(0);
    expect(report.smapsKb.Anonymous).toBeGreaterThan(0);
    expect(parseSmapsRollup(readFileSync(files[1]!, "utf8"))).toEqual(report.smapsKb);
  }
  expect(statSync(files[0]!).mode & 0o777).toBe(0o600);
});

test("with SOCLE_DEBUG_MEMORY_SNAPSHOT=1 a v8 heap snapshot is written too", async () => {
  const dir = scratch();
  const files = await dumpOnSignal({ [MEMORY_DIR_ENV]: dir, [MEMORY_SNAPSHOT_ENV]: "1" });
  expect(files).toHaveLength(3);
  const snap = JSON.parse(readFileSync(files[2]!, "utf8")) as { snapshot?: { meta?: { node_fields?: unknown } }; nodes?: unknown[] };
  expect(files[2]).toEndWith(".heapsnapshot");
  expect(snap.snapshot?.meta?.node_fields).toBeArray();
  expect(snap.nodes?.length).toBeGreaterThan(0);
});

test("a directory that cannot be created is reported, not thrown", async () => {
  const file = join(scratch(), "a-file");
  await Bun.write(file, "x");
  await expect(dumpOnSignal({ [MEMORY_DIR_ENV]: join(file, "sub") })).rejects.toThrow(/ENOTDIR|not a directory/i);
});

test("parseSmapsRollup reads the kB lines and ignores the header", () => {
  const text = "55d0c0000000-7ffd00000000 ---p 00000000 00:00 0                          [rollup]\nRss:               77000 kB\nAnonymous:         41000 kB\n";
  expect(parseSmapsRollup(text)).toEqual({ Rss: 77000, Anonymous: 41000 });
});
