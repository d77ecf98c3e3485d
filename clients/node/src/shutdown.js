// Flushing every live client when the process is told to stop. Node emits
// no `beforeExit` on a signal, and its default for SIGTERM/SIGINT is to die
// at once, so a handler flushes (bounded by each client's flushTimeout)
// and then, if nothing else listens, dies of the signal as it would have.

const clients = new Set();
let installed = false;
let stopping = false;

/** Flushes `client` before a natural exit, and on SIGTERM/SIGINT when `handleSignals`. */
export function register(client, handleSignals) {
  clients.add(client);
  if (!installed && handleSignals && typeof process !== "undefined" && process.on) {
    installed = true;
    for (const signal of ["SIGTERM", "SIGINT"]) process.on(signal, onSignal);
    process.on("beforeExit", onBeforeExit);
  }
}

/** Forgets a closed client. */
export function unregister(client) {
  clients.delete(client);
}

/** Flushes every live client, each within its own flushTimeout. */
export function flushAll() {
  return Promise.all([...clients].map((client) => client.flush().catch(() => false)));
}

async function onSignal(signal) {
  if (stopping) return;
  stopping = true;
  await flushAll();
  // Other listeners decide what the signal means (a worker's graceful close); alone, we die of it.
  if (process.listenerCount(signal) === 1) {
    process.removeListener(signal, onSignal);
    process.kill(process.pid, signal);
  }
  stopping = false;
}

function onBeforeExit() {
  // The timer is unref'd: a process whose work is done gets here with
  // reports still pending; sending them keeps it alive until they are out.
  if ([...clients].some((client) => client.pending)) flushAll();
}
