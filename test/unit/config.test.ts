import assert from 'node:assert/strict';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig, parseFlags } from '../../src/config.ts';
import { createLogger } from '../../src/log.ts';

describe('§8 configuration', () => {
  it('has the SPEC defaults', () => {
    const c = loadConfig({}, []);
    assert.equal(c.port, 3000);
    assert.equal(c.host, '127.0.0.1');
    assert.equal(c.dataDir, join(homedir(), '.maestro', 'data'));
    assert.equal(c.skillsDir, join(homedir(), '.agents-ui', 'maestro-skills'));
    assert.equal(c.serverUrl, 'http://localhost:3000');
    assert.equal(c.serverUrlSet, false);
    assert.equal(c.token, undefined);
    assert.equal(c.writeDebounceMs, 50);
    assert.equal(c.bodyLimitBytes, 1048576);
    assert.deepEqual(c.corsOrigins, []);
    assert.deepEqual(c.allowedHosts, []);
    assert.equal(c.wsPingMs, 30000);
    assert.equal(c.wsMaxBufferBytes, 8 * 1024 * 1024);
    assert.equal(c.maxPendingWrites, 2000);
    assert.equal(c.checkpointMs, 5000);
    assert.equal(c.journalMaxBytes, 64 * 1024 * 1024);
    assert.equal(c.eventBuffer, 10000);
    assert.equal(c.eventBufferBytes, 67108864);
    assert.equal(c.maxEventClients, 1000);
    assert.equal(c.timelineKeep, 500);
    assert.equal(c.logLevel, 'info');
  });

  it('reads every variable, and flags override them', () => {
    const c = loadConfig({
      PORT: '4000', HOST: 'localhost', DATA_DIR: '/tmp/d', SKILLS_DIR: '/tmp/s', SERVER_URL: 'http://m.lan:4000/',
      MAESTRO_TOKEN: 't', WRITE_DEBOUNCE_MS: '0', BODY_LIMIT_BYTES: '10', CORS_ORIGINS: 'https://a.example, https://b.example',
      ALLOWED_HOSTS: 'M.lan', WS_PING_MS: '100', WS_MAX_BUFFER_BYTES: '2048', MAX_PENDING_WRITES: '7', LOG_LEVEL: 'WARN',
      TIMELINE_KEEP: '20',
    }, ['--port=5000', '--data-dir', '/tmp/e']);
    assert.equal(c.port, 5000);
    assert.equal(c.dataDir, '/tmp/e');
    assert.equal(c.serverUrl, 'http://m.lan:4000');
    assert.deepEqual(c.corsOrigins, ['https://a.example', 'https://b.example']);
    assert.deepEqual(c.allowedHosts, ['m.lan']);
    assert.equal(c.logLevel, 'warn');
    assert.equal(c.maxPendingWrites, 7);
    const events = loadConfig({ EVENT_BUFFER: '0', EVENT_BUFFER_BYTES: '4096', MAX_EVENT_CLIENTS: '3' });
    assert.deepEqual([events.eventBuffer, events.eventBufferBytes, events.maxEventClients], [0, 4096, 3]);
    assert.equal(c.timelineKeep, 20);
    const journal = loadConfig({ CHECKPOINT_MS: '250', JOURNAL_MAX_BYTES: '4096' });
    assert.deepEqual([journal.checkpointMs, journal.journalMaxBytes], [250, 4096]);
    assert.throws(() => loadConfig({ CHECKPOINT_MS: '5' }), /CHECKPOINT_MS must be an integer >= 10, got "5"/);
    assert.throws(() => loadConfig({ JOURNAL_MAX_BYTES: '1x' }), /JOURNAL_MAX_BYTES must be an integer >= 1024/);
    assert.equal(loadConfig({ DEBUG: '1' }).logLevel, 'debug');
  });

  it('refuses a non-loopback HOST without a token', () => {
    assert.throws(() => loadConfig({ HOST: '0.0.0.0' }), ConfigError);
    assert.equal(loadConfig({ HOST: '0.0.0.0', MAESTRO_TOKEN: 'x' }).host, '0.0.0.0');
    assert.equal(loadConfig({ HOST: '::1' }).host, '::1');
  });

  it('refuses bad values with a message naming the variable', () => {
    assert.throws(() => loadConfig({ PORT: '70000' }), /PORT must be at most 65535/);
    assert.throws(() => loadConfig({ PORT: '-1' }), /PORT must be an integer >= 0/);
    assert.throws(() => loadConfig({ WRITE_DEBOUNCE_MS: '1.5' }), /WRITE_DEBOUNCE_MS/);
    assert.throws(() => loadConfig({ LOG_LEVEL: 'loud' }), /LOG_LEVEL/);
    assert.throws(() => loadConfig({ EVENT_BUFFER: '-1' }), /EVENT_BUFFER must be an integer >= 0/);
    assert.throws(() => loadConfig({ EVENT_BUFFER_BYTES: 'lots' }), /EVENT_BUFFER_BYTES/);
    assert.throws(() => loadConfig({ MAX_EVENT_CLIENTS: '0' }), /MAX_EVENT_CLIENTS must be an integer >= 1/);
    assert.throws(() => loadConfig({ TIMELINE_KEEP: '0' }), /TIMELINE_KEEP must be an integer >= 1/);
    assert.throws(() => parseFlags(['--port']), /--port needs a value/);
    assert.throws(() => parseFlags(['--nope=1']), /unknown option/);
  });

  it('logs one line per message, nothing below the level', () => {
    const lines: string[] = [];
    const log = createLogger('warn', (l) => lines.push(l));
    log.debug('d');
    log.info('i');
    log.warn('w');
    log.error('e');
    assert.deepEqual(lines, ['[maestro] warn: w\n', '[maestro] error: e\n']);
  });
});
