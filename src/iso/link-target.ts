// The one rule for a symlink inside a tree Socle writes: an install tree exploded from an ISO
// (reader.ts checks every Rock Ridge link with it before anything is written) and a file area the
// standby replicates from the active (ha/files-sync.ts, through files/link-target.ts). It lives
// here because iso/ imports nothing: the reader can use it, and everyone above reaches it.
// Pure: no filesystem access; the caller must also never place a link under another link (a
// link's own path is then its real place, so its depth below the root is what it seems).

import { posix } from "node:path";

export type LinkTargetResult = { ok: true; target: string } | { ok: false; reason: string };

/** Longest symlink target accepted (PATH_MAX less the NUL). */
export const MAX_LINK_TARGET = 4095;

/**
 * May a symlink at `linkPath` (relative to the root of its tree, "/"-separated: "a/b/l" is two
 * directories below the root) point at `raw`? It must be relative and never climb above the root.
 * The target to write is returned normalised ("a/../b" -> "b"): every ".." is then at its start
 * and counted against the link's depth, and the rest only goes down, so that no chain of links,
 * each inside, leads out (a target through another link, "s/..", would otherwise climb from
 * wherever that link leads). `tree` names the root in the reasons ("the image's tree").
 */
export function checkLinkTarget(linkPath: string, raw: string, tree = "the tree"): LinkTargetResult {
  if (raw === "" || raw.startsWith("/")) return { ok: false, reason: `symlink to ${JSON.stringify(raw)} points outside ${tree} (absolute)` };
  if (raw.includes("\0")) return { ok: false, reason: "symlink target holds NUL" };
  if (raw.length > MAX_LINK_TARGET) return { ok: false, reason: `symlink target longer than ${MAX_LINK_TARGET} bytes` };
  const target = posix.normalize(raw).replace(/\/+$/, "") || ".";
  let ups = 0;
  for (const seg of target.split("/")) if (seg === "..") ups++;
  if (ups > linkPath.split("/").length - 1) return { ok: false, reason: `symlink to ${JSON.stringify(raw)} climbs out of ${tree}` };
  return { ok: true, target };
}
