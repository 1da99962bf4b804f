import { expect, test } from "bun:test";
import { parseServeConfig } from "./serve-config.ts";
import { parseCidrList } from "./cidr-list.ts";

test("--webhook-allow-cidrs: IPv4 and IPv6 CIDRs, comma-separated; anything else names the flag and the value", () => {
  expect(parseCidrList("--webhook-allow-cidrs", "127.0.0.1/32, fd00::/8")).toEqual(["127.0.0.1/32", "fd00::/8"]);
  expect(parseCidrList("--webhook-allow-cidrs", "")).toEqual([]);
  for (const bad of ["127.0.0.1", "127.0.0.1/33", "fd00::/129", "example.test/24", "10.0.0.0/x"]) {
    expect(() => parseCidrList("--webhook-allow-cidrs", bad)).toThrow(`--webhook-allow-cidrs: ${JSON.stringify(bad)} is not a CIDR`);
  }
  const cfg = parseServeConfig(["--webhook-allow-cidrs", "127.0.0.1/32"], {}, { compiled: false });
  expect(cfg.webhookAllowCidrs).toEqual(["127.0.0.1/32"]);
  expect(parseServeConfig([], { SOCLE_WEBHOOK_ALLOW_CIDRS: "10.9.0.0/16" }, { compiled: false }).webhookAllowCidrs).toEqual(["10.9.0.0/16"]);
});
