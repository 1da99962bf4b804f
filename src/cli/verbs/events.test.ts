// The one-line summary of `events watch -o table` for each kind of event.

import { expect, test } from "bun:test";
import type { StreamMessage } from "../event-stream.ts";
import { eventSummary } from "./events.ts";

const m = (Type: string, Action: string, Key: string, Object: Record<string, unknown>): StreamMessage => ({ Seq: 1, Time: "", Type, Action, Key, Object });

test("summaries: timeline records, ISO progress, objects", () => {
  expect(eventSummary(m("timeline", "record", "aa:bb:cc:dd:ee:ff", { Kind: "dhcp", Summary: "DISCOVER arch 7 (x64 UEFI)" }))).toBe("dhcp: DISCOVER arch 7 (x64 UEFI)");
  expect(eventSummary(m("isos", "progress", "d.iso", { State: "exploding", BootEnv: "debian", Bytes: 10, TotalBytes: 100 }))).toBe("exploding debian 10/100 bytes");
  expect(eventSummary(m("machines", "update", "u1", { Name: "web1", Address: "198.51.100.7", BootEnv: "local", Params: { a: 1 }, Available: true }))).toBe(
    "Name=web1 Address=198.51.100.7 BootEnv=local Available=true",
  );
  // The name is not repeated when it is the key.
  expect(eventSummary(m("profiles", "create", "p1", { Name: "p1", Description: "" }))).toBe("");
  expect(eventSummary(m("leases", "create", "198.51.100.9", { Addr: "198.51.100.9", State: "offered" }))).toBe("Addr=198.51.100.9 State=offered");
});

test("summaries are one printable line of at most 120 characters", () => {
  const s = eventSummary(m("timeline", "record", "k", { Kind: "http", Summary: `GET /x\n\u001b[2J${"y".repeat(200)}` }));
  expect(s).toHaveLength(120);
  expect(s).not.toMatch(/[\u0000-\u001f]/);
  expect(s.endsWith("…")).toBe(true);
});
