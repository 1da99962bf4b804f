// The symlink-target rule for the trees under the file areas (install trees, operator files, what
// the standby replicates). The rule itself is iso/link-target.ts, where the ISO reader, which may
// import nothing, applies it to every Rock Ridge link; the rooms that may not import iso/ take it
// from here, so one rule decides for an explode and for a replica alike.

export { MAX_LINK_TARGET, checkLinkTarget, type LinkTargetResult } from "../iso/link-target.ts";
