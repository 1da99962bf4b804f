// Files the machine-facing servers (TFTP, HTTP) hand out, from wherever they come: rendered per
// machine by the boot core, an operator's directory (<data-dir>/files), or assets embedded in the
// binary (iPXE loaders). Servers ask one FileSource; a chain tries several in order. The static
// sources also answer whether they have a file (FilePresence), which the API asks to report a
// BootEnv whose kernel is missing.

/** Who asks, and how they reached us (templates render URLs from `serverAddress`). */
export interface FileFacts {
  protocol: "tftp" | "http";
  /** The client's address. */
  remoteAddress: string;
  /** Our address the request arrived on (what the client can reach). */
  serverAddress: string;
}

export interface BootFile {
  /** Size in bytes, when known before reading (TFTP tsize, HTTP Content-Length and Range). */
  size: number | undefined;
  /** Last modification, for Last-Modified; undefined for rendered content. */
  mtime?: Date;
  /** A strong validator for ETag when the source has one (content hash or inode+size+mtime). */
  etag?: string;
  contentType?: string;
  /**
   * The bytes from `start` (inclusive) to `end` (exclusive, default: the end). Rendered content is
   * complete before a BootFile exists: a template error surfaces from `get`, never mid-stream.
   */
  read(start?: number, end?: number): ReadableStream<Uint8Array>;
  /** A real path on disk, when the content is a plain file (lets a server use sendfile). */
  diskPath?: string;
}

export interface FileSource {
  /**
   * The file at `path` ("/"-separated, no leading slash, already normalised by paths.ts), or
   * undefined when this source does not have it. Throws SocleError for a file that exists but
   * cannot be produced (a template error: the message names the template and the missing param).
   */
  get(path: string, facts: FileFacts): Promise<BootFile | undefined>;
}

/**
 * Whether a source has a file at `path` (as FileSource.get takes it), without producing it: a stat
 * at most, never a read or a render. Only static sources answer this; a rendered file depends on
 * the machine asking.
 */
export interface FilePresence {
  exists(path: string): Promise<boolean>;
}

/** A source whose files do not depend on who asks: an operator's directory, embedded assets. */
export interface StaticFileSource extends FileSource, FilePresence {}
