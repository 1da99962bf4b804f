// The per-MAC paths the loaders' dispatchers chain to (ipxe-dispatch.ts, grub-dispatch.ts): one
// shape, `<dir>/<mac><ext>`, where the MAC is what the loader prints (iPXE's `:hexhyp` gives
// hyphens, GRUB's `net_default_mac` colons), so both separators, and none, are accepted.

const MAC = "([0-9a-fA-F]{2}(?:[-:]?[0-9a-fA-F]{2}){5})";

/** A reader of `<dir>/<mac><ext>` paths: the MAC in lower-case colon form, or undefined for other paths. */
export function perMacMatcher(dir: string, ext: string): (path: string) => string | undefined {
  const re = new RegExp(`^${escape(dir)}/${MAC}${escape(ext)}$`);
  return (path) => {
    const m = re.exec(path);
    return m ? m[1]!.replace(/[-:]/g, "").toLowerCase().match(/../g)!.join(":") : undefined;
  };
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
