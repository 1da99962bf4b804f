// Request filenames to FileSource paths. Windows loaders (WDS, pxeboot.n12) send backslashes,
// many firmwares send a leading "/" meaning "the TFTP root", not the filesystem root. The real-path
// jail (symlinks) is the FileSource's job; this refuses what no source should ever see.

export type PathResult = { ok: true; path: string } | { ok: false; reason: string };

export function normalisePath(raw: string): PathResult {
  const refuse = (why: string): PathResult => ({ ok: false, reason: `refuse path ${JSON.stringify(raw)}: ${why}` });
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return refuse(`control character 0x${c.toString(16).padStart(2, "0")}`);
  }
  const slashed = raw.replace(/\\/g, "/");
  if (/^[a-zA-Z]:/.test(slashed)) return refuse("drive letters are absolute");
  const parts: string[] = [];
  for (const seg of slashed.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") return refuse('".." is not allowed');
    parts.push(seg);
  }
  if (parts.length === 0) return refuse("no file named");
  return { ok: true, path: parts.join("/") };
}
