// A BootFile over rendered text: complete before it exists (a template error surfaces from
// FileSource.get, never mid-stream), never written to disk.

import type { BootFile } from "./file-source.ts";

const TYPES: ReadonlyArray<[RegExp, string]> = [
  [/\.json$|\.ign$/, "application/json"],
  [/\.ya?ml$/, "application/yaml"],
  [/\.(ipxe|cfg|conf|ks|seed|sh|txt)$/, "text/plain; charset=utf-8"],
];

export function contentTypeFor(path: string): string {
  for (const [re, type] of TYPES) if (re.test(path)) return type;
  return "text/plain; charset=utf-8";
}

export function textFile(text: string, path: string): BootFile {
  const bytes = new TextEncoder().encode(text);
  return {
    size: bytes.byteLength,
    etag: `"r${Bun.hash(bytes).toString(36)}-${bytes.byteLength.toString(36)}"`,
    contentType: contentTypeFor(path),
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
