import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

describe('entrypoint state (sourced, with a fake mariadbd for --wsrep-recover)', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'galera-state-'));
    fs.mkdirSync(path.join(dir, 'bin'));
    // Prints what `mariadbd --wsrep-recover` logs, into its --log-error file.
    fs.writeFileSync(path.join(dir, 'bin/mariadbd'), `#!/bin/bash
for a in "$@"; do case $a in --log-error=*) log=\${a#*=} ;; esac; done
echo "2026-01-01 0 [Note] WSREP: Recovered position: $FAKE_RECOVERED" >"$log"
`, { mode: 0o755 });
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  function establish(files: Record<string, string>, recovered = '00000000-0000-0000-0000-000000000000:-1'): Record<string, unknown> {
    const data = fs.mkdtempSync(path.join(dir, 'data-'));
    for (const [name, content] of Object.entries(files)) {
      if (name.endsWith('/')) fs.mkdirSync(path.join(data, name), { recursive: true });
      else fs.writeFileSync(path.join(data, name), content);
    }
    const run = fs.mkdtempSync(path.join(dir, 'run-'));
    execFileSync('bash', ['--norc', '-c', `. ${path.resolve(__dirname, '../assets/galera/entrypoint.sh')}; establish_state 2>/dev/null; write_state 2>/dev/null`], {
      env: { PATH: `${dir}/bin:${process.env.PATH}`, GALERA_DATADIR: data, GALERA_RUN_DIR: run, FAKE_RECOVERED: recovered },
    });
    return JSON.parse(fs.readFileSync(path.join(run, 'state.json'), 'utf8'));
  }

  const UUID = '6f3c1c7e-0c39-11ef-9a4b-2b8c5a7d3e11';
  const grastate = (seqno: number, safe = 0) => `# GALERA saved state\nversion: 2.1\nuuid:    ${UUID}\nseqno:   ${seqno}\nsafe_to_bootstrap: ${safe}\n`;

  test('an empty volume, and one a failed first SST left (no mysql/), are empty', () => {
    expect(establish({})).toEqual(expect.objectContaining({ data: 'empty', safeToBootstrap: false, hasViewState: false }));
    expect(establish({ 'grastate.dat': '', 'galera.cache': 'x' }).data).toBe('empty');
    expect(establish({ 'mysql/': '', 'sst_in_progress': '' }).data).toBe('empty');
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
