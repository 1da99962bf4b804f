// One writer per data directory, across processes: a second opener is refused with the holder's
// PID while it lives, and gets in once the holder is killed (the kernel drops the flock).

import { afterEach, expect, test } from "bun:test";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { SocleError } from "../src/model/errors.ts";
import { openFileStore } from "../src/store/file-store.ts";

const WRITER = path.join(import.meta.dir, "fixtures/store-writer.ts");
let dir = "";
afterEach(() => {
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test("a second process is refused while the first holds the data dir, and let in after kill -9", async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "socle-lock-"));
  const child = Bun.spawn([process.execPath, WRITER, dir, "0", "--hold"], { stdout: "pipe", stderr: "pipe" });
  try {
    const reader = child.stdout.getReader();
    const { value } = await reader.read();
    const line = new TextDecoder().decode(value);
    expect(line).toStartWith(`ready ${child.pid} `);
    const e = await openFileStore({ dir }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(SocleError);
    expect((e as SocleError).message).toContain(`"${dir}"`);
    expect((e as SocleError).message).toContain(`PID ${child.pid}`);
  } finally {
    child.kill("SIGKILL");
    await child.exited;
  }
  const store = await openFileStore({ dir });
  expect(store.seq).toBe(0);
  await store.close();
}, 20_000);
