import * as fsp from 'node:fs/promises';

/**
 * The file-system calls persistence makes, as one seam: tests swap in a version
 * that fails on purpose (disk full, permission denied) to prove nothing is lost.
 */
export interface FileSystem {
  open: typeof fsp.open;
  rename: typeof fsp.rename;
  unlink: typeof fsp.unlink;
  mkdir: typeof fsp.mkdir;
}

export const realFs: FileSystem = { open: fsp.open, rename: fsp.rename, unlink: fsp.unlink, mkdir: fsp.mkdir };
