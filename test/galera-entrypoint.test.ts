import { execFile, execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

/** A temp dir with `bin/<program>` = `script` (put first in PATH), removed after the describe block. */
function withStandIn(prefix: string, program: string, script: string): () => string {
  let dir = '';
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', program), script, { mode: 0o755 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  return () => dir;
}

describe('entrypoint state (sourced, with a fake mariadbd for --wsrep-recover)', () => {
  // Prints what `mariadbd --wsrep-recover` logs, into its --log-error file.
  const dirOf = withStandIn('galera-state-', 'mariadbd', `#!/bin/bash
for a in "$@"; do case $a in --log-error=*) log=\${a#*=} ;; esac; done
echo "2026-01-01 0 [Note] WSREP: Recovered position: $FAKE_RECOVERED" >"$log"
`);

  /** Runs establish_state on a data dir holding `files` (a name ending in / is a directory); the data dir stays. */
  function establishIn(files: Record<string, string>, recovered = '00000000-0000-0000-0000-000000000000:-1'): { state: Record<string, unknown>; data: string } {
    const data = fs.mkdtempSync(path.join(dirOf(), 'data-'));
    for (const [name, content] of Object.entries(files)) {
      if (name.endsWith('/')) fs.mkdirSync(path.join(data, name), { recursive: true });
      else fs.writeFileSync(path.join(data, name), content);
    }
    const run = fs.mkdtempSync(path.join(dirOf(), 'run-'));
    execFileSync('bash', ['--norc', '-c', `. ${path.resolve(__dirname, '../assets/galera/entrypoint.sh')}; establish_state 2>/dev/null; write_state 2>/dev/null`], {
      env: { PATH: `${dirOf()}/bin:${process.env.PATH}`, GALERA_DATADIR: data, GALERA_RUN_DIR: run, FAKE_RECOVERED: recovered },
    });
    return { state: JSON.parse(fs.readFileSync(path.join(run, 'state.json'), 'utf8')), data };
  }

  function establish(files: Record<string, string>, recovered?: string): Record<string, unknown> {
    return establishIn(files, recovered).state;
  }

  const UUID = '6f3c1c7e-0c39-11ef-9a4b-2b8c5a7d3e11';
  const grastate = (seqno: number, safe = 0) => `# GALERA saved state\nversion: 2.1\nuuid:    ${UUID}\nseqno:   ${seqno}\nsafe_to_bootstrap: ${safe}\n`;

  const IDENTITY = 'galera-identity.sst';

  test('only a volume with nothing on it is empty (a filesystem\'s lost+found aside)', () => {
    expect(establish({})).toEqual(expect.objectContaining({ data: 'empty', safeToBootstrap: false, hasViewState: false, clusters: [] }));
    expect(establish({ 'lost+found/': '' }).data).toBe('empty');
  });

  test('a volume that joined a cluster but holds no database is wiped, never empty (what an interrupted SST leaves)', () => {
    // The SST script empties the data dir but keeps grastate.dat, galera.cache, sst_in_progress and *.sst files.
    const state = establish({
      [IDENTITY]: `# comment\njoined\ncluster ${UUID}\n`, 'grastate.dat': grastate(-1), 'galera.cache': 'x', 'sst_in_progress': '', '.sst/': '',
    });
    expect(state).toEqual(expect.objectContaining({ data: 'wiped', interruptedTransfer: true, clusters: [UUID] }));
    expect(state).not.toHaveProperty('position');
    // Leftovers of a failed first SST from before volumes had an identity: not pristine either.
    expect(establish({ 'grastate.dat': '', 'galera.cache': 'x' }).data).toBe('wiped');
  });

  test('Defect B: an interrupted IST (sst_in_progress, database in place, grastate -1) is recovered from InnoDB, not empty', () => {
    const state = establish({ 'mysql/': '', 'ibdata1': 'x', 'sst_in_progress': '', 'grastate.dat': grastate(-1) }, `${UUID}:1234`);
    expect(state).toEqual(expect.objectContaining({
      data: 'known', position: { uuid: UUID, seqno: 1234 }, positionSource: 'wsrep-recover', interruptedTransfer: true,
    }));
  });

  test('an interrupted transfer never trusts grastate.dat: InnoDB decides, and no position makes it unknown', () => {
    expect(establish({ 'mysql/': '', 'sst_in_progress': '', 'grastate.dat': grastate(50) }, `${UUID}:7`).position).toEqual({ uuid: UUID, seqno: 7 });
    expect(establish({ 'mysql/': '', 'sst_in_progress': '', 'grastate.dat': grastate(50) }).data).toBe('unknown');
  });

  test('an SST cut while moving its files in (database and .sst side by side) is unknown, without asking InnoDB', () => {
    expect(establish({ 'mysql/': '', 'sst_in_progress': '', '.sst/': '' }, `${UUID}:7`)).toEqual(
      expect.objectContaining({ data: 'unknown', interruptedTransfer: true }),
    );
  });

  test('bootstrapping from a recovered position after a transfer zeroed grastate.dat keeps the cluster UUID', () => {
    const data = fs.mkdtempSync(path.join(dirOf(), 'data-'));
    const zeroed = '# GALERA saved state\nversion: 2.1\nuuid:    00000000-0000-0000-0000-000000000000\nseqno:   -1\nsafe_to_bootstrap: 0\n';
    fs.writeFileSync(path.join(data, 'grastate.dat'), zeroed);
    execFileSync('bash', ['--norc', '-c', `. ${path.resolve(__dirname, '../assets/galera/entrypoint.sh')}; DATA=known POS_SOURCE=wsrep-recover POS_UUID=${UUID} POS_SEQNO=1234; mark_safe_to_bootstrap`], {
      env: { PATH: process.env.PATH, GALERA_DATADIR: data, GALERA_RUN_DIR: data },
    });
    expect(fs.readFileSync(path.join(data, 'grastate.dat'), 'utf8')).toMatch(new RegExp(`uuid: +${UUID}\nseqno: +1234\nsafe_to_bootstrap: 1`));
  });

  test('known data records its cluster in the volume identity, which later states report', () => {
    const { state, data } = establishIn({ 'mysql/': '', 'grastate.dat': grastate(42) });
    expect(state.clusters).toEqual([UUID]);
    expect(fs.readFileSync(path.join(data, IDENTITY), 'utf8')).toContain(`\ncluster ${UUID}\n`);
  });

  test('a clean stop: the position from grastate.dat, without running mariadbd', () => {
    const state = establish({ 'mysql/': '', 'grastate.dat': grastate(42, 1), 'gvwstate.dat': 'x' }, 'must-not-be-used');
    expect(state).toEqual(expect.objectContaining({
      data: 'known', position: { uuid: UUID, seqno: 42 }, positionSource: 'grastate', safeToBootstrap: true, hasViewState: true,
    }));
    expect(state.stateId).toMatch(/^\d+-\d+$/);
  });

  test('a crash (seqno -1): the position --wsrep-recover prints', () => {
    expect(establish({ 'mysql/': '', 'grastate.dat': grastate(-1) }, `${UUID}:77`)).toEqual(expect.objectContaining({
      data: 'known', position: { uuid: UUID, seqno: 77 }, positionSource: 'wsrep-recover',
    }));
  });

  test('a corrupt grastate.dat: the position InnoDB has, and the bad file is moved aside so Galera can start', () => {
    const state = establish({ 'mysql/': '', 'grastate.dat': 'garbage\x00' }, `${UUID}:9`);
    expect(state).toEqual(expect.objectContaining({ data: 'known', position: { uuid: UUID, seqno: 9 }, positionSource: 'wsrep-recover' }));
  });

  test('no usable position anywhere, or a corrupt grastate.dat that recovery cannot replace, is unknown', () => {
    expect(establish({ 'mysql/': '', 'grastate.dat': grastate(-1) })).toEqual(expect.objectContaining({ data: 'unknown' }));
    expect(establish({ 'mysql/': '', 'grastate.dat': 'garbage\x00' }).data).toBe('unknown'); // and recovery found nothing
    expect(establish({ 'mysql/': '', 'grastate.dat': grastate(-1) }).position).toBeUndefined();
  });
});

describe('entrypoint stop (sourced): a stop always completes', () => {
  const ENTRYPOINT = path.resolve(__dirname, '../assets/galera/entrypoint.sh');

  /** Python statements (after `import os, pathlib, signal, time`) that mark the program ready. */
  const READY = "pathlib.Path(os.environ['READY']).touch()";

  /**
   * Runs the Python statements `program` as a process from a sourced entrypoint, stops it with stop_mariadbd once it
   * is ready, and returns the log and the time taken.
   */
  function stop(program: string, timeoutSeconds: number): { seconds: number; log: string } {
    const run = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-stop-'));
    try {
      const t0 = Date.now();
      // The program creates $READY once its signal handling is set up (a bounded wait: a loaded machine is slow).
      const script = `. ${ENTRYPOINT}; python3 -c "import os, pathlib, signal, time; ${program}" & pid=$!; for i in $(seq 200); do [[ -e $READY ]] && break; sleep 0.05; done; ` +
        'stop_mariadbd $pid test 2>&1; wait $pid; echo "exit $?"; cat "$GALERA_PHASE_FILE"';
      const log = execFileSync('bash', ['--norc', '-c', script], {
        env: { PATH: process.env.PATH, GALERA_RUN_DIR: run, GALERA_DATADIR: run, GALERA_STOP_TIMEOUT_SECONDS: String(timeoutSeconds), READY: path.join(run, 'ready') },
        encoding: 'utf8',
      });
      return { seconds: (Date.now() - t0) / 1000, log };
    } finally {
      fs.rmSync(run, { recursive: true, force: true });
    }
  }

  test('a server that stops on SIGTERM is stopped by SIGTERM; the phase is bounded by the stop timeout', () => {
    const { seconds, log } = stop(`${READY}; time.sleep(30)`, 60);
    expect(log).toContain('exit 143');
    expect(log).toMatch(/stopping\ndeadline \d+/);
    expect(seconds).toBeLessThan(10);
  });

  test('a server still starting (SIGTERM pending and blocked in every thread) is killed within seconds, not after the timeout', () => {
    // What mariadbd does until it has started: SIGTERM blocked, so it stays pending.
    const { seconds, log } = stop(`signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM]); ${READY}; time.sleep(60)`, 60);
    expect(log).toContain('SIGTERM pending and blocked in every thread');
    expect(log).toContain('exit 137');
    expect(seconds).toBeLessThan(15);
  });

  test('a server that ignores SIGTERM is killed after the stop timeout', () => {
    const { seconds, log } = stop(`signal.signal(signal.SIGTERM, signal.SIG_IGN); ${READY}; time.sleep(60)`, 2);
    expect(log).toContain('still runs 2 s after SIGTERM: SIGKILL');
    expect(seconds).toBeGreaterThanOrEqual(2);
    expect(seconds).toBeLessThan(15);
  });
});

describe('the writer claim (entrypoint.sh claim_writer, sourced, with a stand-in client)', () => {
  // Records the SQL; answers the claim as the server would: "ROW_COUNT()<TAB>member".
  const dirOf = withStandIn('galera-claim-', 'mariadb', `#!/bin/bash
for a in "$@"; do last=$a; done
printf '%s\\n' "$last" >>"$FAKE_LOG"
printf '%s\\n' "$FAKE_ANSWER"
`);

  function claim(args: string[], answer: string): { sql: string; log: string } {
    const log = path.join(dirOf(), `log-${Math.random()}`);
    fs.writeFileSync(log, '');
    const stderr = execFileSync('bash', ['--norc', '-c',
      `. ${path.resolve(__dirname, '../assets/galera/entrypoint.sh')}; claim_writer "$@" 2>&1 || true`, 'claim', ...args], {
      env: { PATH: `${dirOf()}/bin:${process.env.PATH}`, GALERA_RUN_DIR: dirOf(), POD_NAME: 'galera-1', FAKE_LOG: log, FAKE_ANSWER: answer,
        GALERA_WRITER_CLAIM_SECONDS: '2' },
    }).toString();
    return { sql: fs.readFileSync(log, 'utf8'), log: stderr };
  }

  test('a conditional UPDATE of the one row, for this pod only; with requireAbsent, only once Galera\'s view dropped the old writer', () => {
    const plain = claim(['galera-0', 'galera-1', 'false'], '1\tgalera-1');
    expect(plain.sql).toContain("UPDATE galera_ha.writer SET member='galera-1'");
    expect(plain.sql).toContain("WHERE id = 1 AND member = 'galera-0'");
    expect(plain.sql).not.toContain('wsrep_cluster_members');
    expect(plain.log).toContain('took the writer row over from galera-0');
    const absent = claim(['galera-0', 'galera-1', 'true'], '1\tgalera-1');
    // The membership is read by a plain SELECT before the UPDATE, never inside it (writer_claim_sql says why).
    expect(absent.sql).toContain("SELECT COUNT(*) = 0 INTO @claim_absent FROM mysql.wsrep_cluster_members WHERE node_name = 'galera-0';\nUPDATE");
    expect(absent.sql).toContain("WHERE id = 1 AND member = 'galera-0' AND @claim_absent;");
    const update = absent.sql.slice(absent.sql.indexOf('UPDATE'), absent.sql.indexOf('SELECT ROW_COUNT()'));
    expect(update).not.toMatch(/wsrep_cluster|SELECT/);
  });

  test('another member already took it: stop at once; still named: retry until the bound', () => {
    const lost = claim(['galera-0', 'galera-1', 'true'], '0\tgalera-2');
    expect(lost.sql.match(/UPDATE/g)).toHaveLength(1);
    expect(lost.log).toContain('the row names galera-2 now');
    const pending = claim(['galera-0', 'galera-1', 'true'], '0\tgalera-0');
    expect((pending.sql.match(/UPDATE/g) ?? []).length).toBeGreaterThan(1);
    expect(pending.log).toContain('the row still names galera-0');
  });

  test('waiting for an eviction, the claim follows Galera\'s view (view.json) instead of polling the server', async () => {
    // The stand-in server commits the claim only once the view no longer lists galera-0, as Galera would.
    const dir = fs.mkdtempSync(path.join(dirOf(), 'view-'));
    const view = path.join(dir, 'view.json');
    const log = path.join(dir, 'sql.log');
    fs.writeFileSync(log, '');
    fs.writeFileSync(view, '{"primary":true,"members":["galera-0","galera-1","galera-2"]}\n');
    fs.mkdirSync(path.join(dir, 'bin'));
    fs.writeFileSync(path.join(dir, 'bin', 'mariadb'), `#!/bin/bash
for a in "$@"; do last=$a; done
printf '%s\\n' "$last" >>"$FAKE_LOG"
if grep -q '"galera-0"' "$FAKE_VIEW"; then printf '0\\tgalera-0\\n'; else printf '1\\tgalera-1\\n'; fi
`, { mode: 0o755 });
    const done = new Promise<string>((resolve, reject) => {
      execFile('bash', ['--norc', '-c', `. ${path.resolve(__dirname, '../assets/galera/entrypoint.sh')}; claim_writer galera-0 galera-1 true 2>&1`], {
        env: { PATH: `${dir}/bin:${process.env.PATH}`, GALERA_RUN_DIR: dir, POD_NAME: 'galera-1', FAKE_LOG: log, FAKE_VIEW: view,
          GALERA_WRITER_CLAIM_SECONDS: '10' },
      }, (error, stdout) => (error ? reject(error) : resolve(stdout)));
    });
    await new Promise((resolve) => setTimeout(resolve, 800));
    fs.writeFileSync(view, '{"primary":true,"members":["galera-1","galera-2"]}\n');
    expect(await done).toContain('took the writer row over from galera-0');
    const updates = (fs.readFileSync(log, 'utf8').match(/UPDATE/g) ?? []).length;
    // About one UPDATE per 0.2 s while galera-0 is listed, then the one that commits; a claim blind to the view
    // would have run it every 50 ms (16+ times in 0.8 s).
    expect(updates).toBeGreaterThanOrEqual(2);
    expect(updates).toBeLessThanOrEqual(9);
  }, 20_000);

  test('names that are not pod names, or a claim for another pod, never reach SQL', () => {
    for (const args of [["x'; DROP TABLE t; --", 'galera-1', 'false'], ['galera-0', 'galera-2', 'false'], ['galera-0', 'Galera-1', 'false']]) {
      const r = claim(args, '1\tgalera-1');
      expect(r.sql).toBe('');
      expect(r.log).toContain('writer claim refused');
    }
  });
});

describe('the notification command (notify.sh, mariadbd\'s wsrep_notify_cmd)', () => {
  let dir = '';
  beforeAll(() => { dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-notify-')); });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const script = path.resolve(__dirname, '../assets/galera/notify.sh');

  /** Runs it as mariadbd does (`sh -c "<wsrep_notify_cmd> --status ..."`); returns view.json's text or undefined. */
  function notify(viewFile: string, args: string[]): string | undefined {
    fs.rmSync(viewFile, { force: true });
    execFileSync('sh', ['-c', `bash ${script} ${viewFile} ${args.map((a) => `'${a}'`).join(' ')}`]);
    return fs.existsSync(viewFile) ? fs.readFileSync(viewFile, 'utf8') : undefined;
  }

  test('a view change writes the Primary flag and the members\' pod names', () => {
    const file = path.join(dir, 'view.json');
    const members = '3b99f063-b305/galera-0/127.0.1.1:3306,3c0718a1-8c2d/galera-2/127.0.1.3:3306';
    expect(JSON.parse(notify(file, ['--status', 'Synced', '--uuid', 'u', '--primary', 'yes', '--members', members, '--index', '1'])!))
      .toEqual({ primary: true, members: ['galera-0', 'galera-2'] });
    expect(JSON.parse(notify(file, ['--status', 'Undefined', '--uuid', 'u', '--primary', 'no', '--members', members.split(',')[0], '--index', '0'])!))
      .toEqual({ primary: false, members: ['galera-0'] });
    // An empty view (the member left the cluster) and a name that is not a pod name.
    expect(JSON.parse(notify(file, ['--status', 'Undefined', '--primary', 'no', '--members', ''])!)).toEqual({ primary: false, members: [] });
    expect(JSON.parse(notify(file, ['--primary', 'yes', '--members', 'u1/galera-1/a,u2/Bad_Name/b,u3/x"]y/c'])!)).toEqual({ primary: true, members: ['galera-1'] });
  });

  test('a state change without a view leaves view.json alone, and nothing ever fails mariadbd', () => {
    const file = path.join(dir, 'view2.json');
    expect(notify(file, ['--status', 'Donor/Desynced'])).toBeUndefined();
    // An unwritable place: still exit 0 (execFileSync would throw otherwise), and no file.
    expect(notify(path.join(dir, 'missing', 'view.json'), ['--primary', 'yes', '--members', 'u/galera-0/a'])).toBeUndefined();
    expect(fs.readdirSync(dir).filter((name) => name.includes('.tmp.'))).toEqual([]);
  });
});
