// One writer per data directory: flock(LOCK_EX|LOCK_NB) on <dir>/LOCK through bun:ffi. The
// kernel drops a flock when its holder dies (even by SIGKILL), so a crash never leaves a stale
// lock. The holder's PID is written into the file only so the refusal message can name it.
//
// Fallback, when libc cannot be loaded through FFI: <dir>/LOCK.pid created with O_EXCL. A file
// left by a dead process is detected with kill(pid, 0) and taken over. Weaker than flock: a PID
// reused by an unrelated process looks alive, and two processes racing to remove the same stale
// file could both win, so the fallback is only used when FFI is unavailable.

import * as fs from "node:fs";
import * as path from "node:path";
import { SocleError } from "../model/errors.ts";
import { FFIType } from "bun:ffi";
import { openLibc } from "../sys/libc.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;
const LOCK_UN = 8;
const EWOULDBLOCK = 11; // == EAGAIN on Linux

interface Libc {
  flock(fd: number, op: number): number;
  errno(): number;
}

let libc: Promise<Libc | null> | undefined;

/** Load flock from the first libc that opens, or null (then the pid-file fallback is used). */
function loadLibc(): Promise<Libc | null> {
  libc ??= openLibc({ flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } }).then((opened) =>
    opened ? { flock: (fd: number, op: number) => opened.lib.symbols.flock(fd, op) as number, errno: opened.errno } : null,
  );
  return libc;
}

export interface DirLock {
  /** "flock" or "pidfile" (the fallback). */
  readonly mode: "flock" | "pidfile";
  readonly path: string;
  release(): void;
}

export interface LockOptions {
  /** Force the pid-file fallback (tests). */
  fallback?: boolean;
}

/** Take the single-writer lock of `dir`, or throw SocleError Unavailable naming dir and holder. */
export async function lockDir(dir: string, opts: LockOptions = {}): Promise<DirLock> {
  const lib = opts.fallback ? null : await loadLibc();
  try {
    return lib ? flockDir(dir, lib) : pidFileLock(dir);
  } catch (err) {
    if (err instanceof SocleError) throw err;
    throw new SocleError("Unavailable", "store", dir, `cannot lock data directory "${dir}": ${(err as Error).message}`);
  }
}

function inUse(dir: string, pid: number | null): SocleError {
  const who = pid ? `another process (PID ${pid})` : "another process";
  return new SocleError(
    "Unavailable",
    "store",
    dir,
    `cannot open data directory "${dir}": it is in use by ${who}; only one Socle server may use a data directory`,
  );
}

function readPid(file: string): number | null {
  try {
    const n = Number.parseInt(fs.readFileSync(file, "utf8").trim(), 10);
    return Number.isSafeInteger(n) && n > 0 ? n : null;
  } catch {
    return null;
  }
}

function flockDir(dir: string, lib: Libc): DirLock {
  const file = path.join(dir, "LOCK");
  const fd = fs.openSync(file, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o600);
  if (lib.flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const errno = lib.errno();
    fs.closeSync(fd);
    if (errno === EWOULDBLOCK) throw inUse(dir, readPid(file));
    throw new SocleError("Unavailable", "store", dir, `cannot lock data directory "${dir}": flock("${file}") failed with errno ${errno}`);
  }
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return {
    mode: "flock",
    path: file,
    release() {
      if (!held) return;
      held = false;
      try {
        fs.ftruncateSync(fd, 0);
      } catch {
        // the lock goes with the descriptor either way
      }
      lib.flock(fd, LOCK_UN);
      fs.closeSync(fd);
    },
  };
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

function statMtime(file: string): number {
  try {
    return fs.statSync(file).mtimeMs;
  } catch {
    return 0;
  }
}

function pidFileLock(dir: string): DirLock {
  const file = path.join(dir, "LOCK.pid");
  // Two attempts: the second after removing a file left by a dead process.
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      let held = true;
      return {
        mode: "pidfile",
        path: file,
        release() {
          if (!held) return;
          held = false;
          if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const pid = readPid(file);
      if (pid !== null && alive(pid)) throw inUse(dir, pid);
      // No PID yet may mean its creator is between open and write: only a file older than a
      // few seconds without a PID counts as stale.
      if (pid === null && Date.now() - statMtime(file) < 5_000) throw inUse(dir, null);
      fs.rmSync(file, { force: true });
    }
  }
  throw inUse(dir, readPid(file));
}
