// The ceiling for a server that answers a change only once it is durable: bare node:http
// that appends each request's body to a file and answers the requests of a group after
// one fdatasync covers them (group commit), with the bytes of one file as bare.mjs does.
import { readFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { createServer } from 'node:http';

const body = readFileSync(process.argv[2]);
const log = await open(process.argv[3], 'a');
let waiting = [];
let committing = false;

async function commit() {
  committing = true;
  while (waiting.length > 0) {
    const group = waiting;
    waiting = [];
    await log.write(Buffer.concat(group.map((g) => g.data)));
    await log.datasync();
    for (const g of group) g.answer();
  }
  committing = false;
}

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    waiting.push({
      data: Buffer.concat([...chunks, Buffer.from('\n')]),
      answer: () => {
        res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': body.length });
        res.end(body);
      },
    });
    if (!committing) void commit();
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening on http://127.0.0.1:${server.address().port}\n`);
});
process.on('SIGINT', () => process.exit(0));
