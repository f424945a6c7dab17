/**
 * The broker's release checks without a broker: release.sh's functions on crafted input, start.sh refusing a data dir
 * a skipped or newer release line ran (a crafted marker, a stub rabbitmq-server), and post-start.sh against a stub
 * rabbitmqctl whose cluster the test changes while it waits. The real 3.10 broker runs the same scripts in
 * test/integration/rabbitmq-release.test.ts.
 */
import { ChildProcess, spawnSync } from 'child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { brokerEnv, brokerTemplateFiles } from '../lib/rabbitmq/container';
import { rabbitScripts } from '../lib/rabbitmq/assets';
import { resolveRabbitCluster } from '../lib/rabbitmq/model';
import { RABBITMQ_LINES } from '../lib/rabbitmq/upgrade';
import { RabbitVersion } from '../lib/rabbitmq/version';
import { killAll, runScriptInBackground, until } from './support/background-script';
import { adminAndNova, NODES } from './support/fixtures';

const ASSETS = join(__dirname, '..', 'assets', 'rabbitmq');
const LINES = RABBITMQ_LINES.join(' ');
const cluster = () => resolveRabbitCluster({ clusterName: 'openstack', version: RabbitVersion.V4_0, nodes: NODES, users: adminAndNova() }, 'test');

