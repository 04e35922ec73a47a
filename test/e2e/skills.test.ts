/**
 * SPEC §6 — skills, read from a folder on disk (test/fixtures/skills).
 *
 * Fixture: maestro-cli (all), maestro-worker (worker), maestro-orchestrator
 * (orchestrator), code-review (all, needs git-flow), git-flow (with config),
 * deploy (needs git-flow and the missing kubectl), release (needs deploy), and four
 * broken folders that must be skipped: broken-json, incomplete-manifest,
 * no-manifest, no-instructions (manifest but no skill.md).
 */
import assert from 'node:assert/strict';
import { cp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Logger } from '../../src/log.ts';
import { client, FIXTURE_SKILLS, startTestServer, tempDir, type TestServer } from '../helpers.ts';

const GOOD = ['code-review', 'deploy', 'git-flow', 'maestro-cli', 'maestro-orchestrator', 'maestro-worker', 'release'];
const BROKEN = ['broken-json', 'incomplete-manifest', 'no-instructions', 'no-manifest'];

const manifestOf = async (id: string, dir = FIXTURE_SKILLS) => JSON.parse(await readFile(join(dir, id, 'manifest.json'), 'utf8'));
const instructionsOf = (id: string, dir = FIXTURE_SKILLS) => readFile(join(dir, id, 'skill.md'), 'utf8');

/** The list entry SPEC §6 promises for a fixture skill. */
async function expectedSummary(id: string, present: string[] = GOOD) {
  const m = await manifestOf(id);
  return {
    id, name: m.name, version: m.version, description: m.description, type: m.type, assignTo: m.assignTo,
    capabilities: m.capabilities, dependencies: m.dependencies,
    missingDependencies: m.dependencies.filter((d: string) => !present.includes(d)),
  };
}

/**
 * The prompt SPEC §6 describes: blocks joined by one blank line, each
 * `---\n# <name> (v<version>)\n\n<description>\n\n<instructions>`. A skill.md ends with
 * a newline like any text file; taken literally the blocks would then be separated by
 * two blank lines, so the trailing white space of the instructions is not part of a block.
 */
async function expectedPrompt(ids: string[]) {
  const blocks = await Promise.all(ids.map(async (id) => {
    const m = await manifestOf(id);
    return `---\n# ${m.name} (v${m.version})\n\n${m.description}\n\n${(await instructionsOf(id)).trimEnd()}`;
  }));
  return blocks.join('\n\n');
}

/** Blank-line runs folded, for the tests about order (the exact spacing has its own test). */
const loose = (prompt: string) => prompt.replace(/\n{3,}/g, '\n\n').trimEnd();

/** A GET with the path sent byte for byte (no URL normalisation of `..`, `%2e`, `\`). */
function rawGet(baseUrl: string, path: string): Promise<{ status: number; body: any }> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = request({ host: hostname, port, path, method: 'GET', agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode!, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end();
  });
}

function recordingLogger() {
  const warnings: string[] = [];
  const logger: Logger = { error() {}, warn: (m) => void warnings.push(m), info() {}, debug() {} };
  return { logger, warnings };
}

