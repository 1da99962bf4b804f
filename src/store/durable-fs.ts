// The few file-system steps durability depends on, in one place.

import * as fsp from "node:fs/promises";

/** Write all of `data` at the handle's position (append handles: at the end). */
export async function writeAll(fh: fsp.FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  // Bounded: every pass writes at least one byte or throws.
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    if (bytesWritten <= 0) throw new Error(`write returned ${bytesWritten} with ${data.length - off} bytes left`);
    off += bytesWritten;
  }
}

/** fsync a directory, so that files created, renamed or removed in it survive power loss. */
export async function syncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Give the event loop a turn (timers, I/O callbacks) before continuing a long computation. */
export function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
