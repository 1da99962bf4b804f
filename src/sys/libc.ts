// Opening libc through bun:ffi, shared by every module that needs a system call Bun does not
// expose (flock for the store's lock, socket options for device-bound DHCP sockets).
// The library name differs per target: glibc ships "libc.so.6", musl "libc.musl-<arch>.so.1"
// (Alpine; the compiled musl binaries run there).

import { existsSync } from "node:fs";
import type { FFIFunction, Library } from "bun:ffi";

/** Library names to try, most likely first: musl's when the musl loader is present. */
export function libcCandidates(arch: string = process.arch, musl: boolean = isMusl(arch)): string[] {
  const muslName = `libc.musl-${muslArch(arch)}.so.1`;
  return musl ? [muslName, "libc.so.6"] : ["libc.so.6", muslName];
}

function muslArch(arch: string): string {
  return arch === "arm64" ? "aarch64" : arch === "x64" ? "x86_64" : arch;
}

function isMusl(arch: string): boolean {
  return existsSync(`/lib/ld-musl-${muslArch(arch)}.so.1`);
}

export interface OpenedLibc<S extends Record<string, FFIFunction>> {
  /** The library that opened ("libc.so.6"). */
  name: string;
  lib: Library<S & { __errno_location: FFIFunction }>;
  ffi: typeof import("bun:ffi");
  /** errno of the last failed call; read it before any other call. */
  errno(): number;
}

/**
 * The first libc that opens with these symbols (plus __errno_location), or null when FFI or libc
 * is unavailable; callers then use their documented fallback.
 */
export async function openLibc<S extends Record<string, FFIFunction>>(symbols: S): Promise<OpenedLibc<S> | null> {
  let ffi: typeof import("bun:ffi");
  try {
    ffi = await import("bun:ffi");
  } catch {
    return null;
  }
  const all = { ...symbols, __errno_location: { args: [], returns: ffi.FFIType.ptr } } as S & { __errno_location: FFIFunction };
  for (const name of libcCandidates()) {
    try {
      const lib = ffi.dlopen(name, all);
      const errnoAt = lib.symbols.__errno_location as () => number | null;
      return {
        name,
        lib,
        ffi,
        errno: () => {
          const p = errnoAt();
          return p ? ffi.read.i32(p as never, 0) : 0;
        },
      };
    } catch {
      // not this libc; try the next name
    }
  }
  return null;
}