describe('§6 skills', () => {
  let server: TestServer;
  let api: ReturnType<typeof client>;
  const log = recordingLogger();

  before(async () => {
    server = await startTestServer({ SKILLS_DIR: FIXTURE_SKILLS }, { logger: log.logger });
    api = client(server.url);
  });
  after(() => server.cleanup());

  const prompt = (query: string) => api.get(`/api/skills/prompt?${query}`);

  it('GET /api/skills lists every valid skill sorted by id, with missingDependencies', async () => {
    const res = await api.get('/api/skills');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, await Promise.all(GOOD.map((id) => expectedSummary(id))));
    const deploy = res.body.find((s: any) => s.id === 'deploy');
    assert.deepEqual(deploy?.missingDependencies, ['kubectl']);
  });

  it('skips folders with invalid JSON, missing required fields, no manifest or no skill.md, one warning each', async () => {
    await api.get('/api/skills');
    const res = await api.get('/api/skills');
    const ids = res.body.map((s: any) => s.id);
    for (const broken of BROKEN) {
      assert.ok(!ids.includes(broken), `${broken} must be skipped`);
      const warned = log.warnings.filter((w) => w.includes(broken));
      assert.equal(warned.length, 1, `one warning for ${broken}, got ${JSON.stringify(warned)}`);
    }
  });

  it('GET /api/skills/:id adds instructions (skill.md) and config', async () => {
    const res = await api.get('/api/skills/git-flow');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, {
      ...(await expectedSummary('git-flow')),
      instructions: await instructionsOf('git-flow'),
      config: { mainBranch: 'main', squash: true, prefixes: ['feature/', 'fix/'] },
    });
  });

  it('GET /api/skills/:id reports missingDependencies of that skill', async () => {
    const res = await api.get('/api/skills/deploy');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.dependencies, ['git-flow', 'kubectl']);
    assert.deepEqual(res.body.missingDependencies, ['kubectl']);
    assert.equal(res.body.instructions, await instructionsOf('deploy'));
  });

  it('an unknown or broken skill answers 404 SKILL_NOT_FOUND', async () => {
    for (const id of ['kubectl', ...BROKEN]) {
      const res = await api.get(`/api/skills/${id}`);
      assert.equal(res.status, 404, id);
      assert.equal(res.body.code, 'SKILL_NOT_FOUND', id);
      assert.equal(res.body.error, true);
    }
  });

  it('refuses skill ids that are not plain folder names with 400', async () => {
    // `a%2Fb` decodes to `a/b`, `%2e%2e` to `..`, `a%5Cb` to `a\b`.
    for (const path of ['/api/skills/..', '/api/skills/%2e%2e', '/api/skills/%2E%2E', '/api/skills/a\\b', '/api/skills/a%5Cb', '/api/skills/a%2Fb', '/api/skills/%2e%2e%2fmaestro-cli']) {
      const res = await rawGet(server.url, path);
      assert.equal(res.status, 400, path);
      assert.equal(res.body.code, 'VALIDATION_ERROR', path);
    }
  });

  it('refuses a named prompt skill that is not a plain folder name with 400', async () => {
    for (const bad of ['..', '..%2Fgit-flow', 'a%5Cb']) {
      const res = await prompt(`role=worker&skills=${bad}`);
      assert.equal(res.status, 400, bad);
      assert.equal(res.body.code, 'VALIDATION_ERROR', bad);
    }
  });

  it('prompt for a worker: maestro-cli first, then role skills by id, dependencies before dependents', async () => {
    const res = await prompt('role=worker');
    assert.equal(res.status, 200);
    const skills = ['maestro-cli', 'git-flow', 'code-review', 'maestro-worker'];
    assert.deepEqual({ ...res.body, prompt: loose(res.body.prompt) }, { role: 'worker', skills, missing: [], prompt: await expectedPrompt(skills) });
  });

  it('prompt for an orchestrator takes the orchestrator skills, not the worker ones', async () => {
    const res = await prompt('role=orchestrator');
    assert.equal(res.status, 200);
    const skills = ['maestro-cli', 'git-flow', 'code-review', 'maestro-orchestrator'];
    assert.deepEqual({ ...res.body, prompt: loose(res.body.prompt) }, { role: 'orchestrator', skills, missing: [], prompt: await expectedPrompt(skills) });
  });

  it('prompt for a role no skill names still gets the `all` skills', async () => {
    const res = await prompt('role=reviewer');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body.skills, ['maestro-cli', 'git-flow', 'code-review']);
  });

  it('named skills follow in the order given, each after its dependencies', async () => {
    const a = await prompt('role=worker&skills=deploy,maestro-orchestrator');
    assert.equal(a.status, 200);
    assert.deepEqual(a.body.skills, ['maestro-cli', 'git-flow', 'code-review', 'maestro-worker', 'deploy', 'maestro-orchestrator']);
    const b = await prompt('role=worker&skills=maestro-orchestrator,deploy');
    assert.deepEqual(b.body.skills, ['maestro-cli', 'git-flow', 'code-review', 'maestro-worker', 'maestro-orchestrator', 'deploy']);
  });

  it('transitive dependencies come first', async () => {
    const res = await prompt('role=orchestrator&skills=release');
    assert.deepEqual(res.body.skills, ['maestro-cli', 'git-flow', 'code-review', 'maestro-orchestrator', 'deploy', 'release']);
    assert.deepEqual(res.body.missing, ['kubectl']);
  });

  it('each skill appears once, however often it is named or depended on', async () => {
    const res = await prompt('role=worker&skills=git-flow,deploy,git-flow,maestro-cli,maestro-worker,release');
    const skills = ['maestro-cli', 'git-flow', 'code-review', 'maestro-worker', 'deploy', 'release'];
    assert.deepEqual({ ...res.body, prompt: loose(res.body.prompt) }, { role: 'worker', skills, missing: ['kubectl'], prompt: await expectedPrompt(skills) });
  });

  it('missing lists named skills and dependencies not in the folder, and they are left out of the prompt', async () => {
    const res = await prompt('role=worker&skills=nope,deploy,broken-json');
    assert.equal(res.status, 200);
    const skills = ['maestro-cli', 'git-flow', 'code-review', 'maestro-worker', 'deploy'];
    assert.deepEqual(res.body.skills, skills);
    assert.deepEqual([...res.body.missing].sort(), ['broken-json', 'kubectl', 'nope']);
    assert.equal(loose(res.body.prompt), await expectedPrompt(skills));
    assert.ok(!res.body.prompt.includes('never served'));
  });

  it('the prompt format is exact: blocks joined by exactly one blank line, even when skill.md ends with a newline', async () => {
    const res = await prompt('role=worker');
    assert.equal(res.body.prompt, await expectedPrompt(res.body.skills));
    const expectedStart =
      '---\n# Maestro CLI (v1.0.0)\n\nHow to report progress with the maestro CLI.\n\n' +
      '# Maestro CLI\n\nRun `maestro report progress "<message>"` after each step.\n\n' +
      '---\n# Git Flow (v1.4.2)\n\nBranching and commit conventions.\n\n';
    assert.ok(res.body.prompt.startsWith(expectedStart), JSON.stringify(res.body.prompt.slice(0, expectedStart.length + 20)));
    assert.ok(res.body.prompt.endsWith('# Worker\n\nYou implement the task you were given, then report completion.'));
  });
});

