// A BootFile over rendered text: complete before it exists (a template error surfaces from
// FileSource.get, never mid-stream), never written to disk.

import { textContentTypeFor } from "./content-type.ts";
import type { BootFile } from "./file-source.ts";

export function textFile(text: string, path: string): BootFile {
  const bytes = new TextEncoder().encode(text);
  return {
    size: bytes.byteLength,
    etag: `"r${Bun.hash(bytes).toString(36)}-${bytes.byteLength.toString(36)}"`,
    contentType: textContentTypeFor(path),
    read(start = 0, end = bytes.byteLength) {
      const from = Math.max(0, Math.min(start, bytes.byteLength));
      const to = Math.max(from, Math.min(end, bytes.byteLength));
      const slice = bytes.subarray(from, to);
      return new ReadableStream<Uint8Array>({
        start(controller) {
          if (slice.byteLength > 0) controller.enqueue(slice);
          controller.close();
        },
      });
    },
  };
}
