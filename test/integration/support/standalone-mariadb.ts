/**
 * One plain mariadbd (no Galera provider) in a test's own temp dir, on 127.0.0.1:PORT, for proofs that need a real
 * server but not a cluster (the credentials rotations): its socket, `root` by password-less socket login, stopped
 * cleanly. The caller picks a port and a dir no other file uses.
 */
import { ChildProcess, spawn, spawnSync } from 'child_process';
import { readFileSync } from 'fs';
import { join } from 'path';

export interface StandaloneMariadb {
  readonly server: ChildProcess;
  /** Runs SQL as root over the socket; its output (tab-separated, no column names). */
  readonly root: (sql: string) => string;
}

/**
 * Initializes DIR/data, starts mariadbd on PORT (socket DIR/sock), waits until it answers, drops the anonymous accounts.
 * `serverArgs` are added to mariadbd's command line (e.g. its TLS files).
 */
export async function startStandaloneMariadb(dir: string, port: number, serverArgs: readonly string[] = []): Promise<StandaloneMariadb> {
  const install = spawnSync('mariadb-install-db', ['--no-defaults', `--datadir=${join(dir, 'data')}`, '--auth-root-authentication-method=normal', '--skip-test-db'], { encoding: 'utf8' });
  if (install.status !== 0) throw new Error(`mariadb-install-db: ${install.stderr}`);
  const server = spawn('mariadbd', ['--no-defaults', ...(process.getuid?.() === 0 ? ['--user=root'] : []), `--datadir=${join(dir, 'data')}`, `--socket=${join(dir, 'sock')}`,
    `--port=${port}`, '--bind-address=127.0.0.1', `--pid-file=${join(dir, 'pid')}`, `--log-error=${join(dir, 'error.log')}`, ...serverArgs], { stdio: 'ignore' });
  const deadline = Date.now() + 300_000;
  while (spawnSync('mariadb', ['--no-defaults', '-S', join(dir, 'sock'), '-uroot', '-e', 'SELECT 1']).status !== 0) {
    if (Date.now() > deadline) throw new Error(`mariadbd did not start: ${readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const root = (sql: string) => {
    const r = spawnSync('mariadb', ['--no-defaults', '-S', join(dir, 'sock'), '-uroot', '-N', '-B'], { input: sql, encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`root SQL failed: ${r.stderr}`);
    return r.stdout;
  };
  // Anonymous accounts would take TCP logins from localhost before an account at '%'.
  root("DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES;");
  return { server, root };
}

/** SIGTERM, and up to 2 minutes for a clean stop. */
export async function stopStandaloneMariadb(server: ChildProcess | undefined): Promise<void> {
  if (!server || server.exitCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGTERM');
  // unref: a stopped server leaves no 2-minute timer holding jest's process open at the end of the run.
  await Promise.race([exited, new Promise((r) => setTimeout(r, 120_000).unref())]);
}

/** A client option file's text that logs USER in with PASSWORD (quoted: any byte but NUL), so it never is an argument. */
export function clientOptionFile(user: string, password: string): string {
  return `[client]\nuser=${user}\npassword="${password.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`;
}
