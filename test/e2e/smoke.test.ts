import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { client, EventLog, startTestServer, type TestServer } from '../helpers.ts';

describe('smoke', () => {
  let server: TestServer;
  before(async () => { server = await startTestServer(); });
  after(() => server.cleanup());

  it('creates a project and broadcasts it before answering', async () => {
    const api = client(server.url);
    const events = await EventLog.connect(server.url);
    const res = await api.post('/api/projects', { name: 'demo' });
    assert.equal(res.status, 201);
    assert.equal(res.headers.etag, '"1"');
    assert.deepEqual(events.types(), ['project:created']);
    assert.deepEqual(events.events[0].data, res.body);
    events.close();
  });
});
