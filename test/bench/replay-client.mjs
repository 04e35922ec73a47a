// A client that reconnects `count` events behind, `rounds` times one after another
// (forever when rounds is 0), in its own process so that reading megabytes of replay
// does not slow the benchmark's fan-out clients. Prints one JSON line per replay:
// {ms, replayed, bytes}, ms from the upgrade request to the last replayed message.
import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';

const [url, count, rounds] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4] ?? 0)];
const { hostname, port } = new URL(url);

function upgrade(path, onData) {
  const socket = connect(Number(port), hostname);
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n`
    + `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
  socket.on('data', (chunk) => onData(chunk, socket));
  return socket;
}

/** Where the server stands: the plain hello's serverId and seq. */
const where = () => new Promise((resolve) => {
  let head = '';
  upgrade('/', (chunk, socket) => {
    head += chunk.toString('latin1');
    const m = /"serverId":"([^"]+)","seq":(\d+)/.exec(head);
    if (m) { socket.destroy(); resolve({ serverId: m[1], seq: Number(m[2]) }); }
  });
});

/** One replay; undefined when the server answered resync (a broadcast came in between). */
async function replayOnce() {
  const { serverId, seq } = await where();
  const t0 = performance.now();
  return new Promise((resolve) => {
    let head = '';
    let marker;
    let tail = '';
    let bytes = 0;
    let replayed = 0;
    upgrade(`/?since=${seq - count}&serverId=${serverId}`, (chunk, socket) => {
      bytes += chunk.length;
      const text = tail + chunk.toString('latin1');
      tail = text.slice(-64);
      if (marker === undefined) {
        head += chunk.toString('latin1');
        const hello = /"seq":(\d+)(?:,"replayed":(\d+)|,"resync":true)/.exec(head);
        if (!hello) return;
        if (hello[2] === undefined) { socket.destroy(); return resolve(undefined); }
        replayed = Number(hello[2]);
        marker = `"seq":${hello[1]},"timestamp"`;
      }
      if (text.includes(marker)) {
        const ms = performance.now() - t0;
        socket.destroy();
        resolve({ ms, replayed, bytes });
      }
    });
  });
}

for (let done = 0; rounds === 0 || done < rounds;) {
  const result = await replayOnce();
  if (!result) continue;
  done++;
  process.stdout.write(`${JSON.stringify(result)}\n`);
}
