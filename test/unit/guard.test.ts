import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  bearerToken, checkHost, checkOrigin, checkToken, corsHeaders, guardOptions, hostName, isAllowedOrigin, isSameOrigin, tokenMatches,
} from '../../src/http/guard.ts';

const options = guardOptions({ host: '127.0.0.1', allowedHosts: ['maestro.lan'], corsOrigins: ['https://ui.example.com'], token: 's3cret' });
const status = (s: number) => (e: { status: number }) => e.status === s;

describe('§8 guards', () => {
  it('reads host names with and without ports', () => {
    assert.equal(hostName('LocalHost:3000'), 'localhost');
    assert.equal(hostName('[::1]:80'), '[::1]');
    assert.equal(hostName('127.0.0.1'), '127.0.0.1');
  });

  it('allows loopback and listed hosts, refuses others (DNS rebinding)', () => {
    for (const host of ['localhost:3000', '127.0.0.1', '[::1]:1', 'maestro.lan:3000']) checkHost({ host }, options);
    checkHost({}, options);
    for (const host of ['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io:3000']) {
      assert.throws(() => checkHost({ host }, options), status(403), host);
    }
  });

  it('allows the bound address as a host, but not a wildcard', () => {
    checkHost({ host: '192.168.1.5:3000' }, guardOptions({ host: '192.168.1.5', allowedHosts: [], corsOrigins: [] }));
    checkHost({ host: '[fe80::1]:3000' }, guardOptions({ host: 'fe80::1', allowedHosts: [], corsOrigins: [] }));
    assert.throws(() => checkHost({ host: '0.0.0.0' }, guardOptions({ host: '0.0.0.0', allowedHosts: [], corsOrigins: [] })), status(403));
  });

  it('allows loopback, tauri and listed origins only', () => {
    for (const o of [
      'http://localhost:5173', 'https://127.0.0.1', 'http://[::1]:8080', 'tauri://localhost', 'http://tauri.localhost',
      'https://tauri.localhost', 'https://ui.example.com',
    ]) {
      assert.equal(isAllowedOrigin(o, options), true, o);
    }
    for (const o of [
      'https://evil.example', 'http://localhost.evil.example', 'null', 'file://', 'ftp://localhost', 'http://user@localhost',
      'http://tauri.localhost:1420', 'http://a.tauri.localhost', 'ws://tauri.localhost', 'http://tauri.localhost/path',
    ]) {
      assert.equal(isAllowedOrigin(o, options), false, o);
    }
    assert.equal(checkOrigin({}, options), undefined);
    assert.equal(checkOrigin({ origin: 'http://localhost:5173' }, options), 'http://localhost:5173');
    assert.throws(() => checkOrigin({ origin: 'https://evil.example' }, options), status(403));
  });

  it('allows a page of this server calling back from an allowed host name: Origin = that very host and port', () => {
    assert.equal(checkOrigin({ origin: 'http://maestro.lan:3000', host: 'maestro.lan:3000' }, options), 'http://maestro.lan:3000');
    assert.equal(checkOrigin({ origin: 'https://maestro.lan', host: 'Maestro.LAN' }, options), 'https://maestro.lan');
    for (const [origin, host] of [
      ['http://maestro.lan:3001', 'maestro.lan:3000'], ['http://maestro.lan', 'maestro.lan:3000'], ['http://other.lan:3000', 'maestro.lan:3000'],
      ['http://maestro.lan:3000/', 'maestro.lan:3000'], ['http://u@maestro.lan:3000', 'maestro.lan:3000'], ['ftp://maestro.lan:3000', 'maestro.lan:3000'],
      ['null', 'maestro.lan:3000'],
    ]) {
      assert.equal(isSameOrigin(origin, host), false, `${origin} on ${host}`);
      assert.throws(() => checkOrigin({ origin, host }, options), status(403), origin);
    }
    assert.equal(isSameOrigin('http://maestro.lan', undefined), false);
  });

  it('checks the bearer token in constant time', () => {
    assert.equal(bearerToken({ authorization: 'Bearer s3cret' }), 's3cret');
    assert.equal(bearerToken({ authorization: 'bearer   s3cret ' }), 's3cret');
    assert.equal(bearerToken({ authorization: 'Basic abc' }), undefined);
    assert.equal(tokenMatches('s3cret', 's3cret'), true);
    assert.equal(tokenMatches('s3cre', 's3cret'), false);
    assert.equal(tokenMatches(undefined, 's3cret'), false);
    checkToken('s3cret', options);
    assert.throws(() => checkToken('nope', options), status(401));
    checkToken(undefined, guardOptions({ host: '127.0.0.1', allowedHosts: [], corsOrigins: [] }));
  });

  it('sends CORS headers only for an allowed origin', () => {
    assert.deepEqual(corsHeaders(undefined), {});
    assert.deepEqual(corsHeaders('http://localhost:5173'), {
      'Access-Control-Allow-Origin': 'http://localhost:5173', 'Access-Control-Expose-Headers': 'ETag', Vary: 'Origin',
    });
  });
});
