// The shapes the ISO 9660 and UDF readers share (reader.ts, udf.ts).

import type { BootEntry } from "./el-torito.ts";

/** Random access to the image's bytes. */
export interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes from `offset` (the caller keeps within `size`). */
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface Extent {
  /** First sector. */
  lba: number;
  length: number;
}

export interface IsoEntry {
  /** Relative, "/"-separated, no leading "/". */
  path: string;
  kind: "file" | "dir" | "symlink";
  /** Bytes (a file's, summed over its extents); 0 otherwise. */
  size: number;
  extents: Extent[];
  /** Rock Ridge PX mode bits (permissions and type), when the image has them. */
  mode?: number;
  /** A symlink's target, relative, as Rock Ridge spells it. */
  target?: string;
  mtime?: Date;
  /** A small UDF file's bytes, held in its entry rather than in extents. */
  inline?: Uint8Array;
}

export interface IsoImage {
  label: string;
  /** Which names the tree carries. */
  names: "rockridge" | "udf" | "joliet" | "iso9660";
  /** Directories before what they hold, in the order the image lists them. */
  entries: IsoEntry[];
  boot: BootEntry[];
}

export interface ReadLimits {
  maxEntries?: number;
  maxDepth?: number;
  maxDirBytes?: number;
}