/** A function of release.sh, run by bash: `fn args...`, with `input` on stdin. */
function release(fn: string, args: string[], env: Record<string, string> = {}, input = ''): { status: number | null; stdout: string } {
  const r = spawnSync('bash', ['-c', `. "${join(ASSETS, 'release.sh')}"; ${fn} "$@"`, 'x', ...args],
    { input, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', RABBITMQ_RELEASE_LINES: LINES, ...env } });
  return { status: r.status, stdout: r.stdout };
}

/** `rabbitmqctl cluster_status --formatter json` as RabbitMQ prints it: members, running nodes, their versions. */
function clusterStatus(members: string[], running: Record<string, string>): string {
  return JSON.stringify({
    alarms: [], cluster_name: 'openstack', disk_nodes: members, running_nodes: Object.keys(running), partitions: {},
    versions: Object.fromEntries(Object.entries(running).map(([n, v]) => [n, { erlang_version: '26.2.5', rabbitmq_name: 'RabbitMQ', rabbitmq_version: v }])),
    feature_flags: [{ name: 'quorum_queue', state: 'enabled' }],
  });
}

describe('release.sh', () => {
  test('the construct hands the scripts the release lines of the plan, and ships the three scripts', () => {
    expect(brokerEnv(cluster()).find((e) => e.name === 'RABBITMQ_RELEASE_LINES')?.value).toBe(LINES);
    expect(Object.keys(rabbitScripts()).sort()).toEqual(['credentials.sh', 'post-start.sh', 'release.sh', 'start.sh']);
  });

  test('the verdict follows the supported upgrade paths: the next line, a skip with its path, a downgrade', () => {
    const verdict = (from: string, to: string, env: Record<string, string> = {}) => release('rabbit_line_verdict', [from, to], env).stdout;
    expect(verdict('3.13', '3.13')).toBe('same\t\n');
    expect(verdict('3.13', '4.0')).toBe('next\t\n');
    expect(verdict('3.10', '3.13')).toBe('skip\t3.10 -> 3.11 -> 3.12 -> 3.13\n');
    expect(verdict('4.0', '3.13')).toBe('downgrade\t\n');
    expect(verdict('4.3', '5.0')).toMatch(/^unknown\trelease lines known: 3\.8 .* 4\.3\n$/);
    expect(verdict('3.13', '4.0', { RABBITMQ_RELEASE_LINES: '' })).toBe('unknown\trelease lines known: none (RABBITMQ_RELEASE_LINES not set)\n');
  });

  test('the image\'s release: RABBITMQ_VERSION (official image), else the one installed rabbit application', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rmq-release-'));
    try {
      expect(release('rabbit_image_version', [], { RABBITMQ_VERSION: '4.1.8', RABBITMQ_HOME: dir }).stdout).toBe('4.1.8');
      mkdirSync(join(dir, 'plugins', 'rabbit-4.0.9'), { recursive: true });
      mkdirSync(join(dir, 'plugins', 'rabbit_common-4.0.9'), { recursive: true });
      expect(release('rabbit_image_version', [], { RABBITMQ_HOME: dir }).stdout).toBe('4.0.9');
      // Two rabbit applications: which one runs is not known, so nothing is claimed.
      mkdirSync(join(dir, 'plugins', 'rabbit-4.1.8'));
      expect(release('rabbit_image_version', [], { RABBITMQ_HOME: dir }).stdout).toBe('');
      expect(release('rabbit_line_of', ['3.13.7']).stdout).toBe('3.13');
      expect(release('rabbit_line_of', ['latest']).status).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the cluster is on a line only when every member runs, reports that line, and every listed broker is a member', () => {
    const onLine = (status: string, ...listed: string[]) => release('rabbit_cluster_on_line', [status, '4.0', ...listed]);
    const all = ['rabbit@ctl-1', 'rabbit@ctl-2', 'rabbit@ctl-3'];
    expect(onLine(clusterStatus(all, { 'rabbit@ctl-1': '4.0.9', 'rabbit@ctl-2': '4.0.9', 'rabbit@ctl-3': '4.0.9' }), ...all)).toEqual({ status: 0, stdout: '' });
    // Mid-roll: one broker still on 3.13.
    expect(onLine(clusterStatus(all, { 'rabbit@ctl-1': '4.0.9', 'rabbit@ctl-2': '3.13.7', 'rabbit@ctl-3': '4.0.9' }), ...all))
      .toEqual({ status: 1, stdout: 'rabbit@ctl-2 (runs 3.13.7)' });
    // A stopped member: it may be a broker of the old line that has not restarted yet.
    expect(onLine(clusterStatus(all, { 'rabbit@ctl-1': '4.0.9', 'rabbit@ctl-3': '4.0.9' }), ...all)).toEqual({ status: 1, stdout: 'rabbit@ctl-2 (not running)' });
    // A listed broker that is not a member at all (its pod not started yet).
    expect(onLine(clusterStatus(['rabbit@ctl-1'], { 'rabbit@ctl-1': '4.0.9' }), ...all))
      .toEqual({ status: 1, stdout: 'rabbit@ctl-2 (not running) rabbit@ctl-3 (not running)' });
    expect(onLine('', ...all)).toEqual({ status: 1, stdout: 'no running node listed' });
    // Node names are matched as text, not as patterns.
    expect(onLine(clusterStatus(['rabbit@a.b'], { 'rabbit@a.b': '4.0.9', 'rabbit@axb': '3.13.7' })).stdout).toBe('rabbit@axb (runs 3.13.7)');
  });

  test('a disabled feature flag is seen in list_feature_flags\' output, with or without its header', () => {
    expect(release('rabbit_has_disabled_flag', [], {}, 'name\tstate\nquorum_queue\tenabled\nstream_queue\tdisabled\n').status).toBe(0);
    expect(release('rabbit_has_disabled_flag', [], {}, 'quorum_queue\tenabled\nstream_queue\tenabled\n').status).toBe(1);
    expect(release('rabbit_has_disabled_flag', [], {}, '').status).toBe(1);
  });
});

/** A temp dir with the broker's templates, cookie and data dir, and stubs on PATH that record their calls. */
class BrokerDir {
  public readonly dir = mkdtempSync(join(tmpdir(), 'rmq-release-'));

  public constructor() {
    mkdirSync(join(this.dir, 'template'));
    for (const [name, text] of Object.entries(brokerTemplateFiles(cluster(), join(this.dir, 'render')))) writeFileSync(join(this.dir, 'template', name), text);
    mkdirSync(join(this.dir, 'bin'));
    mkdirSync(join(this.dir, 'secret'));
    mkdirSync(join(this.dir, 'stub'));
    writeFileSync(join(this.dir, 'secret', '.erlang.cookie'), 'COOKIE', { mode: 0o400 });
    this.stub('rabbitmq-server', 'echo "server" >> "$STUB_LOG"');
    // rabbitmqctl: answers from files the test writes (stub/booted, stub/flags, stub/status.json).
    this.stub('rabbitmqctl', [
      'echo "$*" >> "$STUB_LOG"',
      'case " $* " in',
      '  *" await_startup "*) [[ -e $STUB_DIR/booted ]] ;;',
      '  *" list_feature_flags "*) cat "$STUB_DIR/flags" ;;',
      '  *" cluster_status "*) cat "$STUB_DIR/status.json" ;;',
      '  *" enable_feature_flag all "*) [[ ! -e $STUB_DIR/enable-fails ]] || { rm "$STUB_DIR/enable-fails"; exit 70; }; sed -i "s/disabled/enabled/" "$STUB_DIR/flags" ;;',
      '  *) exit 64 ;;',
      'esac',
    ].join('\n'));
  }

  public stub(name: string, body: string): void {
    writeFileSync(join(this.dir, 'bin', name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(this.dir, 'bin', name), 0o755);
  }

  public path(...parts: string[]): string {
    return join(this.dir, ...parts);
  }

  /** The data dir of rabbit@ctl-2 with a file in it (a broker that ran), and the release marker beside it. */
  public ranWith(marker: string | undefined): void {
    mkdirSync(this.path('mnesia', 'rabbit@ctl-2'), { recursive: true });
    writeFileSync(this.path('mnesia', 'rabbit@ctl-2', 'cluster_nodes.config'), '');
    if (marker !== undefined) writeFileSync(this.path('mnesia', 'rabbit@ctl-2-release'), `${marker}\n`);
  }

  public env(extra: Record<string, string>): NodeJS.ProcessEnv {
    return {
      PATH: `${this.path('bin')}:/usr/bin:/bin`,
      HOME: this.path('home'),
      RABBITMQ_NODENAME: 'rabbit@ctl-2',
      HOST_IP: '10.0.0.12',
      RABBITMQ_TEMPLATE_DIR: this.path('template'),
      RABBITMQ_RENDER_DIR: this.path('render'),
      RABBITMQ_COOKIE_SOURCE: this.path('secret', '.erlang.cookie'),
      RABBITMQ_MNESIA_BASE: this.path('mnesia'),
      RABBITMQ_PASSWORD_ADMIN: 'admin',
      RABBITMQ_PASSWORD_NOVA: 'nova',
      RABBITMQ_RELEASE_LINES: LINES,
      RABBITMQ_POST_START_SCRIPT: '',
      STUB_LOG: this.path('calls'),
      STUB_DIR: this.path('stub'),
      ...extra,
    };
  }

  public calls(): string[] {
    return existsSync(this.path('calls')) ? readFileSync(this.path('calls'), 'utf8').trim().split('\n') : [];
  }

  public remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

describe('start.sh: the release line of the data dir', () => {
  let b: BrokerDir;
  beforeEach(() => { b = new BrokerDir(); });
  afterEach(() => b.remove());

  const start = (env: Record<string, string>) => {
    const r = spawnSync('bash', [join(ASSETS, 'start.sh')], { encoding: 'utf8', timeout: 20_000, env: b.env(env) });
    return { status: r.status, stderr: r.stderr, calls: b.calls() };
  };

  test('a skipped line is refused before the broker starts, naming the line to run first and the whole path', () => {
    b.ranWith('3.13.7');
    const r = start({ RABBITMQ_VERSION: '4.1.8' });
    expect(r.status).toBe(1);
    expect(r.calls).toEqual([]);
    expect(r.stderr).toContain(`FATAL: the data dir (${b.path('mnesia', 'rabbit@ctl-2')}) was last run by RabbitMQ 3.13.7; this image runs 4.1.8, which skips release lines: `
      + 'RabbitMQ upgrades one line at a time. Fix: run RabbitMQ 4.0 on this node first (the whole path: 3.13 -> 4.0 -> 4.1, one rolling upgrade per line, '
      + 'every stable feature flag enabled after each; README, "Day 2: RabbitMQ 3.13 -> 4.x"), or set the image back to 3.13');
  });

  test('a downgrade is refused with both ways out', () => {
    b.ranWith('4.1.8');
    const r = start({ RABBITMQ_VERSION: '4.0.9' });
    expect(r.status).toBe(1);
    expect(r.calls).toEqual([]);
    expect(r.stderr).toMatch(/FATAL: the data dir \(.*\) was last run by RabbitMQ 4\.1\.8, a newer release line than this image's 4\.0\.9: RabbitMQ does not support downgrades\. Fix: set the image back to RabbitMQ 4\.1 \(or newer\); or, while the other brokers run, empty this broker's data dir/);
  });

  test('the same or the next line starts; so does a data dir without a marker, or an image whose release is unknown, with a note', () => {
    b.ranWith('4.0.3');
    expect(start({ RABBITMQ_VERSION: '4.0.9' })).toMatchObject({ status: 0, calls: ['server'] });
    rmSync(b.path('calls'));
    const next = start({ RABBITMQ_VERSION: '4.1.8' });
    expect(next).toMatchObject({ status: 0, calls: ['server'] });
    expect(next.stderr).toContain('the data dir was last run by RabbitMQ 4.0.3; this image runs 4.1.8, the next release line: the broker upgrades it');
    rmSync(b.path('calls'));
    rmSync(b.path('mnesia', 'rabbit@ctl-2-release'));
    const unmarked = start({ RABBITMQ_VERSION: '4.1.8' });
    expect(unmarked).toMatchObject({ status: 0, calls: ['server'] });
    expect(unmarked.stderr).toContain('the data dir has no release marker');
    rmSync(b.path('calls'));
    b.ranWith('3.8.0');
    const unknown = start({ RABBITMQ_VERSION: 'nightly', RABBITMQ_HOME: b.path('nowhere') });
    expect(unknown).toMatchObject({ status: 0, calls: ['server'] });
    expect(unknown.stderr).toContain('cannot tell which RabbitMQ release this image runs (no RABBITMQ_VERSION, no single rabbit-X.Y.Z application)');
  });

  test('a blank data dir is not checked (a stale marker beside it is ignored): nothing on it to upgrade', () => {
    mkdirSync(b.path('mnesia'), { recursive: true });
    writeFileSync(b.path('mnesia', 'rabbit@ctl-2-release'), '3.8.0\n');
    b.stub('rabbitmqctl', 'echo "$*" >> "$STUB_LOG"; exit 0'); // a running peer forgets this node
    const r = start({ RABBITMQ_VERSION: '4.1.8' });
    expect(r.status).toBe(0);
    expect(r.calls.at(-1)).toBe('server');
    expect(r.stderr).not.toMatch(/last run by|release marker|release this image runs/);
  });

  test('post-start.sh is started in the background before the broker', () => {
    b.ranWith('4.0.9');
    b.stub('post-start', 'echo "post-start $RABBITMQ_NODENAME" >> "$STUB_LOG"');
    const r = start({ RABBITMQ_VERSION: '4.0.9', RABBITMQ_POST_START_SCRIPT: b.path('bin', 'post-start') });
    expect(r.status).toBe(0);
    for (let i = 0; i < 100 && b.calls().length < 2; i++) spawnSync('sleep', ['0.05']);
    expect(b.calls().sort()).toEqual(['post-start rabbit@ctl-2', 'server']);
  });
});

describe('post-start.sh: the release marker and the feature flags', () => {
  let b: BrokerDir;
  const children: ChildProcess[] = [];
  beforeEach(() => { b = new BrokerDir(); });
  afterEach(() => {
    killAll(children);
    b.remove();
  });

  const ALL = ['rabbit@ctl-1', 'rabbit@ctl-2', 'rabbit@ctl-3'];

  const postStart = () => runScriptInBackground(join(ASSETS, 'post-start.sh'), b.env({ RABBITMQ_VERSION: '4.0.9', RABBITMQ_POST_START_POLL_SECONDS: '0.05' }), children);

  const enables = () => b.calls().filter((c) => c.includes('enable_feature_flag')).length;
  const marker = () => (existsSync(b.path('mnesia', 'rabbit@ctl-2-release')) ? readFileSync(b.path('mnesia', 'rabbit@ctl-2-release'), 'utf8') : undefined);

  test('waits for the boot, records the release, and enables the flags only once every broker runs the new line', async () => {
    mkdirSync(b.path('mnesia'));
    writeFileSync(b.path('stub', 'flags'), 'quorum_queue\tenabled\nmessage_containers\tdisabled\n');
    writeFileSync(b.path('stub', 'status.json'), clusterStatus(ALL, { 'rabbit@ctl-1': '3.13.7', 'rabbit@ctl-2': '4.0.9', 'rabbit@ctl-3': '3.13.7' }));
    const run = postStart();
    await until('a few looks for the boot', () => b.calls().filter((c) => c.includes('await_startup')).length >= 3);
    expect(marker()).toBeUndefined(); // not booted: nothing recorded
    writeFileSync(b.path('stub', 'booted'), '');
    await until('the roll to be waited for', () => run.stderr().includes('waiting for: rabbit@ctl-1 (runs 3.13.7) rabbit@ctl-3 (runs 3.13.7)'));
    expect(marker()).toBe('4.0.9\n');
    // ctl-1 restarts on 4.0 (stopped for a while), then ctl-3 is the last one on 3.13.
    writeFileSync(b.path('stub', 'status.json'), clusterStatus(ALL, { 'rabbit@ctl-2': '4.0.9', 'rabbit@ctl-3': '3.13.7' }));
    await until('the stopped member to be seen', () => run.stderr().includes('waiting for: rabbit@ctl-1 (not running) rabbit@ctl-3 (runs 3.13.7)'));
    writeFileSync(b.path('stub', 'status.json'), clusterStatus(ALL, { 'rabbit@ctl-1': '4.0.9', 'rabbit@ctl-2': '4.0.9', 'rabbit@ctl-3': '3.13.7' }));
    await until('the last broker to be waited for', () => run.stderr().includes('waiting for: rabbit@ctl-3 (runs 3.13.7)\n'));
    expect(enables()).toBe(0);
    writeFileSync(b.path('stub', 'status.json'), clusterStatus(ALL, { 'rabbit@ctl-1': '4.0.9', 'rabbit@ctl-2': '4.0.9', 'rabbit@ctl-3': '4.0.9' }));
    expect(await run.exit).toBe(0);
    expect(enables()).toBe(1);
    expect(b.calls().at(-1)).toBe('-n rabbit@ctl-2 -q enable_feature_flag all');
    expect(run.stderr()).toContain('every broker runs RabbitMQ 4.0: enabled every stable feature flag (rabbitmqctl enable_feature_flag all)');
    // Each reason is logged once, not every look.
    expect(run.stderr().split('waiting for: rabbit@ctl-3 (runs 3.13.7)\n').length).toBe(2);
  }, 30_000);

  test('an enable that fails (a broker left between the look and the call) is retried', async () => {
    mkdirSync(b.path('mnesia'));
    writeFileSync(b.path('stub', 'booted'), '');
    writeFileSync(b.path('stub', 'enable-fails'), '');
    writeFileSync(b.path('stub', 'flags'), 'stream_queue\tdisabled\n');
    writeFileSync(b.path('stub', 'status.json'), clusterStatus(ALL, { 'rabbit@ctl-1': '4.0.9', 'rabbit@ctl-2': '4.0.9', 'rabbit@ctl-3': '4.0.9' }));
    const run = postStart();
    expect(await run.exit).toBe(0);
    expect(enables()).toBe(2);
    expect(run.stderr()).toContain('waiting for: enable_feature_flag all failed');
    expect(readFileSync(b.path('stub', 'flags'), 'utf8')).toBe('stream_queue\tenabled\n');
  }, 30_000);

  test('an image whose release is unknown: no marker, and the flags are left to the operator', async () => {
    mkdirSync(b.path('mnesia'));
    writeFileSync(b.path('stub', 'booted'), '');
    const run = runScriptInBackground(join(ASSETS, 'post-start.sh'), b.env({ RABBITMQ_VERSION: '', RABBITMQ_HOME: b.path('nowhere') }), children);
    expect(await run.exit).toBe(0);
    expect(marker()).toBeUndefined();
    expect(run.stderr()).toContain('which RabbitMQ release runs is unknown: no release marker written; feature flags are left to the operator');
    expect(b.calls()).toEqual(['-n rabbit@ctl-2 -q -t 300 await_startup']);
  });

  test('a restart with every flag enabled records the release and leaves the cluster alone', async () => {
    mkdirSync(b.path('mnesia'));
    writeFileSync(b.path('stub', 'booted'), '');
    writeFileSync(b.path('stub', 'flags'), 'quorum_queue\tenabled\n');
    const run = postStart();
    expect(await run.exit).toBe(0);
    expect(marker()).toBe('4.0.9\n');
    expect(b.calls()).toEqual(['-n rabbit@ctl-2 -q -t 300 await_startup', '-n rabbit@ctl-2 -q list_feature_flags name state']);
    expect(run.stderr()).toContain('no feature flag is disabled');
  });
});
