/** SPEC §15 role templates in the store: seeding, the role's template, reset, default protection. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/errors.ts';
import { Store } from '../../src/store/store.ts';
import {
  createTemplate, deleteTemplate, missingDefaults, resetTemplate, templateOfRole, updateTemplate,
} from '../../src/store/templates.ts';
import { BUILTIN_TEMPLATES } from '../../src/templates/builtin.ts';

describe('§15 templates in the store', () => {
  it('missingDefaults: one default per role that has no template at all', () => {
    const both = missingDefaults([], 7);
    assert.deepEqual(both.map((t) => [t.role, t.name, t.isDefault, t.content, t.createdAt, t.version]), [
      ['worker', 'Default Worker Template', true, BUILTIN_TEMPLATES.worker.content, 7, 1],
      ['orchestrator', 'Default Orchestrator Template', true, BUILTIN_TEMPLATES.orchestrator.content, 7, 1],
    ]);
    const custom = { ...both[0], isDefault: false };
    assert.deepEqual(missingDefaults([custom]).map((t) => t.role), ['orchestrator']);
    assert.deepEqual(missingDefaults(both), []);
  });

  it("a role's template is its default, else its oldest, else none", () => {
    const store = new Store();
    assert.equal(templateOfRole(store, 'worker'), undefined);
    const first = createTemplate(store, { name: 'a', role: 'worker', content: 'x' });
    createTemplate(store, { name: 'b', role: 'worker', content: 'y' });
    assert.equal(templateOfRole(store, 'worker'), first);
    store.load([], [], [], missingDefaults([]));
    assert.equal(templateOfRole(store, 'worker')!.isDefault, true);
  });

  it('reset puts back the built-in text and keeps the name; update takes name and content; a default cannot be deleted', () => {
    const store = new Store();
    const [worker] = missingDefaults([]);
    store.load([], [], [], [worker]);
    const edited = updateTemplate(store, worker.id, { content: 'mine', name: 'Renamed' });
    assert.deepEqual([edited.content, edited.name, edited.version], ['mine', 'Renamed', 2]);
    const reset = resetTemplate(store, worker.id);
    assert.deepEqual([reset.content, reset.name, reset.version], [BUILTIN_TEMPLATES.worker.content, 'Renamed', 3]);
    assert.throws(() => deleteTemplate(store, worker.id), (e: ApiError) => e.status === 400 && e.code === 'TEMPLATE_IS_DEFAULT');
    assert.throws(() => resetTemplate(store, 'tmpl_none'), (e: ApiError) => e.status === 404 && e.code === 'TEMPLATE_NOT_FOUND');
  });
});