describe('§6 skills folder missing or changing', () => {
  let server: TestServer;
  let live: TestServer;
  let skillsDir: string;
  before(async () => {
    server = await startTestServer(); // SKILLS_DIR points at a folder that does not exist
    skillsDir = join(await tempDir('maestro-skills-'), 'skills');
    await cp(FIXTURE_SKILLS, skillsDir, { recursive: true });
    live = await startTestServer({ SKILLS_DIR: skillsDir });
  });
  after(async () => {
    await server.cleanup();
    await live.cleanup();
    await rm(join(skillsDir, '..'), { recursive: true, force: true });
  });

  it('a missing skills folder means no skills, not an error', async () => {
    const api = client(server.url);
    const list = await api.get('/api/skills');
    assert.equal(list.status, 200);
    assert.deepEqual(list.body, []);
    const one = await api.get('/api/skills/maestro-cli');
    assert.equal(one.status, 404);
    assert.equal(one.body.code, 'SKILL_NOT_FOUND');
    const p = await api.get('/api/skills/prompt?role=worker&skills=git-flow');
    assert.equal(p.status, 200);
    assert.deepEqual(p.body, { role: 'worker', skills: [], missing: ['git-flow'], prompt: '' });
  });

  it('a skill folder added after start shows up without a restart', async () => {
    const api = client(live.url);
    assert.deepEqual((await api.get('/api/skills')).body.map((s: any) => s.id), GOOD);
    await mkdir(join(skillsDir, 'kubectl'));
    const manifest = {
      name: 'Kubectl', version: '1.30.0', description: 'Talk to the cluster.', type: 'system',
      assignTo: ['worker'], capabilities: ['k8s'], dependencies: [],
    };
    await writeFile(join(skillsDir, 'kubectl', 'manifest.json'), JSON.stringify(manifest));
    await writeFile(join(skillsDir, 'kubectl', 'skill.md'), 'Use kubectl apply.\n');

    const list = await api.get('/api/skills');
    assert.deepEqual(list.body.map((s: any) => s.id), ['code-review', 'deploy', 'git-flow', 'kubectl', 'maestro-cli', 'maestro-orchestrator', 'maestro-worker', 'release']);
    assert.deepEqual(list.body.find((s: any) => s.id === 'deploy').missingDependencies, []);
    const one = await api.get('/api/skills/kubectl');
    assert.equal(one.status, 200);
    assert.equal(one.body.instructions, 'Use kubectl apply.\n');
    const p = await api.get('/api/skills/prompt?role=worker&skills=deploy');
    assert.deepEqual(p.body.skills, ['maestro-cli', 'git-flow', 'code-review', 'kubectl', 'maestro-worker', 'deploy']);
    assert.deepEqual(p.body.missing, []);
  });

  it('a changed skill.md and a removed folder are seen without a restart', async () => {
    const api = client(live.url);
    await writeFile(join(skillsDir, 'git-flow', 'skill.md'), 'Trunk-based now; no long-lived branches at all.\n');
    const one = await api.get('/api/skills/git-flow');
    assert.equal(one.body.instructions, 'Trunk-based now; no long-lived branches at all.\n');
    await rm(join(skillsDir, 'release'), { recursive: true });
    const list = await api.get('/api/skills');
    assert.ok(!list.body.some((s: any) => s.id === 'release'));
    assert.equal((await api.get('/api/skills/release')).status, 404);
  });
});
