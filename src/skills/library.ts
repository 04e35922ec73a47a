import { constants } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import type { Logger } from '../log.ts';
import { BoundedIo, IoTimeout } from './bounded-io.ts';

const Manifest = v.object({
  name: v.pipe(v.string(), v.minLength(1)),
  version: v.pipe(v.string(), v.minLength(1)),
  description: v.optional(v.string(), ''),
  type: v.picklist(['system', 'role']),
  assignTo: v.optional(v.array(v.string()), []),
  capabilities: v.optional(v.array(v.string()), []),
  dependencies: v.optional(v.array(v.string()), []),
  config: v.optional(v.record(v.string(), v.unknown())),
});

export type Manifest = v.InferOutput<typeof Manifest>;

export interface Skill extends Manifest {
  id: string;
  instructions: string;
}

/** isPlainFolderName in JSON Schema (which counts length in code points, `.length` UTF-16 units: alike up to U+FFFF). */
export const PLAIN_FOLDER_NAME = { minLength: 1, maxLength: 255, pattern: '^(?!\\.\\.?$)[^/\\\\\\u0000]*$' };

/** A skill id is a folder name: nothing that could walk out of the skills folder. */
export function isPlainFolderName(id: string): boolean {
  return id.length > 0 && id.length <= 255 && id !== '.' && id !== '..' && !/[/\\\0]/.test(id);
}

/** Skill file operations at once (of libuv's 4 threads), and how long one may take. */
const SKILL_IO_LIMIT = 2;
export const SKILL_IO_TIMEOUT_MS = 2000;

/**
 * Reads the skills folder when asked, so added or changed skills show up without a
 * restart. Folders are re-read only when their manifest or skill.md changed; each
 * broken folder is warned about once per change, not once per request. A skill
 * folder may be a symbolic link; only regular files are read, never more than
 * two at a time and never waited on for more than SKILL_IO_TIMEOUT_MS (SPEC §8).
 */
export class SkillsLibrary {
  private readonly cache = new Map<string, { stamp: string; skill: Skill | null }>();
  readonly io: BoundedIo;

  constructor(readonly dir: string, private readonly logger: Logger, io = new BoundedIo(SKILL_IO_LIMIT, SKILL_IO_TIMEOUT_MS)) {
    this.io = io;
  }

  async all(): Promise<Map<string, Skill>> {
    let names: string[];
    try {
      const entries = await this.io.run(`reading ${this.dir}`, () => readdir(this.dir, { withFileTypes: true }));
      names = entries.filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.')).map((e) => e.name).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.logger.warn(`skills folder ${this.dir}: ${(err as Error).message}`);
      return new Map();
    }
    const skills = new Map<string, Skill>();
    const loaded = await Promise.all(names.map((name) => this.load(name)));
    for (const skill of loaded) if (skill) skills.set(skill.id, skill);
    for (const name of this.cache.keys()) if (!names.includes(name)) this.cache.delete(name);
    return skills;
  }

  private async load(id: string): Promise<Skill | null> {
    const folder = join(this.dir, id);
    let stamp: string;
    try {
      stamp = await this.stampOf(folder);
    } catch (err) {
      return this.skip(id, folder, 'unreadable', err as Error);
    }
    if (stamp === 'not a folder') return null;
    const cached = this.cache.get(id);
    if (cached && cached.stamp === stamp) return cached.skill;
    const skill = await readSkill(id, (name) => this.readRegularFile(join(folder, name)))
      .catch((err: Error) => this.skip(id, folder, stamp, err));
    if (skill) this.cache.set(id, { stamp, skill });
    return skill;
  }

  /** Warns once per state of the folder (its stamp), not once per request; a disk that did not answer is asked again next time. */
  private skip(id: string, folder: string, stamp: string, err: Error): null {
    if (this.cache.get(id)?.stamp !== stamp) this.logger.warn(`skipping skill folder ${folder}: ${err.message}`);
    if (err instanceof IoTimeout) this.cache.delete(id);
    else this.cache.set(id, { stamp, skill: null });
    return null;
  }

  /** What changes when the skill's files change. Follows a symbolic link (a loop fails with ELOOP). */
  private stampOf(folder: string): Promise<string> {
    // One slot, one call at a time: never more threads than the bound.
    return this.io.run(`stat ${folder}`, async () => {
      if (!(await stat(folder)).isDirectory()) return 'not a folder';
      const parts = [];
      for (const f of ['manifest.json', 'skill.md']) {
        parts.push(await stat(join(folder, f)).then((s) => `${s.mtimeMs}:${s.size}:${s.mode}`, () => 'none'));
      }
      return parts.join('|');
    });
  }

  /**
   * Opened without blocking (a FIFO would wait for a writer) and checked to be a
   * regular file before reading: FIFOs, devices and sockets are refused.
   */
  private readRegularFile(path: string): Promise<string> {
    return this.io.run(`reading ${path}`, async () => {
      const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
      try {
        if (!(await handle.stat()).isFile()) throw new Error(`${path} is not a regular file`);
        return await handle.readFile('utf8');
      } finally {
        await handle.close();
      }
    });
  }
}

async function readSkill(id: string, read: (name: string) => Promise<string>): Promise<Skill> {
  const text = await read('manifest.json').catch((err: Error) => {
    throw new Error(`manifest.json is missing or unreadable (${err.message})`);
  });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new Error('manifest.json is not valid JSON');
  }
  const result = v.safeParse(Manifest, raw);
  if (!result.success) {
    throw new Error(`manifest.json is invalid: ${result.issues.map((i) => `${v.getDotPath(i) ?? ''} ${i.message}`).join('; ')}`);
  }
  const instructions = await read('skill.md').catch((err: Error) => {
    throw new Error(`skill.md is missing or unreadable (${err.message})`);
  });
  return { id, ...result.output, instructions };
}
