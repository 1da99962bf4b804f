// The symlink-target rule shared by the ISO reader (install trees) and the standby's replica of
// the file areas: relative, never above the root, counted against the link's own depth, and
// written normalised so that a chain of links cannot climb out.

import { describe, expect, test } from "bun:test";
import { MAX_LINK_TARGET, checkLinkTarget } from "./link-target.ts";

const ok = (linkPath: string, raw: string) => {
  const r = checkLinkTarget(linkPath, raw);
  if (!r.ok) throw new Error(`refused ${linkPath} -> ${raw}: ${r.reason}`);
  return r.target;
};
const refused = (linkPath: string, raw: string) => {
  const r = checkLinkTarget(linkPath, raw, "the files area");
  if (r.ok) throw new Error(`accepted ${linkPath} -> ${raw} as ${r.target}`);
  return r.reason;
};

describe("checkLinkTarget", () => {
  test("relative targets inside the tree pass, normalised", () => {
    expect(ok("install/kernel", "images/pxeboot/vmlinuz")).toBe("images/pxeboot/vmlinuz");
    expect(ok("a/b/l", "../../top")).toBe("../../top"); // exactly to the root's level
    expect(ok("a/l", "./x/")).toBe("x");
    expect(ok("a/l", "x/../y")).toBe("y");
    expect(ok("l", ".")).toBe(".");
    expect(ok("a/l", "s/..")).toBe("."); // by its text the link's own directory
  });

  test("absolute, climbing, NUL and overlong targets are refused with the reason", () => {
    expect(refused("a/l", "/etc/shadow")).toBe('symlink to "/etc/shadow" points outside the files area (absolute)');
    expect(refused("a/l", "")).toContain("(absolute)");
    expect(refused("l", "..")).toBe('symlink to ".." climbs out of the files area');
    expect(refused("a/b/l", "../../../etc")).toContain("climbs out");
    // Climbing hidden behind a descent still counts: "x/../../.." is "../..".
    expect(refused("a/l", "x/../../..")).toContain("climbs out");
    expect(refused("a/l", "x\0y")).toBe("symlink target holds NUL");
    expect(refused("a/l", "x".repeat(MAX_LINK_TARGET + 1))).toContain(`longer than ${MAX_LINK_TARGET}`);
    expect(ok("a/l", "x".repeat(MAX_LINK_TARGET))).toHaveLength(MAX_LINK_TARGET);
  });

  test("the tree's name defaults to a neutral one", () => {
    const r = checkLinkTarget("l", "/x");
    expect(r).toEqual({ ok: false, reason: 'symlink to "/x" points outside the tree (absolute)' });
  });
});
