// A ByteSource (src/iso) over a file on disk: positioned reads, no whole-file buffer, so a 4 GiB
// image costs what one chunk does.

import { open } from "node:fs/promises";
import type { ByteSource } from "../iso/reader.ts";

export interface FileByteSource extends ByteSource {
  close(): Promise<void>;
}

export async function fileByteSource(path: string): Promise<FileByteSource> {
  const fh = await open(path, "r");
  const size = (await fh.stat()).size;
  return {
    size,
    async read(offset: number, length: number): Promise<Uint8Array> {
      const out = new Uint8Array(length);
      for (let got = 0; got < length; ) {
        const { bytesRead } = await fh.read(out, got, length - got, offset + got);
        if (bytesRead === 0) throw new Error(`${path}: ended at byte ${offset + got} of ${size}`);
        got += bytesRead;
      }
      return out;
    },
    close: () => fh.close(),
  };
}

/** Lower-case hex SHA-256 of every byte of `src`, read in 1 MiB chunks. */
export async function sourceSha256(src: ByteSource): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  const CHUNK = 1 << 20;
  for (let off = 0; off < src.size; off += CHUNK) hasher.update(await src.read(off, Math.min(CHUNK, src.size - off)));
  return hasher.digest("hex");
}
