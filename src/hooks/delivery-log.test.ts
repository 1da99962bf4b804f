import { afterAll, expect, test } from "bun:test";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DeliveryLog, type DeliveryEntry } from "./delivery-log.ts";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const entry = (n: number): DeliveryEntry => ({ Id: `h-${n}`, Event: "machines.create", Attempt: 1, Time: new Date(0).toISOString(), Status: 200, Ms: 1, State: "delivered" });

test("newest first, mode 0600, capped at the newest `keep` with a bounded file", async () => {
  const dir = await mkdtemp(join(tmpdir(), "socle-dlog-"));
  dirs.push(dir);
  const log = new DeliveryLog(DeliveryLog.pathOf(dir, "h"), 10);
  for (let i = 1; i <= 45; i++) await log.append(entry(i));
  expect((await stat(log.path)).mode & 0o777).toBe(0o600);
  const lines = (await readFile(log.path, "utf8")).trim().split("\n");
  expect(lines.length).toBeGreaterThanOrEqual(10);
  expect(lines.length).toBeLessThan(20);
  const newest = await log.newest(100);
  expect(newest.length).toBe(10);
  expect(newest.map((e) => e.Id)).toEqual([45, 44, 43, 42, 41, 40, 39, 38, 37, 36].map((n) => `h-${n}`));
  expect((await log.newest(3)).map((e) => e.Id)).toEqual(["h-45", "h-44", "h-43"]);
  // A new instance (a restart) counts what is there and keeps capping.
  const again = new DeliveryLog(log.path, 10);
  for (let i = 46; i <= 60; i++) await again.append(entry(i));
  expect((await readFile(log.path, "utf8")).trim().split("\n").length).toBeLessThan(20);
  expect((await again.newest(1))[0]!.Id).toBe("h-60");
  await again.remove();
  expect(await again.newest(5)).toEqual([]);
});

test("concurrent appends keep call order; a torn last line is skipped", async () => {
  const dir = await mkdtemp(join(tmpdir(), "socle-dlog-"));
  dirs.push(dir);
  const log = new DeliveryLog(DeliveryLog.pathOf(dir, "c"), 100);
  await Promise.all([1, 2, 3, 4, 5].map((n) => log.append(entry(n))));
  expect((await log.newest(10)).map((e) => e.Id)).toEqual(["h-5", "h-4", "h-3", "h-2", "h-1"]);
  await Bun.write(log.path, (await readFile(log.path, "utf8")) + '{"Id":"h-6","Ev');
  expect((await new DeliveryLog(log.path, 100).newest(10)).length).toBe(5);
});
