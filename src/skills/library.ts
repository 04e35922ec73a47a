import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as v from 'valibot';
import type { Logger } from '../log.ts';

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

/**
 * Reads the skills folder when asked, so added or changed skills show up without a
 * restart. Folders are re-read only when their manifest or skill.md changed; each
 * broken folder is warned about once per change, not once per request.
 */
export class SkillsLibrary {
  private readonly cache = new Map<string, { stamp: string; skill: Skill | null }>();

  constructor(readonly dir: string, private readonly logger: Logger) {}

  async all(): Promise<Map<string, Skill>> {
    let names: string[];
    try {
      const entries = await readdir(this.dir, { withFileTypes: true });
      names = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
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
    const stamp = await stampOf(folder);
    const cached = this.cache.get(id);
    if (cached && cached.stamp === stamp) return cached.skill;
    const skill = await readSkill(id, folder).catch((err: Error) => {
      this.logger.warn(`skipping skill folder ${folder}: ${err.message}`);
      return null;
    });
    this.cache.set(id, { stamp, skill });
    return skill;
  }
}

async function stampOf(folder: string): Promise<string> {
  const parts = await Promise.all(['manifest.json', 'skill.md'].map((f) =>
    stat(join(folder, f)).then((s) => `${s.mtimeMs}:${s.size}`, () => 'none')));
  return parts.join('|');
}

async function readSkill(id: string, folder: string): Promise<Skill> {
  const text = await readFile(join(folder, 'manifest.json'), 'utf8').catch(() => {
    throw new Error('manifest.json is missing or unreadable');
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
  const instructions = await readFile(join(folder, 'skill.md'), 'utf8').catch(() => {
    throw new Error('skill.md is missing or unreadable');
  });
  return { id, ...result.output, instructions };
}
