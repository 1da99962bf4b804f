// Option values with request fields, e.g. a host name option 12 of `node-{{macHex}}` or
// `{{hostname|macHex}}`, a domain of `{{options.60}}.example`: the placeholder language of
// src/model/schemas/option-value.ts, which names fields and nothing else. No value runs code:
// option values are written by whoever may write subnets and reservations, and until this
// language they were Eta templates, i.e. JavaScript run by the DHCP handler as the server.
//
// Each distinct value is parsed once and cached (plain values skip the parser entirely); the
// encoded bytes of plain values are cached too, since the same subnet options go out in every
// reply. A placeholder whose fields all lack a value and that names a request option the request
// does not carry is an error naming the option (never an empty or "undefined" option on the wire);
// that, a value that does not parse, and an encoding error each cost one log line (rate-limited)
// and leave that option out of the reply.
//
// Stored values written in Eta (before this language) are refused the same way, never run and
// never sent as the text of their code: the log line quotes the value and, for the simple forms
// (`<%= it.mac %>`), gives its `{{mac}}` spelling. They are not translated silently: the stored
// object would still read as code in the API, and a second, hidden syntax is one more thing to
// get wrong; rewriting them is one PUT, which the 422 of the write path then checks.

import { rateLimited, type Logger } from "../log/logger.ts";
import { isEtaSyntax, hasPlaceholders, parseOptionValue, type OptionField, type OptionPart, type ParsedOptionValue } from "../model/schemas/option-value.ts";
import { byteString } from "./codec/bytes.ts";
import { encodeOptionValue } from "./codec/option-values.ts";
import type { DhcpPacket } from "./codec/packet.ts";

/** What the request says and what we answer it, as the placeholders read it. */
export interface OptionTemplateData {
  mac: string;
  /** Request options as text (one char per byte, trailing NULs dropped); a missing code throws. */
  options: Record<number, string>;
  /** Whether the request carries option `code`. */
  has(code: number): boolean;
  /** The address being handed out ("" for INFORM and proxy replies). */
  address: string;
  ciaddr: string;
  giaddr: string;
  serverAddress: string;
  subnet: string;
  arch: number | undefined;
  userClass: string;
  vendorClass: string;
  uuid: string;
}

export function templateData(
  req: DhcpPacket,
  extra: Omit<OptionTemplateData, "options" | "has" | "ciaddr" | "giaddr">,
): OptionTemplateData {
  const text = (code: number): string | undefined => {
    const d = req.options.get(code);
    if (d === undefined) return undefined;
    let end = d.length;
    while (end > 0 && d[end - 1] === 0) end--;
    return byteString(d, 0, end);
  };
  const options = new Proxy({} as Record<number, string>, {
    get(_t, key) {
      if (typeof key !== "string") return undefined;
      const v = text(Number(key));
      if (v === undefined) throw new Error(`request has no option ${key}`);
      return v;
    },
  });
  return { ...extra, options, has: (code) => req.options.has(code), ciaddr: req.ciaddr, giaddr: req.giaddr };
}

/** A field's value for this request; "" when the request does not give it. */
function fieldValue(d: OptionTemplateData, f: OptionField): string {
  switch (f) {
    case "macHex":
      return d.mac.replace(/[^0-9a-fA-F]/g, "").toLowerCase();
    case "hostname":
      return d.has(12) ? d.options[12]! : "";
    case "arch":
      return d.arch === undefined ? "" : String(d.arch);
    default:
      return d[f];
  }
}

/**
 * The text of a parsed value for one request: each placeholder takes its first alternative with a
 * non-empty value. When none has one, a request option among them is an error naming it, else "".
 */
export function expandOptionValue(parts: readonly OptionPart[], d: OptionTemplateData): string {
  let out = "";
  for (const part of parts) {
    if (typeof part === "string") {
      out += part;
      continue;
    }
    let value: string | undefined;
    let missing: number | undefined;
    for (const ref of part) {
      if ("text" in ref) value = ref.text;
      else if ("field" in ref) value = fieldValue(d, ref.field);
      else if (d.has(ref.option)) value = d.options[ref.option];
      else missing ??= ref.option;
      if (value !== undefined && (value !== "" || "text" in ref)) break;
      value = undefined;
    }
    if (value === undefined && missing !== undefined) throw new Error(`request has no option ${missing}`);
    out += value ?? "";
  }
  return out;
}

const CACHE_MAX = 4096;

export class OptionRenderer {
  readonly #parsed = new Map<string, ParsedOptionValue>();
  readonly #encoded = new Map<string, Uint8Array | Error>();
  readonly #warn: ReturnType<typeof rateLimited>;

  constructor(log: Logger) {
    this.#warn = rateLimited(log, 60_000, 1); // one line per broken value per minute
  }

  /** Whether a value needs the request (or is refused): cheap test, no parse. */
  static isTemplate(value: string): boolean {
    return hasPlaceholders(value) || isEtaSyntax(value);
  }

  /**
   * Wire bytes for option `code` with text `value`; `data` is called only for values with
   * placeholders. Returns undefined (after one log line) when the value is unusable.
   */
  encode(code: number, value: string, data: () => OptionTemplateData, mac: string): Uint8Array | undefined {
    if (!OptionRenderer.isTemplate(value)) return this.#bytes(code, value, value, mac, true);
    const parsed = this.#parse(value);
    if (!parsed.ok) {
      const eta = isEtaSyntax(value);
      this.#warn(
        `value:${code}:${value}`,
        eta ? "option value is Eta template code, which is not run any more; option left out until it is rewritten" : "option value does not parse; option left out",
        { code, subnet: data().subnet, mac, error: parsed.error },
      );
      return undefined;
    }
    let text: string;
    try {
      text = expandOptionValue(parsed.parts, data());
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      this.#warn(`expand:${code}:${value}`, "option value needs what the request lacks; option left out", { code, mac, value, error: message });
      return undefined;
    }
    if (text === "") return undefined; // an empty expansion means "not for this client"
    return this.#bytes(code, text, value, mac, false);
  }

  #parse(value: string): ParsedOptionValue {
    let p = this.#parsed.get(value);
    if (p === undefined) {
      p = parseOptionValue(value);
      if (this.#parsed.size >= CACHE_MAX) this.#parsed.clear();
      this.#parsed.set(value, p);
    }
    return p;
  }

  #bytes(code: number, text: string, configured: string, mac: string, cache: boolean): Uint8Array | undefined {
    const key = `${code}\u0000${text}`;
    let b = cache ? this.#encoded.get(key) : undefined;
    if (b === undefined) {
      try {
        b = encodeOptionValue(code, text);
      } catch (e) {
        b = e instanceof Error ? e : new Error(String(e));
      }
      if (cache) {
        if (this.#encoded.size >= CACHE_MAX) this.#encoded.clear();
        this.#encoded.set(key, b);
      }
    }
    if (b instanceof Error) {
      this.#warn(`encode:${code}:${configured}`, "option value cannot be encoded; option left out", { code, mac, error: b.message });
      return undefined;
    }
    return b;
  }
}
