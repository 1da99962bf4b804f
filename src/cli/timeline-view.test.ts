// How the boot timeline reads: times from the first event, diagnoses errors first with their fix
// and evidence, doctor's verdict first, and network text escaped before it reaches a terminal.

import { describe, expect, test } from "bun:test";
import { printable, printableCut } from "./printable.ts";
import { asTimeline, doctorStatus, doctorText, eventRow, relativeTime, timelineText, type Timeline } from "./timeline-view.ts";

const ev = (Seq: number, ms: number, Kind: string, Summary: string) => ({
  Seq,
  Time: new Date(Date.UTC(2026, 11, 7, 8, 0, 0) + ms).toISOString(),
  Mac: "aa:bb:cc:dd:ee:ff",
  Kind,
  Summary,
  Detail: {},
});

const base: Timeline = {
  Mac: "aa:bb:cc:dd:ee:ff",
  Machine: "00000000-0000-4000-8000-000000000001",
  Name: "web1",
  Events: [
    ev(10, 0, "dhcp", "DISCOVER arch 7 (x64 UEFI) iPXE via 203.0.113.1"),
    ev(11, 4, "dhcp-foreign", "OFFER from 203.0.113.9 (not this server) file pxelinux.0"),
    ev(12, 1250, "tftp", "RRQ ipxe.efi 1024000 bytes, completed"),
  ],
  Diagnoses: [
    { Code: "loader-no-script", Severity: "warning", Message: "The loader was fetched but the iPXE script never was.", Evidence: [12] },
    { Code: "rogue-dhcp", Severity: "error", Message: "Another DHCP server (203.0.113.9) answered this client.", Fix: "Stop the DHCP server at 203.0.113.9 or keep it off this VLAN.", Evidence: [10, 11] },
  ],
};

