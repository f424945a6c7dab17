/**
 * Processes a unit test runs in the background (start.sh waiting for its peers, post-start.sh waiting for the roll, a
 * watcher, a stand-in peer), each in a process group of its own so that `killAll` ends them and all they started, and
 * a bounded wait for what they do meanwhile.
 */
import { ChildProcess, spawn, SpawnOptions } from 'child_process';

export interface BackgroundScript {
  /** Everything the script wrote to stderr so far. */
  readonly stderr: () => string;
  /** Its exit code once it exits (null when killed). */
  readonly exit: Promise<number | null>;
}

/**
 * Starts `bash script` with `env` in a process group of its own; the child is added to `children`, which the test
 * ends in its afterEach with `killAll`.
 */
export function runScriptInBackground(script: string, env: NodeJS.ProcessEnv, children: ChildProcess[]): BackgroundScript {
  let stderr = '';
  const child = spawnInGroup(children, 'bash', [script], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  return { stderr: () => stderr, exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

/**
 * Spawns `command` in a process group of its own and adds it to `children`, which the test ends in its afterEach (or
 * finally) with `killAll`: everything the child started goes with it. A test that fails midway must leave nothing
 * behind: a grandchild that outlives a killed script (a stand-in daemon's sleep loop) keeps the script's stdout or
 * stderr pipe open, that pipe keeps jest's event loop alive, and jest never exits. Stop 33's CI hung that way until
 * its limit after one failed exporter.sh test.
 */
export function spawnInGroup(children: ChildProcess[], command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, { ...options, detached: true });
  children.push(child);
  return child;
}

/**
 * Kills each child's process group, so everything it started goes too: killing only the bash of a start.sh that timed
 * out left its real `erl` blank responder listening, and every later test that binds that address failed.
 */
export function killAll(children: ChildProcess[]): void {
  for (const child of children.splice(0)) {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      child.kill('SIGKILL'); // the group is gone already (nothing left to kill)
    }
  }
}

/** Polls `condition` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!condition()) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
