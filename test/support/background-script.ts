/**
 * A bash script run in the background by a unit test (start.sh waiting for its peers, post-start.sh waiting for the
 * roll), with its stderr kept for assertions, and a bounded wait for what it does meanwhile.
 */
import { ChildProcess, spawn } from 'child_process';

export interface BackgroundScript {
  /** Everything the script wrote to stderr so far. */
  readonly stderr: () => string;
  /** Its exit code once it exits (null when killed). */
  readonly exit: Promise<number | null>;
}

/** Starts `bash script` with `env`; the child is added to `children`, which the test kills in its afterEach. */
export function runScriptInBackground(script: string, env: NodeJS.ProcessEnv, children: ChildProcess[]): BackgroundScript {
  let stderr = '';
  const child = spawn('bash', [script], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  child.stderr!.on('data', (chunk) => { stderr += chunk; });
  return { stderr: () => stderr, exit: new Promise((resolve) => child.on('exit', (code) => resolve(code))) };
}

/** Polls `condition` every 50 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function until(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  if (!condition()) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
}
