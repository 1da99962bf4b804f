// Option values that are Eta templates over the request, e.g. a host name option 12 of
// `node-<%= it.options[97] ? it.uuid : it.mac.replaceAll(":", "") %>` or `<%= it.options[12] %>`.
// Each distinct value is compiled once and cached (plain values skip Eta entirely); the encoded bytes
// of plain values are cached too, since the same subnet options go out in every reply.
// A missing request option is an error naming it (never the text "undefined" on the wire); a
// template or encoding error is logged (rate-limited) and that option is left out of the reply.

import { Eta } from "eta";
import { rateLimited, type Logger } from "../log/logger.ts";
import { byteString } from "./bytes.ts";
import { encodeOptionValue } from "./option-values.ts";
import type { DhcpPacket } from "./packet.ts";

/** What a template sees as `it`. */
export interface OptionTemplateData {
  mac: string;
  /** Request options as text (one char per byte, trailing NULs dropped); a missing code throws. */
  options: Record<number, string>;
  /** Whether the request carries option `code` (to write fallbacks without tripping the error). */
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

const CACHE_MAX = 4096;

type Compiled = ReturnType<Eta["compile"]>;

export class OptionRenderer {
  readonly #eta = new Eta({ autoEscape: false, autoTrim: false, useWith: false, varName: "it" });
  readonly #compiled = new Map<string, Compiled | Error>();
  readonly #encoded = new Map<string, Uint8Array | Error>();
  readonly #warn: ReturnType<typeof rateLimited>;

  constructor(log: Logger) {
    this.#warn = rateLimited(log, 60_000, 1); // one line per broken value per minute
  }

  /** Whether a value needs the request to be rendered (cheap test, no compile). */
  static isTemplate(value: string): boolean {
    return value.includes("<%");
  }

  /**
   * Wire bytes for option `code` with text `value`; `data` is called only for templates.
   * Returns undefined (after one log line) when the template or the value is unusable.
   */
  encode(code: number, value: string, data: () => OptionTemplateData, mac: string): Uint8Array | undefined {
    let text = value;
    if (OptionRenderer.isTemplate(value)) {
      const fn = this.#compile(value);
      if (fn instanceof Error) {
        this.#warn(`template:${code}:${value}`, "option template does not compile; option left out", { code, mac, error: fn.message });
        return undefined;
      }
      try {
        text = this.#eta.render(fn, data());
      } catch (e) {
        const message = e instanceof Error ? e.message : String(e);
        this.#warn(`render:${code}:${value}`, "option template failed; option left out", { code, mac, error: message.split("\n")[0] });
        return undefined;
      }
      if (text === "") return undefined; // an empty rendering means "not for this client"
      return this.#bytes(code, text, value, mac, false);
    }
    return this.#bytes(code, text, value, mac, true);
  }

  #compile(value: string): Compiled | Error {
    let fn = this.#compiled.get(value);
    if (fn === undefined) {
      try {
        fn = this.#eta.compile(value);
      } catch (e) {
        fn = e instanceof Error ? e : new Error(String(e));
      }
      if (this.#compiled.size >= CACHE_MAX) this.#compiled.clear();
      this.#compiled.set(value, fn);
    }
    return fn;
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