describe("timeline", () => {
  test("relative times", () => {
    const t0 = Date.parse("2026-12-07T08:00:00.000Z");
    expect(relativeTime("2026-12-07T08:00:00.000Z", t0)).toBe("+0.000s");
    expect(relativeTime("2026-12-07T08:02:05.250Z", t0)).toBe("+125.250s");
    expect(relativeTime("2026-12-07T07:59:59.999Z", t0)).toBe("-0.001s");
    expect(relativeTime("not a time", t0)).toBe("?");
  });

  test("-o table: events with their time from the first, then diagnoses, errors first", () => {
    expect(timelineText(base).split("\n")).toEqual([
      "Boot timeline of machine web1 (00000000-0000-4000-8000-000000000001), MAC aa:bb:cc:dd:ee:ff: 3 events",
      "times from 2026-12-07T08:00:00.000Z",
      "",
      "SEQ       TIME         KIND          SUMMARY",
      "10        +0.000s      dhcp          DISCOVER arch 7 (x64 UEFI) iPXE via 203.0.113.1",
      "11        +0.004s      dhcp-foreign  OFFER from 203.0.113.9 (not this server) file pxelinux.0",
      "12        +1.250s      tftp          RRQ ipxe.efi 1024000 bytes, completed",
      "",
      "Diagnoses:",
      "ERROR    Another DHCP server (203.0.113.9) answered this client. [rogue-dhcp]",
      "         fix: Stop the DHCP server at 203.0.113.9 or keep it off this VLAN.",
      "         evidence: #10 #11",
      "WARNING  The loader was fetched but the iPXE script never was. [loader-no-script]",
      "         evidence: #12",
    ]);
    expect(timelineText({ Mac: "aa:bb:cc:dd:ee:ff", Events: [], Diagnoses: [] }).split("\n")).toEqual([
      "Boot timeline of MAC aa:bb:cc:dd:ee:ff (no machine has it): 0 events",
      "",
      "Diagnoses: none",
    ]);
  });

  test("doctor: the verdict, the diagnoses, then only the events they cite", () => {
    expect(doctorText(base).split("\n")).toEqual([
      "machine web1 (00000000-0000-4000-8000-000000000001), MAC aa:bb:cc:dd:ee:ff: 1 problem that stops it booting, 1 warning.",
      "",
      "ERROR    Another DHCP server (203.0.113.9) answered this client. [rogue-dhcp]",
      "         fix: Stop the DHCP server at 203.0.113.9 or keep it off this VLAN.",
      "         evidence: #10 #11",
      "WARNING  The loader was fetched but the iPXE script never was. [loader-no-script]",
      "         evidence: #12",
      "",
      "Evidence:",
      "SEQ       TIME         KIND          SUMMARY",
      "10        +0.000s      dhcp          DISCOVER arch 7 (x64 UEFI) iPXE via 203.0.113.1",
      "11        +0.004s      dhcp-foreign  OFFER from 203.0.113.9 (not this server) file pxelinux.0",
      "12        +1.250s      tftp          RRQ ipxe.efi 1024000 bytes, completed",
    ]);
    expect(doctorStatus(base)).toBe(1);
    const onlyWarning = { ...base, Diagnoses: [{ ...(base.Diagnoses[0] as Timeline["Diagnoses"][0]), Evidence: [12, 99] }] };
    expect(doctorStatus(onlyWarning)).toBe(0);
    const text = doctorText(onlyWarning).split("\n");
    expect(text[0]).toBe("machine web1 (00000000-0000-4000-8000-000000000001), MAC aa:bb:cc:dd:ee:ff: no problem that stops it booting; 1 warning.");
    expect(text.slice(-3)).toEqual(["SEQ       TIME         KIND          SUMMARY", "12        +1.250s      tftp          RRQ ipxe.efi 1024000 bytes, completed", "(no longer held: #99)"]);
  });

  test("doctor: a clean boot lists its events; nothing recorded says so", () => {
    const clean = { ...base, Diagnoses: [] };
    const text = doctorText(clean).split("\n");
    expect(text[0]).toBe("machine web1 (00000000-0000-4000-8000-000000000001), MAC aa:bb:cc:dd:ee:ff: no problem found in 3 events.");
    expect(text.slice(1, 3)).toEqual(["", "Events:"]);
    expect(text).toHaveLength(7);
    expect(doctorStatus(clean)).toBe(0);
    expect(doctorText({ Mac: "aa:bb:cc:dd:ee:ff", Events: [], Diagnoses: [] })).toStartWith("MAC aa:bb:cc:dd:ee:ff (no machine has it): no boot traffic recorded.");
  });

  test("a wrong answer is an error naming the request; unknown fields and bad entries are tolerated", () => {
    expect(() => asTimeline({ Mac: "x" }, "GET timeline")).toThrow("GET timeline: the answer is not a timeline");
    expect(() => asTimeline([], "GET timeline")).toThrow("not a timeline");
    const t = asTimeline({ Mac: "m", Events: [{ Seq: 1, Time: "t", Kind: "dhcp" }, { nope: 1 }], Diagnoses: [{ Severity: "bogus", Message: "m", Evidence: [1, "x"] }], Extra: 1 }, "x");
    expect(t.Events).toEqual([{ Seq: 1, Time: "t", Mac: "", Kind: "dhcp", Summary: "", Detail: {} }]);
    expect(t.Diagnoses).toEqual([{ Code: "", Severity: "info", Message: "m", Evidence: [1] }]);
  });
});

describe("printable", () => {
  test("control characters from the network are escaped; text is kept", () => {
    expect(printable("PXEClient:Arch:00007 é 日本")).toBe("PXEClient:Arch:00007 é 日本");
    expect(printable("a\u001b[2Jb\u0007c\u009bd\u007f\r\n\te\u2028")).toBe("a\\x1b[2Jb\\x07c\\x9bd\\x7f\\r\\n e\\u2028");
    expect(printableCut("x".repeat(10), 5)).toBe("xxxx…");
  });

  test("event rows and diagnoses go through it", () => {
    const row = eventRow({ ...ev(1, 0, "dhcp\u001b", "vendor \u001b]0;x\u0007"), Detail: {} }, Date.parse("2026-12-07T08:00:00.000Z"));
    expect(row).not.toMatch(/[\u0000-\u001f]/);
    expect(row).toContain("vendor \\x1b]0;x\\x07");
    const text = timelineText({ Mac: "m", Events: [], Diagnoses: [{ Code: "c", Severity: "error", Message: "bad \u001b[31m", Fix: "\u009b", Evidence: [] }] });
    expect(text).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/);
  });
});
