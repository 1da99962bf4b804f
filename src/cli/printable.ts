// Text from the network made safe for a terminal. Timeline summaries and event keys carry what
// clients on the provisioning network sent (DHCP vendor and user classes, host names, file names):
// an ESC or CSI in them would move the cursor, retitle the window or rewrite earlier lines of an
// operator's screen. Control characters (C0, DEL, C1) become \xNN; line breaks become \n so one
// record stays one line. JSON output escapes C0 by itself and goes to tools, not through here.

export function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return " ";
    const n = c.charCodeAt(0);
    return n > 0xff ? `\\u${n.toString(16).padStart(4, "0")}` : `\\x${n.toString(16).padStart(2, "0")}`;
  });
}

/** printable() cut to `max` characters with an ellipsis. */
export function printableCut(s: string, max: number): string {
  const p = printable(s);
  return p.length > max ? p.slice(0, max - 1) + "…" : p;
}
