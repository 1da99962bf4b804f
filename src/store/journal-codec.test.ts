import { describe, expect, test } from "bun:test";
import { SocleError } from "../model/errors.ts";
import { crc32Hex, decodeJournal, decodeLine, encodeEntry, writtenEnd } from "./journal-codec.ts";

const enc = new TextEncoder();

function lines(n: number, from = 1): string {
  let s = "";
  for (let i = 0; i < n; i++) {
    const seq = from + i;
    const obj = { Name: `m${seq}`, Note: "héllo ✓" };
    s += encodeEntry(
      { Seq: seq, Time: "2026-01-01T00:00:00.000Z", Type: "machines", Action: seq % 4 === 0 ? "delete" : "create", Key: `k${seq}` },
      seq % 4 === 0 ? null : JSON.stringify(obj),
    );
  }
  return s;
}

function thrown(fn: () => unknown): SocleError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SocleError);
    return err as SocleError;
  }
  throw new Error("expected a throw");
}

describe("journal codec", () => {
  test("crc32 matches the standard check value", () => {
    expect(crc32Hex("123456789")).toBe("cbf43926");
  });

  test("each line is JSON an operator can read, and round-trips", () => {
    const text = lines(8);
    for (const line of text.trimEnd().split("\n")) {
      const v = JSON.parse(line);
      expect(v.Crc).toMatch(/^[0-9a-f]{8}$/);
    }
    const d = decodeJournal(enc.encode(text), "j");
    expect(d.entries.length).toBe(8);
    expect(d.torn).toBeNull();
    expect(d.validBytes).toBe(enc.encode(text).length);
    expect(d.entries[0]?.Object).toEqual({ Name: "m1", Note: "héllo ✓" });
    expect(d.entries[3]?.Action).toBe("delete");
    expect(d.entries[3]?.Object).toBeUndefined();
  });

  test("an incomplete last line is a torn tail", () => {
    const good = lines(3);
    const torn = good + lines(1, 4).slice(0, 30);
    const d = decodeJournal(enc.encode(torn), "j");
    expect(d.entries.map((e) => e.Seq)).toEqual([1, 2, 3]);
    expect(d.validBytes).toBe(enc.encode(good).length);
    expect(d.torn?.line).toBe(4);
    expect(d.torn?.reason).toContain("incomplete");
    expect(d.torn?.droppedBytes).toBe(30);
  });

  test("bad lines at the end only (zero-filled blocks, garbage) are a torn tail", () => {
    const good = lines(2);
    const bytes = new Uint8Array([...enc.encode(good), ...new Uint8Array(100), 10, ...enc.encode("garbage\n")]);
    const d = decodeJournal(bytes, "j");
    expect(d.entries.length).toBe(2);
    expect(d.torn?.line).toBe(3);
  });

  test("zeros after the last line are preallocated space, not a torn tail; a line torn into them is", () => {
    const good = enc.encode(lines(3));
    const clean = decodeJournal(new Uint8Array([...good, ...new Uint8Array(4096)]), "j", 1);
    expect(clean.entries.map((e) => e.Seq)).toEqual([1, 2, 3]);
    expect(clean.validBytes).toBe(good.length);
    expect(clean.torn).toBeNull();
    expect(writtenEnd(new Uint8Array([...good, 0, 0, 0]))).toBe(good.length);
    expect(writtenEnd(new Uint8Array(10))).toBe(0);
    expect(decodeJournal(new Uint8Array(8192), "j", 1)).toEqual({ entries: [], validBytes: 0, torn: null });
    // A write cut short in place: part of a line, then the zeros it did not reach.
    const partial = enc.encode(lines(4).split("\n")[3]?.slice(0, 30) ?? "");
    const torn = decodeJournal(new Uint8Array([...good, ...partial, ...new Uint8Array(4096)]), "j", 1);
    expect(torn.entries.length).toBe(3);
    expect(torn.validBytes).toBe(good.length);
    expect(torn.torn).toMatchObject({ line: 4, offset: good.length, droppedBytes: 30, reason: "incomplete last line (no newline)" });
  });

  test("a write torn in place (zeros, then whole lines of the same write) is a torn tail only within tornWriteBytes", () => {
    const good = enc.encode(lines(3));
    const last = enc.encode(lines(3, 4)); // the last write: Seq 4..6
    const firstLen = enc.encode(lines(1, 4)).length;
    // Its first page did not land: zeros where Seq 4 was, then Seq 5 and 6 whole.
    const torn = new Uint8Array([...good, ...new Uint8Array(firstLen - 1), 10, ...last.subarray(firstLen), ...new Uint8Array(4096)]);
    const d = decodeJournal(torn, "j", 1, { tornWriteBytes: last.length });
    expect(d.entries.map((e) => e.Seq)).toEqual([1, 2, 3]);
    expect(d.validBytes).toBe(good.length);
    expect(d.torn?.offset).toBe(good.length);
    expect(d.torn?.reason).toContain("cut short in place");
    expect(d.torn?.droppedBytes).toBe(last.length);
    // Farther than one write from the end, or without the bound (a reader, an older segment): corruption.
    expect(thrown(() => decodeJournal(torn, "j", 1, { tornWriteBytes: last.length - 1 })).message).toContain("is corrupt at line 4");
    expect(thrown(() => decodeJournal(torn, "j", 1)).message).toContain("is corrupt at line 4");
    // A bad line without a NUL byte (a flipped byte) followed by good lines is never a torn write.
    const text = lines(6);
    const at = text.indexOf('"m5"') + 2; // inside line 5's Object; line 6 is good
    const flipped = enc.encode(text.slice(0, at) + "X" + text.slice(at + 1));
    expect(thrown(() => decodeJournal(flipped, "j", 1, { tornWriteBytes: 1 << 20 })).message).toContain("checksum mismatch");
  });

  test("a checksum mismatch followed by good lines refuses, naming file, line and offset", () => {
    const text = lines(5);
    const second = enc.encode(text.slice(0, text.indexOf("\n") + 1)).length; // bytes, not chars
    const at = text.indexOf('"m2"') + 2; // inside line 2's Object
    const damaged = text.slice(0, at) + "X" + text.slice(at + 1);
    const e = thrown(() => decodeJournal(enc.encode(damaged), "/d/store/journal-1.jsonl"));
    expect(e.type).toBe("Unavailable");
    expect(e.message).toContain('journal "/d/store/journal-1.jsonl" is corrupt at line 2');
    expect(e.message).toContain(`byte ${second}`);
    expect(e.message).toContain("checksum mismatch");
    expect(e.message).toContain("3 good entries follow");
    expect(e.message).toContain(`truncate the file to ${second} bytes`);
  });

  test("a checksum mismatch on the last complete line is a torn tail", () => {
    const text = lines(3);
    const damaged = text.slice(0, -5) + "Z" + text.slice(-4);
    const d = decodeJournal(enc.encode(damaged), "j");
    expect(d.entries.length).toBe(2);
    expect(d.torn?.reason).toContain("checksum mismatch");
  });

  test("Seq out of order refuses, and the first Seq must match the segment name", () => {
    const text = lines(2, 1) + lines(1, 5);
    expect(thrown(() => decodeJournal(enc.encode(text), "j")).message).toContain("Seq 5 follows Seq 2");
    expect(thrown(() => decodeJournal(enc.encode(lines(2, 3)), "j", 1)).message).toContain("Seq 3 follows Seq 0");
  });

  test("a checksummed line that is not JSON or not an entry is found line by line", () => {
    const notJson = '"Seq":3,"Time":';
    const line = `{"Crc":"${crc32Hex(notJson)}",${notJson}\n`;
    const wrongShape = '"Seq":3,"Time":"t","Type":"x","Action":"update","Key":"k"}';
    const shapeLine = `{"Crc":"${crc32Hex(wrongShape)}",${wrongShape}\n`;
    for (const badLine of [line, shapeLine]) {
      const atEnd = decodeJournal(enc.encode(lines(2) + badLine), "j");
      expect(atEnd.entries.length).toBe(2);
      expect(atEnd.torn?.line).toBe(3);
      const e = thrown(() => decodeJournal(enc.encode(lines(2) + badLine + lines(2, 3)), "j"));
      expect(e.message).toContain("corrupt at line 3");
    }
  });

  test("decodeLine explains what is wrong", () => {
    expect(decodeLine(enc.encode("{}"))).toBe("line too short");
    expect(decodeLine(enc.encode('{"Seq":1,"Time":"t","Type":"x","Key":"k"}'))).toBe("no checksum prefix");
    const rest = '"Seq":1,"Time":"t","Type":"x","Action":"create","Key":"k"}';
    expect(decodeLine(enc.encode(`{"Crc":"${crc32Hex(rest)}",${rest}`))).toBe("create without an Object");
    const restBad = '"Seq":1,"Time":"t","Type":"x","Action":"explode","Key":"k"}';
    expect(decodeLine(enc.encode(`{"Crc":"${crc32Hex(restBad)}",${restBad}`))).toBe('bad Action "explode"');
    const notJson = '"Seq":1,';
    expect(decodeLine(enc.encode(`{"Crc":"${crc32Hex(notJson)}",${notJson}`))).toContain("not JSON");
  });
});
