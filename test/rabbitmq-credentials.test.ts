/**
 * credentials.sh without a broker: its functions on a kubelet-style Secret volume, and the watcher against a stub
 * rabbitmqctl that keeps each user's "cluster-wide" password in a file (authenticate_user compares stdin with it,
 * change_password writes stdin to it). The real 3.10 cluster runs the same script in
 * test/integration/rabbitmq-rotation.test.ts.
 */
import { ChildProcess, spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { installFiles } from './integration/support/certs';
import { killAll, spawnInGroup, until } from './support/background-script';

const SCRIPT = join(__dirname, '..', 'assets', 'rabbitmq', 'credentials.sh');

describe('credentials.sh', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'rmq-credentials-'));
    mkdirSync(join(dir, 'bin'));
    mkdirSync(join(dir, 'cluster'));
    // The stub broker: down while $dir/down exists; the password of user U is the file cluster/U.
    writeFileSync(join(dir, 'bin', 'rabbitmqctl'), [
      '#!/bin/bash',
      'printf "%s\\n" "$*" >> "$STUB_LOG"',
      '[[ -e $STUB_DIR/down ]] && { echo "Error: unable to perform an operation on node" >&2; exit 69; }',
      'cmd=$4 user=$5',
      'IFS= read -r pw',
      'case $cmd in',
      '  authenticate_user) [[ -f $STUB_DIR/cluster/$user && $(<"$STUB_DIR/cluster/$user") == "$pw" ]] && exit 0; echo "Error: failed to authenticate user \\"$user\\"" >&2; exit 65 ;;',
      '  change_password) [[ -f $STUB_DIR/cluster/$user ]] || { echo "Error: user $user does not exist" >&2; exit 70; }; printf "%s" "$pw" > "$STUB_DIR/cluster/$user"; echo "changed $user" >> "$STUB_DIR/changes" ;;',
      'esac',
    ].join('\n'));
    chmodSync(join(dir, 'bin', 'rabbitmqctl'), 0o755);
  });
  afterEach(() => {
    killAll(children);
    rmSync(dir, { recursive: true, force: true });
  });

  const volume = () => join(dir, 'credentials');
  const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
    PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, STUB_DIR: dir, STUB_LOG: join(dir, 'calls'), RABBITMQ_CREDENTIALS_DIR: volume(),
    RABBITMQ_NODENAME: 'rabbit@ctl-1', RABBITMQ_CREDENTIALS_POLL_SECONDS: '0.1', RABBITMQ_CREDENTIALS_RETRY_SECONDS: '1', ...extra,
  });
  const setCluster = (user: string, password: string) => writeFileSync(join(dir, 'cluster', user), password);
  const cluster = (user: string) => readFileSync(join(dir, 'cluster', user), 'utf8');
  const calls = () => (existsSync(join(dir, 'calls')) ? readFileSync(join(dir, 'calls'), 'utf8') : '');
  const changes = () => (existsSync(join(dir, 'changes')) ? readFileSync(join(dir, 'changes'), 'utf8').trim().split('\n') : []);
  const fn = (body: string) => spawnSync('bash', ['-c', `set -euo pipefail; . "${SCRIPT}"; ${body}`], { encoding: 'utf8', env: env() });

  /** The watcher, started as start.sh starts it: the fingerprint of what was rendered on stdin. */
  function watch(rendered: string): { stderr: () => string } {
    let stderr = '';
    const child = spawnInGroup(children, 'bash', [SCRIPT, 'watch'], { env: env(), stdio: ['pipe', 'ignore', 'pipe'] });
    child.stderr!.on('data', (chunk) => { stderr += chunk; });
    child.stdin!.end(rendered);
    return { stderr: () => stderr };
  }

  test('loads each file as the placeholder variable, byte for byte, not exported; lists users only, not the kubelet\'s ..data entries', () => {
    installFiles(volume(), { 'admin': 'a"b\\c', 'nova-api.v2': 'p w\n' });
    const r = fn('credentials_users; credentials_load; declare -p RABBITMQ_PASSWORD_ADMIN RABBITMQ_PASSWORD_NOVA_API_V2; env | grep -c PASSWORD || true');
    expect(r.stdout).toBe('admin\nnova-api.v2\ndeclare -- RABBITMQ_PASSWORD_ADMIN="a\\"b\\\\c"\ndeclare -- RABBITMQ_PASSWORD_NOVA_API_V2=$\'p w\\n\'\n0\n');
    expect(fn('credentials_fingerprint').stdout).toMatch(/^admin [0-9a-f]{64}\nnova-api\.v2 [0-9a-f]{64}\n$/);
    // No volume: nothing to export or watch (passwords come as env vars).
    expect(spawnSync('bash', ['-c', `set -euo pipefail; . "${SCRIPT}"; credentials_users; credentials_load; credentials_fingerprint; echo done`],
      { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } }).stdout).toBe('done\n');
  });

  test('a changed file: the password changes by stdin, never an argument, and no log line holds it; unchanged users are left alone', async () => {
    installFiles(volume(), { admin: 'admin-1', nova: 'nova-1' });
    setCluster('admin', 'admin-1');
    setCluster('nova', 'nova-1');
    const w = watch(fn('credentials_fingerprint').stdout);
    await until('the watcher to start', () => w.stderr().includes('watching 2 password file(s)'));
    installFiles(volume(), { admin: 'admin-1', nova: 'nova-2 secret' });
    await until('the change', () => changes().length === 1);
    expect(cluster('nova')).toBe('nova-2 secret');
    expect(cluster('admin')).toBe('admin-1');
    expect(calls()).toBe('-q -n rabbit@ctl-1 authenticate_user nova\n-q -n rabbit@ctl-1 change_password nova\n');
    await until('the log', () => w.stderr().includes('user nova: password changed'));
    expect(w.stderr()).not.toContain('nova-2');
  });

  test('another broker changed it first: authenticate_user succeeds and nothing is changed (idempotent across brokers)', async () => {
    installFiles(volume(), { nova: 'nova-1' });
    setCluster('nova', 'nova-1');
    const w = watch(fn('credentials_fingerprint').stdout);
    await until('the watcher to start', () => w.stderr().includes('watching 1'));
    setCluster('nova', 'nova-2');
    installFiles(volume(), { nova: 'nova-2' });
    await until('the check', () => w.stderr().includes('user nova: the new password already works'));
    expect(changes()).toEqual([]);
    expect(calls()).toBe('-q -n rabbit@ctl-1 authenticate_user nova\n');
  });

  test('a file swapped between the render and the watcher\'s start is applied; a broker that does not answer yet is retried', async () => {
    installFiles(volume(), { nova: 'nova-1' });
    setCluster('nova', 'nova-1');
    const rendered = fn('credentials_fingerprint').stdout;
    installFiles(volume(), { nova: 'nova-2' });
    writeFileSync(join(dir, 'down'), '');
    const w = watch(rendered);
    await until('a failed attempt', () => w.stderr().includes('the broker does not answer yet (rabbitmqctl exit 69): retry in 1s'));
    rmSync(join(dir, 'down'));
    await until('the change', () => changes().length === 1, 10_000);
    expect(cluster('nova')).toBe('nova-2');
  });

  test('a password rabbitmqctl would trim (whitespace at an end) or a control character is not applied, and said once', async () => {
    installFiles(volume(), { nova: 'nova-1' });
    setCluster('nova', 'nova-1');
    const w = watch(fn('credentials_fingerprint').stdout);
    await until('the watcher to start', () => w.stderr().includes('watching 1'));
    installFiles(volume(), { nova: ' nova-2' });
    await until('the refusal', () => w.stderr().includes('user nova: its new password is empty, has a control character, or begins or ends with whitespace (rabbitmqctl would trim it): not applied live'));
    installFiles(volume(), { nova: 'nova\u00073' });
    await until('the second refusal', () => w.stderr().split('not applied live').length === 3);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(w.stderr().split('not applied live').length).toBe(3);
    expect(calls()).toBe('');
    expect(cluster('nova')).toBe('nova-1');
  });

  test('a failed change_password is retried, and its error is logged without the password', async () => {
    installFiles(volume(), { ghost: 'g-1' });
    const w = watch(fn('credentials_fingerprint').stdout);
    await until('the watcher to start', () => w.stderr().includes('watching 1'));
    installFiles(volume(), { ghost: 'g-2' });
    await until('two attempts', () => w.stderr().split('change_password failed').length === 3, 10_000);
    expect(w.stderr()).toContain('user ghost: change_password failed: Error: user ghost does not exist; retry in 1s');
    expect(w.stderr()).not.toContain('g-2');
  });
});
