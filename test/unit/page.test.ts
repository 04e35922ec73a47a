import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { boardReply, CONTENT_SECURITY_POLICY, isBoardRequest, PAGE_HEADERS } from '../../src/board/page.ts';

const html = { accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

describe('§14 board page files', () => {
  it('answers GET and HEAD / only when the client asks for HTML; its files whatever the Accept', () => {
    assert.equal(isBoardRequest('GET', '/', html), true);
    assert.equal(isBoardRequest('HEAD', '/', { accept: 'TEXT/HTML' }), true);
    assert.equal(isBoardRequest('GET', '/', { accept: 'application/json' }), false);
    assert.equal(isBoardRequest('GET', '/', {}), false);
    assert.equal(isBoardRequest('POST', '/', html), false);
    for (const path of ['/board/board.js', '/board/board.css', '/board/icon.svg']) {
      assert.equal(isBoardRequest('GET', path, {}), true, path);
      assert.equal(isBoardRequest('DELETE', path, {}), false, path);
    }
    for (const path of ['/board/', '/board/page.ts', '/board/../package.json', '/index.html', '/board/toString', '/board/constructor']) {
      assert.equal(isBoardRequest('GET', path, html), false, path);
    }
  });

  it('serves each file byte for byte with its type and the page headers', async () => {
    const files = [['/', 'index.html', 'text/html; charset=utf-8'], ['/board/board.js', 'board.js', 'text/javascript; charset=utf-8'],
      ['/board/board.css', 'board.css', 'text/css; charset=utf-8'], ['/board/icon.svg', 'icon.svg', 'image/svg+xml']];
    for (const [path, file, type] of files) {
      const reply = await boardReply(path);
      assert.equal(reply.status, 200);
      assert.deepEqual(reply.json, await readFile(new URL(`../../src/board/${file}`, import.meta.url)));
      assert.deepEqual(reply.headers, { ...PAGE_HEADERS, 'Content-Type': type });
    }
  });

  it('the page refers only to files it serves, and the policy names no other origin', async () => {
    const page = (await boardReply('/')).json.toString();
    const refs = [...page.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
    assert.ok(refs.length >= 3);
    for (const ref of refs) assert.equal(isBoardRequest('GET', ref, {}), true, ref);
    assert.doesNotMatch(page, /<script>|\sstyle=|\son\w+="/, 'no inline script, style or handler (the policy would refuse them)');
    assert.doesNotMatch(CONTENT_SECURITY_POLICY, /\*|https?:|unsafe/);
    assert.equal(PAGE_HEADERS['X-Content-Type-Options'], 'nosniff');
    assert.equal(PAGE_HEADERS['Referrer-Policy'], 'no-referrer');
  });
});
