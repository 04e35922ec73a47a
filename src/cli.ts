import { ConfigError, loadConfig } from './config.ts';
import { DataFolderError } from './persistence/load.ts';
import { LockError } from './persistence/lock.ts';
import { type MaestroServer, StartError, startServer } from './server.ts';

/** A graceful shutdown that takes longer than this exits 1; the server plans its flush to end before it. */
const SHUTDOWN_MS = 5000;

function fail(message: string): never {
  process.stderr.write(`maestro-server: ${message}\n`);
  process.exit(1);
}

/** Known start-up failures get one line; anything else is a bug and shows its stack. */
function startFailure(err: unknown): never {
  if (err instanceof ConfigError || err instanceof StartError || err instanceof LockError || err instanceof DataFolderError) fail(err.message);
  const code = (err as NodeJS.ErrnoException)?.code;
  if (code === 'EACCES' || code === 'EROFS' || code === 'ENOTDIR' || code === 'ENOSPC') fail((err as Error).message);
  throw err;
}

/**
 * Exit 1 now. Node's exit joins libuv's threads, so with a thread stuck in file
 * I/O (a hung network mount) it would never return: then the process kills itself.
 */
function forcedExit(server: MaestroServer): never {
  process.stderr.write(`maestro-server: shutdown took longer than ${SHUTDOWN_MS / 1000} s: exiting\n`);
  if (server.ioStuck()) {
    process.stderr.write('maestro-server: file I/O is stuck; killing the process instead of waiting for it\n');
    process.kill(process.pid, 'SIGKILL');
  }
  process.exit(1);
}

function onSignals(server: MaestroServer) {
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) fail(`second ${signal} during shutdown: exiting now`);
    stopping = true;
    process.stderr.write(`maestro-server: ${signal} received, saving and shutting down\n`);
    const deadline = Date.now() + SHUTDOWN_MS;
    setTimeout(() => forcedExit(server), SHUTDOWN_MS).unref();
    server.stop(deadline).then(({ unsaved }) => {
      if (unsaved.length > 0) fail(`could not save ${unsaved.length} change(s): ${unsaved.join(', ')}`);
      process.exit(0);
    }, (err: Error) => fail(`shutdown failed: ${err.message}`));
  };
  // SIGHUP: the terminal closed. Its default would exit without the final flush.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => shutdown(signal));
}

export async function main(argv = process.argv.slice(2), env = process.env): Promise<void> {
  try {
    const config = loadConfig(env, argv);
    const server = await startServer(config);
    // Handlers first: whoever reads the start line may signal at once.
    onSignals(server);
    process.stdout.write(`maestro-server listening on ${server.url} (data: ${config.dataDir})\n`);
  } catch (err) {
    startFailure(err);
  }
}
