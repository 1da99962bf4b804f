// DHCP option values as they were rendered before commit 7c4ee34 ("dhcp: option values are a
// {{field}} substitution language, never code"): Eta templates over the request, that is,
// JavaScript written by whoever may write a subnet or reservation and run by the DHCP handler.
// Kept only so that test/bench/dora-inprocess.ts can measure today's {{field}} expansion against
// it in the same run. Nothing under src/ imports this file, and it must not move back there:
// running stored values as code is what that commit removed.
//
// LegacyOptionRenderer is OptionRenderer from src/dhcp/option-templates.ts at 7c4ee34^, with its
// behaviour unchanged: the same Eta configuration, each distinct value compiled once and cached,
// the compiled function run for every reply, plain values (no "<%") skipping Eta with their encoded
// bytes cached, template and encoding errors logged (rate-limited) and the option left out. The
// request view (templateData) and the encoder (encodeOptionValue) are imported from src: the first
// changed only in its comments in that commit, the second not at all, and neither has since.

import { Eta } from "eta";
import { rateLimited, type Logger } from "../../src/log/logger.ts";
import { encodeOptionValue } from "../../src/dhcp/codec/option-values.ts";
import { OptionRenderer, type OptionTemplateData } from "../../src/dhcp/option-templates.ts";

const CACHE_MAX = 4096;

type Compiled = ReturnType<Eta["compile"]>;

export class LegacyOptionRenderer {
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
    if (LegacyOptionRenderer.isTemplate(value)) {
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

/**
 * The old renderer where reply.ts expects today's: buildReply only ever calls
 * `renderer.encode(code, value, data, mac)`, which both classes have with the same signature. The
 * cast is needed because OptionRenderer has private fields, which TypeScript compares by name.
 */
export function asOptionRenderer(r: LegacyOptionRenderer): OptionRenderer {
  return r as unknown as OptionRenderer;
}

/**
 * Until the returned function is called, every OptionRenderer encodes the old way, through one
 * LegacyOptionRenderer (fresh caches, as a freshly started old server had).
 *
 * This is how the old renderer gets into the full DHCP handler: createDhcpHandler builds its own
 * OptionRenderer and offers no seam for another, and reply.ts calls its encode() exactly as the old
 * handler called the old one (handler.ts and reply.ts did not change in 7c4ee34 nor since), so
 * replacing that one method puts the old code where it was. What it adds is one forwarding call
 * per configured option value. Meant for benchmarks that run one handler at a time.
 */
export function useLegacyOptionValues(log: Logger): () => void {
  const legacy = new LegacyOptionRenderer(log);
  const original = OptionRenderer.prototype.encode;
  OptionRenderer.prototype.encode = (code, value, data, mac) => legacy.encode(code, value, data, mac);
  return () => {
    OptionRenderer.prototype.encode = original;
  };
}
