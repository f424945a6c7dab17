/**
 * Secret volumes as the kubelet writes them, for tests of scripts that watch one (a password file that rotates live):
 * the stand-in `mariadb` client that apply-users.sh talks to, and the kubelet's in-place update.
 */
import { spawnSync, SpawnSyncReturns } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

let writes = 0;

/**
 * Writes files the way the kubelet updates a Secret volume: a new timestamped directory, then `..data` swapped to
 * it by rename (atomic), each file a symlink through `..data`; readable by the mysql group as with fsGroup.
 */
export function writeSecretVolume(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const version = `..${Date.now()}.${process.pid}.${writes++}`;
  fs.mkdirSync(path.join(dir, version), { mode: 0o755 });
  for (const [name, value] of Object.entries(files)) fs.writeFileSync(path.join(dir, version, name), value, { mode: 0o644 });
  fs.symlinkSync(version, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const name of Object.keys(files)) {
    if (!fs.existsSync(path.join(dir, name))) fs.symlinkSync(path.join('..data', name), path.join(dir, name));
  }
}

/**
 * A stand-in `mariadb` client for apply-users.sh, in DIR/bin: it records its arguments, its environment and the SQL on
 * stdin, one call per numbered file in DIR/calls (STUB_DIR=DIR in its environment). Creates DIR/bin, DIR/calls and
 * DIR/credentials.
 */
export function installStandInClient(dir: string): void {
  for (const d of ['bin', 'calls', 'credentials']) fs.mkdirSync(path.join(dir, d));
  fs.writeFileSync(path.join(dir, 'bin', 'mariadb'), `#!/bin/bash
n=$(ls "$STUB_DIR"/calls | wc -l)
printf '%s\\n' "$@" >"$STUB_DIR/calls/$n.args"
cat /proc/$$/environ >"$STUB_DIR/calls/$n.environ"
cat >"$STUB_DIR/calls/$n.sql"
`, { mode: 0o755 });
}

/** The stand-in client's calls, in order. */
export function standInCalls(dir: string): Array<{ sql: string; args: string; environ: string }> {
  return fs.readdirSync(path.join(dir, 'calls')).filter((f) => f.endsWith('.sql'))
    .sort((a, b) => parseInt(a, 10) - parseInt(b, 10)).map((f) => {
      const base = path.join(dir, 'calls', f.replace(/\.sql$/, ''));
      return { sql: fs.readFileSync(`${base}.sql`, 'utf8'), args: fs.readFileSync(`${base}.args`, 'utf8'), environ: fs.readFileSync(`${base}.environ`, 'utf8') };
    });
}

/** A SQL string literal as apply-users.sh writes it (sql_mode cleared: backslash escapes). */
export const sqlLiteral = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/**
 * Runs assets/galera/apply-users.sh against the stand-in client of DIR (installStandInClient): users file DIR/users.tsv,
 * credentials DIR/credentials, a grace of 600 s.
 */
export function runApplyUsers(dir: string, args: string[], env: Record<string, string> = {}): SpawnSyncReturns<string> {
  return spawnSync('bash', [path.resolve(__dirname, '../../assets/galera/apply-users.sh'), ...args], {
    encoding: 'utf8',
    env: {
      PATH: `${dir}/bin:${process.env.PATH}`, STUB_DIR: dir, GALERA_RUN_DIR: dir, GALERA_USERS_FILE: path.join(dir, 'users.tsv'),
      GALERA_CREDENTIALS_DIR: path.join(dir, 'credentials'), GALERA_PASSWORD_ROTATION_GRACE_SECONDS: '600', ...env,
    },
  });
}
