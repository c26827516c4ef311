/**
 * Last-resort teardown of labs when the process ends without calling down(): normal
 * exit, an uncaught error, SIGINT/SIGTERM/SIGHUP. The handlers are installed only while
 * at least one lab is registered, so a process without labs keeps its default signal
 * behaviour.
 */

export interface ExitCleanup {
  /** Synchronous, best effort, must not throw. */
  cleanupSync(): void;
}

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
const live = new Set<ExitCleanup>();
let installed = false;

function runAll(): void {
  for (const c of [...live]) {
    live.delete(c);
    try {
      c.cleanupSync();
    } catch {
      // Best effort: one failing lab must not keep the others up.
    }
  }
}

function onExit(): void {
  runAll();
}

function onSignal(sig: NodeJS.Signals): void {
  runAll();
  uninstall();
  // We replaced the default action (terminate) by installing a listener; restore it by
  // re-raising, unless someone else also listens and so owns the decision.
  if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const s of SIGNALS) process.on(s, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.off('exit', onExit);
  for (const s of SIGNALS) process.off(s, onSignal);
}

export function registerExitCleanup(c: ExitCleanup): void {
  live.add(c);
  install();
}

export function unregisterExitCleanup(c: ExitCleanup): void {
  live.delete(c);
  if (live.size === 0) uninstall();
}
