// DHCP option values that carry request fields: `node-{{macHex}}`, `{{options.60}}.example`,
// `{{hostname|macHex}}`. A value is text with placeholders; a placeholder names request fields,
// tried left to right, the first with a value winning, and may end in a quoted literal
// (`{{options.17|""}}`). That is the whole language: no expressions, no calls, no loops, so a
// user who may write subnets or reservations runs no code in the server (option values used to
// be Eta templates, i.e. JavaScript run by the DHCP handler).
//
// The parser is pure and used twice: at write time (the subnet and reservation schemas refuse an
// unknown field or a malformed placeholder with 422, quoting the value) and by the DHCP handler,
// which expands the parsed parts for each request (src/dhcp/option-templates.ts).
//
// `{{` always opens a placeholder; a literal `{{` is written `{{"{{"}}`. Eta's `<%` is refused
// outright, with the `{{...}}` spelling of its simple forms as a hint: a stored value written in
// the old syntax must not go out on the wire as the literal text of its code.

/** The request fields a placeholder may name (what the DHCP handler knows about the request). */
export const OPTION_FIELDS = {
  mac: "the client's hardware address, 52:54:00:12:34:56",
  macHex: "the hardware address as 12 hex digits, 525400123456 (host names cannot carry colons)",
  hostname: "the host name the client sent (option 12)",
  address: "the address being handed out (empty for DHCPINFORM and proxyDHCP replies)",
  ciaddr: "the client's own address field (0.0.0.0 when it has none)",
  giaddr: "the relay's address (0.0.0.0 when not relayed)",
  serverAddress: "the address of ours the request arrived on",
  subnet: "the Name of the subnet answering",
  arch: "the client system architecture (option 93), decimal: 0 BIOS, 7 and 9 UEFI x64, 11 arm64",
  userClass: "the user class (option 77), e.g. iPXE",
  vendorClass: "the vendor class (option 60), e.g. PXEClient:Arch:00007:UNDI:003016",
  uuid: "the client machine UUID (option 97)",
} as const;

export type OptionField = keyof typeof OPTION_FIELDS;

/** One alternative of a placeholder. */
export type OptionRef = { field: OptionField } | { option: number } | { text: string };

/** Literal text, or a placeholder: its alternatives in order. */
export type OptionPart = string | readonly OptionRef[];

export type ParsedOptionValue = { ok: true; parts: OptionPart[] } | { ok: false; error: string };

const FIELD_NAMES = Object.keys(OPTION_FIELDS) as OptionField[];
const KNOWN = `${FIELD_NAMES.join(", ")}, options.<code>`;

/** A field name as written, dotted parts included (so `process.pid` is named whole when refused). */
const NAME = /[A-Za-z_$][\w$]*(?:\.[\w$]+)*/y;

const quoted = (v: string): string => {
  const s = JSON.stringify(v);
  return s.length > 120 ? `${s.slice(0, 117)}..."` : s;
};

/** Whether a value needs the request at all (plain values are sent as written). */
export function hasPlaceholders(value: string): boolean {
  return value.includes("{{");
}

/** Whether a value is written in Eta, the old (code-running) syntax. */
export function isEtaSyntax(value: string): boolean {
  return value.includes("<%");
}

/**
 * Parse an option value. The error names the value, and the unknown field or what is malformed
 * with its column (1-based): `"{{pid}}" names unknown field "pid" (column 3); known: mac, ...`.
 */
export function parseOptionValue(value: string): ParsedOptionValue {
  if (isEtaSyntax(value)) {
    const hint = suggestPlaceholders(value);
    return {
      ok: false,
      error:
        `${quoted(value)} is template code (Eta "<%"), which option values do not run; ` +
        `write request fields as {{field}}${hint !== undefined ? `: ${quoted(hint)}` : ` (known: ${KNOWN})`}`,
    };
  }
  const parts: OptionPart[] = [];
  let text = "";
  let i = 0;
  const fail = (what: string, at: number): ParsedOptionValue => ({ ok: false, error: `${quoted(value)} ${what} (column ${at + 1})` });
  while (i < value.length) {
    const open = value.indexOf("{{", i);
    if (open < 0) {
      text += value.slice(i);
      break;
    }
    text += value.slice(i, open);
    if (text !== "") parts.push(text);
    text = "";
    const refs: OptionRef[] = [];
    let p = open + 2;
    for (;;) {
      while (value[p] === " ") p++;
      if (p >= value.length) return fail(`has "{{" without its closing "}}"`, open);
      if (value[p] === '"') {
        const end = value.indexOf('"', p + 1);
        if (end < 0) return fail("has a quoted text without its closing quote", p);
        refs.push({ text: value.slice(p + 1, end) });
        p = end + 1;
      } else {
        NAME.lastIndex = p;
        const m = NAME.exec(value);
        if (!m) return fail(`has ${quoted(value.slice(p, p + 1))} where a field name or a quoted text belongs`, p);
        const name = m[0];
        const opt = /^options\.([0-9]+)$/.exec(name);
        if (opt) {
          const code = Number(opt[1]);
          if (!(code >= 1 && code <= 254)) return fail(`names request option ${opt[1]}; option codes are 1 to 254`, p);
          refs.push({ option: code });
        } else if (Object.hasOwn(OPTION_FIELDS, name)) {
          refs.push({ field: name as OptionField });
        } else {
          return fail(`names unknown field ${quoted(name)}; known: ${KNOWN}`, p);
        }
        p += name.length;
      }
      while (value[p] === " ") p++;
      if (value.startsWith("}}", p)) {
        p += 2;
        break;
      }
      if (value[p] === "|") {
        p++;
        continue;
      }
      if (p >= value.length) return fail(`has "{{" without its closing "}}"`, open);
      return fail(`has ${quoted(value.slice(p, p + 1))} inside a placeholder; alternatives are separated by "|"`, p);
    }
    parts.push(refs);
    i = p;
  }
  if (text !== "") parts.push(text);
  return { ok: true, parts };
}

/**
 * The `{{...}}` spelling of a value written in Eta's simple forms (`<%= it.mac %>`,
 * `<%= it.options[12] %>`), or undefined when it holds anything else. Used for hints only:
 * stored Eta values are refused, never translated behind the operator's back.
 */
export function suggestPlaceholders(value: string): string | undefined {
  let ok = true;
  const out = value.replace(/<%[=~]?\s*it\.(?:options\[\s*([0-9]+)\s*\]|([A-Za-z][A-Za-z0-9]*))\s*%>/g, (_m, code: string | undefined, name: string | undefined) => {
    if (code !== undefined) return `{{options.${code}}}`;
    if (name !== undefined && Object.hasOwn(OPTION_FIELDS, name)) return `{{${name}}}`;
    ok = false;
    return "";
  });
  return ok && !isEtaSyntax(out) ? out : undefined;
}
