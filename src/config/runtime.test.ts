import { expect, test } from "bun:test";
import { defaultDataDir, isCompiledBinary } from "./runtime.ts";

test("compiled detection looks at Bun's embedded file system prefix", () => {
  expect(isCompiledBinary("/$bunfs/root/socle-linux-amd64")).toBe(true);
  expect(isCompiledBinary("/work/main/src/main.ts")).toBe(false);
  // Running these tests from source: not compiled.
  expect(isCompiledBinary()).toBe(false);
});

test("default data dir", () => {
  expect(defaultDataDir(true)).toBe("/var/lib/socle");
  expect(defaultDataDir(false)).toBe("./socle-data");
});
