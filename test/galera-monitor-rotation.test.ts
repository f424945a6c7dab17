/**
 * The Galera monitor account's password rotates live, like the users' passwords: it is the credentials volume's file
 * GALERA_MONITOR_PASSWORD, apply-users.sh rotates it with the grace (the old password kept by its hash), the
 * entrypoint's watcher runs it when the file changes, and the mysqld-exporter's wrapper (assets/galera/exporter.sh)
 * moves the exporter to the new password once the member accepts it. Here against stand-ins (the `mariadb` client,
 * `mysqld_exporter`, `wget`); the real mariadbd is in test/integration/galera-monitor-rotation.test.ts.
 */
import { ChildProcess, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { killAll, spawnInGroup } from './support/background-script';
import { installStandInClient, runApplyUsers, sqlLiteral, standInCalls, writeSecretVolume } from './support/secret-volume';

const ASSETS = path.resolve(__dirname, '../assets/galera');
const ENTRYPOINT = path.join(ASSETS, 'entrypoint.sh');
const EXPORTER = path.join(ASSETS, 'exporter.sh');

/** Passwords that break naive quoting, in SQL, shell, env files and ini files alike (a trailing newline is kept). */
const HOSTILE = [`o'ld\\"pw; DROP USER x; -- $(id) \`id\` $HOME #é€`, `new'\\\\pw\n"; $PATH ;\t%s end\n`, '$MYSQLD_EXPORTER_PASSWORD'];

describe('apply-users.sh: the monitor\'s password from the credentials volume (stand-in client)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-monitor-'));
    installStandInClient(dir);
    fs.writeFileSync(path.join(dir, 'users.tsv'), 'nova\t%\tGALERA_PASSWORD_NOVA\t0\tALL PRIVILEGES\tnova\n');
  });
  /** The watcher script, in a process group of its own: a failed test leaves none behind. */
  const children: ChildProcess[] = [];
  afterEach(() => {
    killAll(children);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const run = (args: string[], env: Record<string, string> = {}) => runApplyUsers(dir, args, env);
  const calls = () => standInCalls(dir);

  test.each(HOSTILE)('a live run starts the monitor\'s rotation from the file, byte for byte, the password only on stdin (%#)', (password) => {
    writeSecretVolume(path.join(dir, 'credentials'), { GALERA_MONITOR_PASSWORD: password, GALERA_PASSWORD_NOVA: 'nova-pw' });
    const result = run([]);
    expect(result.stderr).not.toMatch(/apply-users: /);
    expect(result.status).toBe(0);
    const [call] = calls();
    const literal = sqlLiteral(password);
    // Created when missing; otherwise the rotation's start keeps the old password's hash beside the new one.
    expect(call.sql).toContain(`CREATE USER IF NOT EXISTS ''monitor''@''%'' IDENTIFIED BY ${sqlLiteral(literal).slice(1, -1)}`);
    expect(call.sql).toContain(`SET @ha_old=(SELECT IF(JSON_VALUE(Priv, '$.plugin')='mysql_native_password', JSON_VALUE(Priv, '$.authentication_string'), '') FROM mysql.global_priv WHERE User='monitor' AND Host='%');`);
    expect(call.sql).toContain(`@ha_old=PASSWORD(${literal})`);
    expect(call.sql).toContain(`ALTER USER ''monitor''@''%'' IDENTIFIED VIA mysql_native_password USING PASSWORD(${sqlLiteral(literal).slice(1, -1)}) OR mysql_native_password USING `);
    // The grace, as for every user: the end of the rotation once password_last_changed + 600 s has passed.
    expect(call.sql).toMatch(/WHERE User='monitor' AND Host='%'\n  AND JSON_VALUE\(Priv, '\$\.authentication_string'\)=PASSWORD\(.*\+ 600 < UNIX_TIMESTAMP\(\)/s);
    // Its grants only when one is missing (a GRANT run anyway would replicate to every member by TOI).
    expect(call.sql).toContain("SET @stmt=IF((SELECT COUNT(DISTINCT PRIVILEGE_TYPE) FROM information_schema.USER_PRIVILEGES WHERE BINARY GRANTEE='''monitor''@''%''' "
      + "AND PRIVILEGE_TYPE IN ('PROCESS','BINLOG MONITOR'))<2, 'GRANT PROCESS, BINLOG MONITOR ON *.* TO ''monitor''@''%''', 'DO 0');");
    // Never in the client's arguments or environment.
    for (const part of password.split(/\s+/).filter((p) => p.length >= 6)) {
      expect(call.args).not.toContain(part);
      expect(call.environ).not.toContain(part);
    }
  });

  test('the file wins over a GALERA_MONITOR_PASSWORD left in the environment; --finish-rotations ends the monitor\'s rotation too', () => {
    writeSecretVolume(path.join(dir, 'credentials'), { GALERA_MONITOR_PASSWORD: 'from-file', GALERA_PASSWORD_NOVA: 'nova-pw' });
    expect(run([], { GALERA_MONITOR_PASSWORD: 'from-env' }).status).toBe(0);
    expect(run(['--finish-rotations']).status).toBe(0);
    const [live, finish] = calls();
    expect(live.sql).toContain("@ha_old=PASSWORD('from-file')");
    expect(live.sql).not.toContain('from-env');
    expect(finish.sql).toMatch(/User='monitor' AND Host='%'\n  AND JSON_VALUE\(Priv, '\$\.authentication_string'\)=PASSWORD\('from-file'\).*ALTER USER ''monitor''@''%'' IDENTIFIED BY ''from-file''/s);
    expect(finish.sql).not.toContain('CREATE USER');
    // The users file may not name it (BUILT_IN_PASSWORD_ENVS), so it is one account, once.
    expect(live.sql.match(/WHERE User='monitor' AND Host='%'\);/g)).toHaveLength(1);
  });

  test('a brand-new cluster (--print-sql) creates the monitor from the file; no file and no variable: no monitor account', () => {
    writeSecretVolume(path.join(dir, 'credentials'), { GALERA_MONITOR_PASSWORD: "m'1", GALERA_PASSWORD_NOVA: 'nova-pw' });
    const fresh = run(['--print-sql']);
    expect(fresh.status).toBe(0);
    expect(fresh.stdout).toContain(`CREATE USER IF NOT EXISTS 'monitor'@'%' IDENTIFIED BY 'm''1' WITH MAX_USER_CONNECTIONS 0;`);
    fs.rmSync(path.join(dir, 'credentials'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'credentials'));
    fs.writeFileSync(path.join(dir, 'users.tsv'), '');
    const none = run(['--print-sql']);
    expect(none.status).toBe(0);
    expect(none.stdout).not.toContain('monitor');
  });

  test('an empty monitor file (a half-written Secret) is refused as a whole: nothing is sent, the problem is named', () => {
    writeSecretVolume(path.join(dir, 'credentials'), { GALERA_MONITOR_PASSWORD: '', GALERA_PASSWORD_NOVA: 'nova-pw' });
    const result = run([]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain(`apply-users: monitor: its password file ${path.join(dir, 'credentials')}/GALERA_MONITOR_PASSWORD is empty`);
    expect(calls()).toEqual([]);
  });

  test('the entrypoint\'s watcher runs apply-users.sh within a second of the kubelet swapping the monitor\'s file, not after the minute check', () => {
    const credentials = path.join(dir, 'credentials');
    writeSecretVolume(credentials, { GALERA_MONITOR_PASSWORD: 'old-monitor', GALERA_PASSWORD_NOVA: 'nova-pw' });
    // The status loop's first Synced pass, then passes a second apart; the swap happens between two passes.
    const script = `. ${ENTRYPOINT}
CREDENTIALS_SEEN=$(files_fingerprint "$GALERA_CREDENTIALS_DIR"/*)
NEXT_FINISH_RUN=$((SECONDS + 60))
apply_users_if_rotated; sleep 1; apply_users_if_rotated
[[ -z $USERS_PID ]] && echo "pass 2: nothing to do"
read -r _ <"$STUB_DIR/go"
apply_users_if_rotated; echo "pass 3: started $([[ -n $USERS_PID ]] && echo yes)"
wait "$USERS_PID"; sleep 0.2; apply_users_if_rotated
[[ $CREDENTIALS_SEEN == "$(files_fingerprint "$GALERA_CREDENTIALS_DIR"/*)" ]] && echo "pass 4: recorded"
apply_users_if_rotated; [[ -z $USERS_PID ]] && echo "pass 5: nothing to do"
`;
    fs.writeFileSync(path.join(dir, 'watch.sh'), script);
    spawnSync('mkfifo', [path.join(dir, 'go')]);
    const child = spawnInGroup(children, 'bash', [path.join(dir, 'watch.sh')], {
      env: { PATH: `${dir}/bin:${process.env.PATH}`, STUB_DIR: dir, GALERA_RUN_DIR: dir, GALERA_USERS_FILE: path.join(dir, 'users.tsv'), GALERA_CREDENTIALS_DIR: credentials },
    });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    return new Promise<void>((resolve, reject) => {
      setTimeout(() => {
        writeSecretVolume(credentials, { GALERA_MONITOR_PASSWORD: 'new-monitor', GALERA_PASSWORD_NOVA: 'nova-pw' });
        fs.writeFileSync(path.join(dir, 'go'), 'go\n');
      }, 1500);
      child.on('exit', () => {
        try {
          expect(out.split('\n')).toEqual(['pass 2: nothing to do', 'pass 3: started yes', 'pass 4: recorded', 'pass 5: nothing to do', '']);
          const sql = calls().map((c) => c.sql);
          expect(sql).toHaveLength(1);
          expect(sql[0]).toContain("@ha_old=PASSWORD('new-monitor')");
          resolve();
        } catch (e) {
          reject(e);
        }
      });
    });
  }, 30_000);
});

describe('exporter.sh: the mysqld-exporter follows the monitor\'s password file once the member accepts it (stand-in exporter and wget)', () => {
  let dir: string;
  let child: ChildProcess | undefined;
  /** `child` and everything it starts (the stand-in exporter), in a process group of its own. */
  const children: ChildProcess[] = [];
  // The stand-in exporter records how it was started (its password from its environment, byte for byte) and lives
  // until stopped. The stand-in wget answers for the candidate: `mysql_up 1` when its password is the one the
  // "member" accepts (the file `accepted`), 0 otherwise.
  const EXPORTER_STANDIN = `#!/bin/bash
n=$(ls "$STUB_DIR/starts" | grep -c '[.]args$')
# The password first and the arguments last, by rename: the test lists the .args files and reads each one's
# password, which must be whole by then (CI once read a start whose .password was not written yet).
printf '%s' "$MYSQLD_EXPORTER_PASSWORD" >"$STUB_DIR/starts/$n.password"
printf '%s\\n' "$@" >"$STUB_DIR/starts/$n.args.tmp"
mv "$STUB_DIR/starts/$n.args.tmp" "$STUB_DIR/starts/$n.args"
listen=\${1#--web.listen-address=}
printf '%s' "$MYSQLD_EXPORTER_PASSWORD" >"$STUB_DIR/listen-$listen"
echo $$ >"$STUB_DIR/pid-$listen"
trap 'rm -f "$STUB_DIR/listen-$listen"; exit 0' TERM
while :; do sleep 0.1; done
`;
  const WGET_STANDIN = `#!/bin/bash
url=\${*: -1}; listen=\${url#http://}; listen=\${listen%%/*}
[[ -e $STUB_DIR/listen-$listen ]] || exit 4
printf '# TYPE mysql_up gauge\\n'
if cmp -s "$STUB_DIR/listen-$listen" "$STUB_DIR/accepted"; then echo 'mysql_up 1'; else echo 'mysql_up 0'; fi
`;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-exporter-'));
    for (const d of ['bin', 'starts', 'secret']) fs.mkdirSync(path.join(dir, d));
    fs.writeFileSync(path.join(dir, 'bin', 'mysqld_exporter'), EXPORTER_STANDIN, { mode: 0o755 });
    fs.writeFileSync(path.join(dir, 'bin', 'wget'), WGET_STANDIN, { mode: 0o755 });
  });
  afterEach(() => {
    killAll(children);
    child = undefined;
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const starts = () => fs.readdirSync(path.join(dir, 'starts')).filter((f) => f.endsWith('.args')).sort((a, b) => parseInt(a) - parseInt(b)).map((f) => ({
    args: fs.readFileSync(path.join(dir, 'starts', f), 'utf8').trim().split('\n'),
    password: fs.readFileSync(path.join(dir, 'starts', f.replace('.args', '.password')), 'utf8'),
  }));
  const until = async (what: string, ok: () => boolean, ms = 15_000) => {
    const deadline = Date.now() + ms;
    while (!ok()) {
      if (Date.now() > deadline) throw new Error(`timed out: ${what}; stderr: ${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  };
  let stderr = '';
  const start = () => {
    stderr = '';
    // dash: the image's busybox sh is POSIX too, so no bash-isms may creep in.
    child = spawnInGroup(children, 'dash', [EXPORTER, '--mysqld.address=127.0.0.1:3306', '--mysqld.username=monitor'], {
      env: {
        PATH: `${dir}/bin:${process.env.PATH}`, STUB_DIR: dir, MYSQLD_EXPORTER_PASSWORD_FILE: path.join(dir, 'secret', 'GALERA_MONITOR_PASSWORD'),
        MYSQLD_EXPORTER_BIN: path.join(dir, 'bin', 'mysqld_exporter'), MYSQLD_EXPORTER_LISTEN: ':9104', MYSQLD_EXPORTER_CHECK_ADDRESS: '127.0.0.1:9105', MYSQLD_EXPORTER_CHECK_SECONDS: '1',
      },
    });
    child.stderr!.on('data', (d) => { stderr += d; });
  };

  test.each(HOSTILE.map((p, i) => [i, p]))('keeps the old password until the member accepts the new one, then restarts the exporter with it (%#)', async (_, password) => {
    const old = 'old-monitor\n';
    writeSecretVolume(path.join(dir, 'secret'), { GALERA_MONITOR_PASSWORD: old });
    fs.writeFileSync(path.join(dir, 'accepted'), old);
    start();
    await until('the exporter starts', () => starts().length === 1);
    expect(starts()[0]).toEqual({ args: ['--web.listen-address=:9104', '--mysqld.address=127.0.0.1:3306', '--mysqld.username=monitor'], password: old });
    // The Secret changes; the member does not accept the new password yet: candidates only, the exporter stays.
    writeSecretVolume(path.join(dir, 'secret'), { GALERA_MONITOR_PASSWORD: password as string });
    await until('a candidate is tried', () => starts().length >= 2);
    await until('it says it waits', () => stderr.includes('does not accept the new password yet'));
    const tried = starts();
    expect(tried.slice(1).every((s) => s.args[0] === '--web.listen-address=127.0.0.1:9105' && s.password === password)).toBe(true);
    expect(fs.readFileSync(path.join(dir, 'listen-:9104'), 'utf8')).toBe(old);
    // The member accepts it (apply-users.sh started the rotation): the exporter is restarted with it, byte for byte.
    fs.writeFileSync(path.join(dir, 'accepted'), password as string);
    await until('the exporter uses the new password', () => fs.existsSync(path.join(dir, 'listen-:9104')) && fs.readFileSync(path.join(dir, 'listen-:9104'), 'utf8') === password);
    const last = starts()[starts().length - 1];
    expect(last).toEqual({ args: ['--web.listen-address=:9104', '--mysqld.address=127.0.0.1:3306', '--mysqld.username=monitor'], password });
    expect(stderr).toContain('the member accepts the new password; the exporter now uses it');
    expect(stderr.match(/does not accept the new password yet/g)).toHaveLength(1);
    // Never the password in a log line, and nothing more once done.
    expect(stderr).not.toContain('old-monitor');
    for (const part of (password as string).split(/\s+/).filter((p) => p.length >= 6)) expect(stderr).not.toContain(part);
    const count = starts().length;
    await new Promise((r) => setTimeout(r, 2500));
    expect(starts()).toHaveLength(count);
    // SIGTERM stops the exporter and the wrapper.
    child!.kill('SIGTERM');
    await until('the wrapper exits', () => child!.exitCode !== null);
    expect(child!.exitCode).toBe(0);
    expect(fs.existsSync(path.join(dir, 'listen-:9104'))).toBe(false);
  }, 60_000);

  test('the same value written again, or an empty file, changes nothing; the exporter\'s exit ends the wrapper', async () => {
    writeSecretVolume(path.join(dir, 'secret'), { GALERA_MONITOR_PASSWORD: 'pw' });
    fs.writeFileSync(path.join(dir, 'accepted'), 'pw');
    start();
    await until('the exporter starts', () => starts().length === 1);
    writeSecretVolume(path.join(dir, 'secret'), { GALERA_MONITOR_PASSWORD: '' });
    await new Promise((r) => setTimeout(r, 3500));
    writeSecretVolume(path.join(dir, 'secret'), { GALERA_MONITOR_PASSWORD: 'pw' });
    await new Promise((r) => setTimeout(r, 3500));
    expect(starts()).toHaveLength(1);
    // The exporter dies: the wrapper exits with its status, so the kubelet restarts the container.
    fs.rmSync(path.join(dir, 'listen-:9104'));
    process.kill(Number(fs.readFileSync(path.join(dir, 'pid-:9104'), 'utf8')), 'SIGKILL');
    await until('the wrapper exits', () => child!.exitCode !== null);
    expect(stderr).toContain('mysqld_exporter exited');
  }, 30_000);

  test('no password file: the wrapper refuses to start the exporter', () => {
    const result = spawnSync('dash', [EXPORTER], { encoding: 'utf8', env: { PATH: `${dir}/bin:${process.env.PATH}`, STUB_DIR: dir, MYSQLD_EXPORTER_PASSWORD_FILE: path.join(dir, 'missing') } });
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('no password in');
    expect(starts()).toEqual([]);
  });
});
