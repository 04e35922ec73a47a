import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/errors.ts';
import { Router } from '../../src/http/router.ts';

describe('router', () => {
  const router = new Router<string>()
    .on('GET', '/api/sessions/:id', 'get-session')
    .on('PATCH', '/api/sessions/:id', 'patch-session')
    .on('POST', '/api/sessions/spawn', 'spawn')
    .on('GET', '/api/skills/:id', 'skill', { rawParams: true })
    .on('GET', '/api/skills/prompt', 'prompt');

  it('matches params and prefers static segments', () => {
    assert.deepEqual(router.match('GET', '/api/sessions/s_1'), { handler: 'get-session', params: { id: 's_1' }, pattern: '/api/sessions/:id' });
    assert.equal((router.match('POST', '/api/sessions/spawn') as { handler: string }).handler, 'spawn');
    assert.equal((router.match('GET', '/api/skills/prompt') as { handler: string }).handler, 'prompt');
  });

  it('a static route without the method never hides a parameter route that has it', () => {
    assert.deepEqual(router.match('GET', '/api/sessions/spawn'), { handler: 'get-session', params: { id: 'spawn' }, pattern: '/api/sessions/:id' });
    assert.equal((router.match('PATCH', '/api/sessions/spawn') as { handler: string }).handler, 'patch-session');
  });

  it('gives the Allow list of the most static route when no route has the method', () => {
    assert.deepEqual(router.match('DELETE', '/api/sessions/spawn'), { allow: ['POST'] });
    assert.deepEqual(router.match('DELETE', '/api/sessions/x'), { allow: ['GET', 'PATCH'] });
  });

  it('answers HEAD with the GET handler', () => {
    assert.equal((router.match('HEAD', '/api/sessions/a') as { handler: string }).handler, 'get-session');
  });

  it('returns undefined for unknown paths', () => {
    assert.equal(router.match('GET', '/api/nothing/here'), undefined);
    assert.equal(router.match('GET', '/'), undefined);
  });

  it('refuses ids that are not [A-Za-z0-9_-]{1,128}, unless the route takes raw params', () => {
    for (const bad of ['a.b', '..', '%2e%2e', 'a%2Fb', 'x'.repeat(129), '%E0%A4%A']) {
      assert.throws(() => router.match('GET', `/api/sessions/${bad}`), (e: ApiError) => e.status === 400 && e.code === 'VALIDATION_ERROR', bad);
    }
    assert.deepEqual((router.match('GET', '/api/skills/my.skill') as { params: object }).params, { id: 'my.skill' });
  });
});
