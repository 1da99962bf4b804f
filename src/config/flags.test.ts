import { expect, test } from "bun:test";
import { flagHelp, scanFlags, type FlagSpec } from "./flags.ts";

const SPECS: FlagSpec[] = [
  { name: "port", short: "p", env: "X_PORT", kind: "value", defaultText: "1", help: "a port" },
  { name: "quiet", short: "q", env: "X_QUIET", kind: "bool", defaultText: "false", help: "be quiet" },
];
const strict = { passUnknown: false, helpHint: "see x --help" };
const loose = { passUnknown: true, helpHint: "" };

test("--flag value, --flag=value, -f value, -f=value", () => {
  for (const argv of [["--port", "5"], ["--port=5"], ["-p", "5"], ["-p=5"]]) {
    const r = scanFlags(argv, {}, SPECS, strict);
    expect(r.settings.get("port")?.raw).toBe("5");
  }
  expect(scanFlags(["-p", "5"], {}, SPECS, strict).settings.get("port")?.source).toBe("-p");
  expect(scanFlags(["--port=5"], {}, SPECS, strict).settings.get("port")?.source).toBe("--port");
});

test("value may contain = and may be empty", () => {
  expect(scanFlags(["--port=a=b"], {}, SPECS, strict).settings.get("port")?.raw).toBe("a=b");
  expect(scanFlags(["--port="], {}, SPECS, strict).settings.get("port")?.raw).toBe("");
});

test("booleans: bare means true, =value is kept raw, next arg is not consumed", () => {
  const r = scanFlags(["--quiet", "pos"], {}, SPECS, strict);
  expect(r.settings.get("quiet")?.raw).toBe("true");
  expect(r.rest).toEqual(["pos"]);
  expect(scanFlags(["-q=false"], {}, SPECS, strict).settings.get("quiet")?.raw).toBe("false");
});

test("flag wins over env; env fills the rest with its name as source", () => {
  const r = scanFlags(["--port", "5"], { X_PORT: "6", X_QUIET: "yes" }, SPECS, strict);
  expect(r.settings.get("port")).toEqual({ raw: "5", source: "--port" });
  expect(r.settings.get("quiet")).toEqual({ raw: "yes", source: "X_QUIET" });
});

test("missing value names the flag", () => {
  expect(() => scanFlags(["--port"], {}, SPECS, strict)).toThrow("--port: missing value");
});

test("unknown flags: error when strict, passed through in order when loose", () => {
  expect(() => scanFlags(["--nope"], {}, SPECS, strict)).toThrow('unknown flag "--nope" (see x --help)');
  const r = scanFlags(["a", "--sort", "Name", "-p", "3", "-", "--limit=2"], {}, SPECS, loose);
  expect(r.rest).toEqual(["a", "--sort", "Name", "-", "--limit=2"]);
  expect(r.settings.get("port")?.raw).toBe("3");
});

test("-- ends flag parsing", () => {
  const r = scanFlags(["--", "--port", "5"], {}, SPECS, strict);
  expect(r.rest).toEqual(["--port", "5"]);
  expect(r.settings.has("port")).toBe(false);
});

test("help lists flag, env var and default", () => {
  const h = flagHelp(SPECS);
  expect(h).toContain("-p, --port <value>");
  expect(h).toContain("X_PORT");
  expect(h).toContain("a port (default 1)");
  expect(h).toContain("X_QUIET");
});
