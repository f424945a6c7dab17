/**
 * Running real daemons in integration tests: find the binary (skip locally, fail in CI when it is missing),
 * start processes we own and stop exactly those by PID, even when a test fails.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import * as net from 'net';

/**
 * `/proc/<pid>/<file>`, or undefined when the process has exited (ENOENT, ESRCH). A scan over a namespace's or the
 * machine's processes meets short-lived children (a shell loop's sleep, a mysql client) that exit between two reads:
 * stop 35's CI failed on exactly that. Any other error is thrown.
 */
export function procFile(pid: number | string, file: string): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/${file}`, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') return undefined;
    throw e;
  }
}

/** The path of a binary, or undefined. */
export function which(binary: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/**
 * `describe` when every binary is installed (an absolute path, e.g. a library's header, must exist). Otherwise:
 * under CI the suite fails (CI installs them, so a missing one is a broken pipeline); on a developer machine it is
 * skipped with the install command.
 */
export function describeWithBinaries(title: string, binaries: string[], debianPackages: string[], body: () => void): void {
  const missing = binaries.filter((b) => (b.startsWith('/') ? !existsSync(b) : !which(b)));
  describeUnlessMissing(title, missing, `apt-get install ${debianPackages.join(' ')}`, body);
}

/** `describe` when nothing is `missing`; else a failing test under CI, a skip (saying how to fix it) elsewhere. */
export function describeUnlessMissing(title: string, missing: string[], fix: string, body: () => void): void {
  if (missing.length === 0) {
    describe(title, body);
  } else if (process.env.CI) {
    describe(title, () => {
      test('has what it needs installed', () => {
        throw new Error(`missing ${missing.join(', ')}: ${fix}`);
      });
    });
  } else {
    describe.skip(`${title} (skipped: missing ${missing.join(', ')}; ${fix})`, body);
  }
}

/** Processes started by a test, stopped by PID at the end. */
/**
 * Keeps the daemons' logs (`*.log` in `work`) beyond the run, for a failure's cause: the last run's only, in
 * /tmp/<name>-last-logs; then removes `work`.
 */
export function keepLastLogs(work: string, name: string): void {
  const logs = join(tmpdir(), `${name}-last-logs`);
  rmSync(logs, { recursive: true, force: true });
  mkdirSync(logs);
  for (const f of readdirSync(work).filter((x) => x.endsWith('.log'))) copyFileSync(join(work, f), join(logs, f));
  rmSync(work, { recursive: true, force: true });
}

export class Daemons {
  private readonly started: ChildProcess[] = [];

  public start(command: string, args: string[], options: { env?: NodeJS.ProcessEnv } = {}): ChildProcess {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: options.env ?? process.env });
    child.stdout?.resume();
    child.stderr?.resume();
    this.started.push(child);
    return child;
  }

  /** SIGTERM every process still running, then SIGKILL what is left after `graceMs`. */
  public async stopAll(graceMs = 3000): Promise<void> {
    const running = this.started.filter((c) => c.exitCode === null && c.signalCode === null);
    await Promise.all(running.map((c) => new Promise<void>((resolve) => {
      const timer = setTimeout(() => { c.kill('SIGKILL'); }, graceMs);
      c.once('exit', () => { clearTimeout(timer); resolve(); });
      c.kill('SIGTERM');
    })));
    this.started.length = 0;
  }
}

/** Resolves when `host:port` accepts TCP connections; rejects after `timeoutMs`. */
export async function waitForTcp(host: string, port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host, port });
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${host}:${port} did not accept connections within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Sends `request` over one TCP connection and collects the reply until `done(reply)` says it is complete. */
export function tcpExchange(host: string, port: number, request: string, done: (reply: string) => boolean, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    let reply = '';
    const socket = net.connect({ host, port }, () => socket.write(request));
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`no complete reply from ${host}:${port}: ${JSON.stringify(reply)}`)); }, timeoutMs);
    socket.on('data', (chunk) => {
      reply += chunk.toString('utf8');
      if (done(reply)) { clearTimeout(timer); socket.destroy(); resolve(reply); }
    });
    socket.on('error', (err) => { clearTimeout(timer); reject(err); });
  });
}
