// TFTP packets (RFC 1350) with options (RFC 2347 OACK): pure functions over bytes.
// parsePacket throws TftpFormatError saying what is wrong; the server drops such packets.

export const OPCODES = { RRQ: 1, WRQ: 2, DATA: 3, ACK: 4, ERROR: 5, OACK: 6 } as const;
export type Opcode = keyof typeof OPCODES;

/** Error codes of RFC 1350 and RFC 2347 (8: option negotiation refused). */
export const ERROR_CODES = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8,
} as const;

/** Options in request order, names lower-cased (option names are case-insensitive). */
export type TftpOptions = [name: string, value: string][];

export type TftpPacket =
  | { op: "RRQ" | "WRQ"; filename: string; mode: string; options: TftpOptions }
  | { op: "DATA"; block: number; data: Uint8Array }
  | { op: "ACK"; block: number }
  | { op: "ERROR"; code: number; message: string }
  | { op: "OACK"; options: TftpOptions };

export class TftpFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TftpFormatError";
  }
}

const OPNAMES: Record<number, Opcode> = { 1: "RRQ", 2: "WRQ", 3: "DATA", 4: "ACK", 5: "ERROR", 6: "OACK" };

// Filenames and option strings are netascii in the RFC; firmware sends plain ASCII, some loaders
// UTF-8. latin1 keeps every byte distinct, so a strange name is refused by the path rules, not mangled.
const decoder = new TextDecoder("latin1");

/** The opcode of a datagram, or undefined when it is too short or unknown (no allocation). */
export function opcodeOf(buf: Uint8Array): Opcode | undefined {
  if (buf.length < 2 || buf[0] !== 0) return undefined;
  return OPNAMES[buf[1]!];
}

/** NUL-terminated strings from `start`; trailing NUL padding after the last string is tolerated. */
function strings(buf: Uint8Array, start: number, what: string): string[] {
  const out: string[] = [];
  let p = start;
  while (p < buf.length) {
    const end = buf.indexOf(0, p);
    if (end < 0) throw new TftpFormatError(`${what}: string at offset ${p} has no NUL terminator`);
    out.push(decoder.decode(buf.subarray(p, end)));
    p = end + 1;
  }
  // Some PXE ROMs pad requests with NULs: empty strings at the end carry nothing.
  while (out.length > 0 && out[out.length - 1] === "" && out.length % 2 === 1) out.pop();
  return out;
}

function optionPairs(list: string[], what: string): TftpOptions {
  if (list.length % 2 !== 0) throw new TftpFormatError(`${what}: option "${list[list.length - 1]}" has no value`);
  const out: TftpOptions = [];
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    if (name === "" && list[i + 1] === "") continue; // NUL padding
    if (name === "") throw new TftpFormatError(`${what}: empty option name`);
    out.push([name, list[i + 1]!]);
  }
  return out;
}

export function parsePacket(buf: Uint8Array): TftpPacket {
  if (buf.length < 2) throw new TftpFormatError(`parse TFTP packet: ${buf.length} bytes is shorter than an opcode`);
  const code = (buf[0]! << 8) | buf[1]!;
  const op = OPNAMES[code];
  if (!op) throw new TftpFormatError(`parse TFTP packet: unknown opcode ${code}`);
  switch (op) {
    case "RRQ":
    case "WRQ": {
      const list = strings(buf, 2, `parse ${op}`);
      const filename = list[0];
      const mode = list[1];
      if (filename === undefined || mode === undefined) throw new TftpFormatError(`parse ${op}: filename and mode are required`);
      if (filename === "") throw new TftpFormatError(`parse ${op}: empty filename`);
      return { op, filename, mode: mode.toLowerCase(), options: optionPairs(list.slice(2), `parse ${op} "${filename}"`) };
    }
    case "DATA":
      if (buf.length < 4) throw new TftpFormatError(`parse DATA: ${buf.length} bytes is shorter than the 4-byte header`);
      return { op, block: (buf[2]! << 8) | buf[3]!, data: buf.subarray(4) };
    case "ACK":
      if (buf.length < 4) throw new TftpFormatError(`parse ACK: ${buf.length} bytes is shorter than 4`);
      return { op, block: (buf[2]! << 8) | buf[3]! };
    case "ERROR": {
      if (buf.length < 4) throw new TftpFormatError(`parse ERROR: ${buf.length} bytes is shorter than the 4-byte header`);
      // A missing terminator is common enough in the wild that the message is taken as it is.
      const end = buf.indexOf(0, 4);
      const message = decoder.decode(buf.subarray(4, end < 0 ? buf.length : end));
      return { op, code: (buf[2]! << 8) | buf[3]!, message };
    }
    case "OACK":
      return { op, options: optionPairs(strings(buf, 2, "parse OACK"), "parse OACK") };
  }
}

const encoder = new TextEncoder();

function encodeStrings(opcode: number, parts: string[]): Uint8Array {
  const bytes = parts.map((s) => {
    for (let i = 0; i < s.length; i++) {
      if (s.charCodeAt(i) === 0) throw new TftpFormatError(`format TFTP packet: string "${s.replace(/\0/g, "\\0")}" contains NUL`);
    }
    return encoder.encode(s);
  });
  const out = new Uint8Array(2 + bytes.reduce((n, b) => n + b.length + 1, 0));
  out[1] = opcode;
  let p = 2;
  for (const b of bytes) {
    out.set(b, p);
    p += b.length + 1;
  }
  return out;
}

export function formatRequest(op: "RRQ" | "WRQ", filename: string, mode: string, options: TftpOptions = []): Uint8Array {
  return encodeStrings(OPCODES[op], [filename, mode, ...options.flat()]);
}

export function formatOack(options: TftpOptions): Uint8Array {
  return encodeStrings(OPCODES.OACK, options.flat());
}

export function formatAck(block: number): Uint8Array {
  return Uint8Array.of(0, OPCODES.ACK, (block >>> 8) & 0xff, block & 0xff);
}

export function formatData(block: number, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + data.length);
  writeDataHeader(out, 0, block);
  out.set(data, 4);
  return out;
}

/** Writes a DATA header for `block` (taken modulo 65536) at `offset` of `buf` (the hot path). */
export function writeDataHeader(buf: Uint8Array, offset: number, block: number): void {
  buf[offset] = 0;
  buf[offset + 1] = OPCODES.DATA;
  buf[offset + 2] = (block >>> 8) & 0xff;
  buf[offset + 3] = block & 0xff;
}

export function formatError(code: number, message: string): Uint8Array {
  const text = encoder.encode(message.replace(/\0/g, " "));
  const out = new Uint8Array(5 + text.length);
  out[1] = OPCODES.ERROR;
  out[2] = (code >>> 8) & 0xff;
  out[3] = code & 0xff;
  out.set(text, 4);
  return out;
}

/** One readable line per packet, for logs and golden files. */
export function describePacket(p: TftpPacket): string {
  const opts = (o: TftpOptions) => o.map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join("");
  switch (p.op) {
    case "RRQ":
    case "WRQ":
      return `${p.op} ${JSON.stringify(p.filename)} mode=${p.mode}${opts(p.options)}`;
    case "DATA":
      return `DATA block=${p.block} bytes=${p.data.length}`;
    case "ACK":
      return `ACK block=${p.block}`;
    case "ERROR":
      return `ERROR code=${p.code} message=${JSON.stringify(p.message)}`;
    case "OACK":
      return `OACK${opts(p.options)}`;
  }
}
