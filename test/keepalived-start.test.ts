/**
 * The keepalived container's start script (lib/keepalived/start.ts), run by bash with stand-ins for `ip` (who
 * answers for which address), `keepalived` (the listener counts adverts on SIGUSR2; the real start only logs) and
 * `sleep`, its paths in a temporary directory. The addresses are on loopback (127.31.0.x): the datagram the script
 * sends to resolve an address stays on this machine. The real daemons: test/integration/keepalived-join.test.ts.
 */
import { ChildProcess, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { renderKeepalivedConf } from '../lib/keepalived/render';
import { keepalivedCommand, renderStartScript } from '../lib/keepalived/start';
import { killAll, spawnInGroup } from './support/background-script';
import { threeNodeVip } from './support/fixtures';

const MODEL = threeNodeVip({
  address: '127.31.0.100',
  nodes: ['lb-a', 'lb-b', 'lb-c'].map((name, i) => ({ name, address: `127.31.0.${11 + i}`, priority: [254, 128, 2][i] })),
  stateMetrics: true,
});
const MAC = { a: '02:00:00:00:00:0a', b: '02:00:00:00:00:0b', c: '02:00:00:00:00:0c', x: '02:00:00:00:00:99' };

const IP_STUB = `#!/bin/bash
echo "ip $*" >>"$STUB/calls"
case "$1 $2" in
  "neigh show")
    mac=$(sed -n "s/^$4 //p" "$STUB/answers")
    if [ -n "$mac" ]; then echo "$4 lladdr $mac REACHABLE"; elif [ -n "\${INCOMPLETE:-}" ]; then echo "$4  INCOMPLETE"; else echo "$4  FAILED"; fi ;;
  "addr del") [ -f "$STUB/stale" ] && rm "$STUB/stale" && exit 0; exit 2 ;;
esac
exit 0
`;

/** The listener counts an advert from the HEAR_AFTER-th SIGUSR2 on; the real start logs its arguments and ends. */
const KEEPALIVED_STUB = `#!/bin/bash
echo "keepalived $*" >>"$STUB/calls"
case " $* " in *" --signum=STATS "*) echo 12; exit 0 ;; esac
for a; do case $a in --use-file=*) file=\${a#--use-file=} ;; --vrrp_pid=*) vrrp_pid=\${a#--vrrp_pid=} ;; esac; done
case " $* " in *" --config-test "*) [ -f "$STUB/refuse" ] && echo "Configuration error: malformed unicast peer" && exit 5; exit 0 ;; esac
if [[ $file != */listen/* ]]; then
  cp "$METRICS" "$STUB/metrics-at-start"
  [ -z "\${KEEP_RUNNING:-}" ] && exit 0
  trap 'echo "keepalived reload: $(cat "$file")" >>"$STUB/calls"' HUP
  trap 'exit 0' TERM
  while :; do /bin/sleep 0.02; done
fi
cp "$file" "$STUB/listen.conf"
for f in "\${vrrp_pid%/*}"/keepalived.pid "$vrrp_pid"; do [ -e "$f" ] && echo "listener found $f" >>"$STUB/calls"; done
cp "$METRICS" "$STUB/metrics-while-waiting"
echo $$ >"$vrrp_pid"
[ -n "\${LISTENER_EXITS:-}" ] && echo "Stopped - bad config" && exit 1
[ -n "\${PEERS_DIE:-}" ] && : >"$STUB/answers"
n=0
trap 'n=$((n + 1)); r=0; [ "$n" -ge "\${HEAR_AFTER:-1000000}" ] && r=1; printf "VRRP Instance: VI_x\\n  Advertisements:\\n    Received: %s\\n    Sent: 0\\n  Priority Zero:\\n    Received: 0\\n" "$r" >"$TMPDIR/keepalived.stats"' USR2
trap 'echo "listener stopped" >>"$STUB/calls"; exit 0' TERM
while :; do /bin/sleep 0.02; done
`;

interface Run {
  readonly status: number | null;
  readonly out: string;
  readonly calls: string[];
  readonly stub: string;
  readonly run: string;
  readonly file: (name: string) => string;
}

const roots: string[] = [];
/** The scripts a test runs in the background, each in a process group of its own: a failed test leaves none behind. */
const children: ChildProcess[] = [];
afterEach(() => killAll(children));
afterAll(() => { for (const root of roots) fs.rmSync(root, { recursive: true, force: true }); });

function setUp(answers: Record<string, string>, options: { stale?: boolean; noIp?: boolean; pidFiles?: boolean } = {}) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'kvjn-unit-'));
  roots.push(root);
  const stub = path.join(root, 'stub');
  const bin = path.join(root, 'bin');
  fs.mkdirSync(stub);
  fs.mkdirSync(bin);
  const write = (name: string, text: string) => fs.writeFileSync(path.join(bin, name), text, { mode: 0o755 });
  if (!options.noIp) write('ip', IP_STUB);
  write('keepalived', KEEPALIVED_STUB);
  write('sleep', '#!/bin/sh\nexec /bin/sleep 0.01\n');
  // Only what the image has besides these: coreutils and sed (PATH holds nothing else, so `ip` can be missing).
  for (const tool of ['mkdir', 'rm', 'mv', 'cp', 'sed', 'cat', 'cksum']) fs.symlinkSync(spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' }).stdout.trim(), path.join(bin, tool));
  fs.writeFileSync(path.join(stub, 'answers'), Object.entries(answers).map(([a, m]) => `${a} ${m}\n`).join(''));
  fs.writeFileSync(path.join(stub, 'calls'), '');
  if (options.stale) fs.writeFileSync(path.join(stub, 'stale'), '');
  // The ConfigMap volume: one file per node of the inventory (the script reads its node's interface, address and peers).
  fs.mkdirSync(path.join(root, 'etc'));
  for (const [key, text] of Object.entries(renderKeepalivedConf(MODEL))) fs.writeFileSync(path.join(root, 'etc', key), text);
  const run = path.join(root, 'run');
  if (options.pidFiles) {
    // What a restarted container finds in its emptyDir: the last container's PID files (PIDs alive again).
    fs.mkdirSync(run);
    for (const f of ['keepalived.pid', 'vrrp.pid']) fs.writeFileSync(path.join(run, f), '1\n');
  }
  const script = renderStartScript(MODEL).split('/run/keepalived').join(run).split('/etc/keepalived').join(path.join(root, 'etc'));
  const env = (node: string, extra: Record<string, string>) => ({
    PATH: bin, NODE_NAME: node, STUB: stub, METRICS: path.join(run, 'metrics', 'vrrp.prom'), ...extra,
  });
  const result = (status: number | null, out: string): Run => ({
    status, out, stub, run,
    calls: fs.readFileSync(path.join(stub, 'calls'), 'utf8').trim().split('\n').filter(Boolean).map((c) => c.split(root).join('<tmp>')),
    file: (name: string) => fs.readFileSync(path.join(stub, name), 'utf8'),
  });
  return { stub, script, env, result, etc: path.join(root, 'etc') };
}

function start(node: string, answers: Record<string, string>, options: { stale?: boolean; noIp?: boolean; pidFiles?: boolean; env?: Record<string, string> } = {}): Run {
  const s = setUp(answers, options);
  const r = spawnSync('/bin/bash', ['-c', s.script], { env: s.env(node, options.env ?? {}), encoding: 'utf8', timeout: 30_000 });
  return s.result(r.status, `${r.stdout}${r.stderr}`);
}

const REAL = (node: string) => 'keepalived --dont-fork --log-console --log-detail --vrrp --pid=<tmp>/run/keepalived.pid ' +
  `--vrrp_pid=<tmp>/run/vrrp.pid --use-file=<tmp>/etc/${node}.conf`;
const LISTENER = 'keepalived --dont-fork --log-console --vrrp --pid=<tmp>/run/keepalived.pid ' +
  '--vrrp_pid=<tmp>/run/vrrp.pid --use-file=<tmp>/run/listen/keepalived.conf';

describe('the keepalived start script', () => {
  test('is one bash -c argument without a single quote (it stays one word in any shell quoting)', () => {
    const [shell, flag, script] = keepalivedCommand(MODEL);
    expect([shell, flag]).toEqual(['/bin/bash', '-c']);
    expect(script).not.toContain('\'');
    expect(spawnSync('/bin/bash', ['-n', '-c', script]).status).toBe(0);
  });

  test('nobody answers for the VIP (a cold start): keepalived at once, the metrics say not the holder', () => {
    const r = start('lb-a', { '127.31.0.12': MAC.b });
    expect(r.out).toContain('keepalived-start: nobody answers for the VIP: bidding');
    expect(r.calls).toContain('ip addr del 127.31.0.100/24 dev eth0');
    expect(r.calls).toContain('ip neigh del 127.31.0.100 dev eth0');
    expect(r.calls.filter((c) => c.startsWith('keepalived'))).toEqual([REAL('lb-a')]);
    expect(r.file('metrics-at-start')).toBe('keepalived_vrrp_master 0\nkeepalived_vrrp_fault 0\n');
    expect(r.status).toBe(0);
  });

  test('a peer holds the VIP: a listener that never bids runs until an advert arrives, then keepalived', () => {
    const r = start('lb-a', { '127.31.0.100': MAC.b, '127.31.0.12': MAC.b, '127.31.0.13': MAC.c }, { env: { HEAR_AFTER: '3' }, pidFiles: true });
    expect(r.out).toContain('keepalived-start: peer 127.31.0.12 holds the VIP: not bidding until a peer sends this node an advert');
    expect(r.out).toMatch(/keepalived-start: an advert from a peer arrived after \d+ s: bidding as usual/);
    expect(r.out).not.toContain('WARNING');
    // The last container's PID files are gone before the listener starts (it would refuse: "already running").
    expect(r.calls.filter((c) => c.startsWith('listener found'))).toEqual([]);
    expect(r.calls.filter((c) => c.startsWith('keepalived') || c === 'listener stopped')).toEqual([
      'keepalived --signum=STATS', LISTENER, 'listener stopped', REAL('lb-a'),
    ]);
    // The listener: the same instance, VIP and peers; priority 1, a 40 s advert and 100 adverts before it could bid.
    expect(r.file('listen.conf')).toBe([
      'global_defs {', '  vrrp_version 3', '}',
      'vrrp_instance VI_api_listen {', '  state BACKUP', '  nopreempt', '  interface eth0', '  virtual_router_id 51', '  priority 1',
      '  advert_int 40', '  down_timer_adverts 100', '  unicast_src_ip 127.31.0.11', '  unicast_peer {',
      '    127.31.0.12 min_ttl 255 max_ttl 255', '    127.31.0.13 min_ttl 255 max_ttl 255', '  }', '  unicast_fault_no_peer',
      '  virtual_ipaddress {', '    127.31.0.100/24 dev eth0', '  }', '}', '',
    ].join('\n'));
    // Out of the election while waiting: the metrics say FAULT, then "not the holder" when keepalived starts.
    expect(r.file('metrics-while-waiting')).toBe('keepalived_vrrp_master 0\nkeepalived_vrrp_fault 1\n');
    expect(r.file('metrics-at-start')).toBe('keepalived_vrrp_master 0\nkeepalived_vrrp_fault 0\n');
    expect(r.status).toBe(0);
  });

  test('the first probe waits 1 s by the clock for an answer that is still being resolved, however fast the polls', () => {
    const t0 = Date.now();
    const r = start('lb-a', {}, { env: { INCOMPLETE: '1' } });
    const took = Date.now() - t0;
    expect(r.out).toContain('keepalived-start: nobody answers for the VIP: bidding');
    // sleep is 10 ms here: ten polls would take 0.1 s, the window is 1 s.
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(r.calls.filter((c) => c === 'ip neigh show to 127.31.0.100 dev eth0').length).toBeGreaterThan(10);
  });

  test('a host that is none of the peers answers for the VIP: WARNING, keepalived at once (waiting would never end)', () => {
    const r = start('lb-b', { '127.31.0.100': MAC.x, '127.31.0.11': MAC.a, '127.31.0.13': MAC.c });
    expect(r.out).toContain(`keepalived-start: WARNING: ${MAC.x} answers for the VIP and is none of the peers of this node (127.31.0.11 127.31.0.13)`);
    expect(r.calls.filter((c) => c.startsWith('keepalived'))).toEqual([REAL('lb-b')]);
  });

  test('a VIP left on this node by a killed keepalived is removed before the probe', () => {
    const r = start('lb-c', {}, { stale: true });
    expect(r.out).toContain('keepalived-start: removed the VIP left on eth0 by the previous keepalived of this node');
    expect(r.calls.indexOf('ip addr del 127.31.0.100/24 dev eth0')).toBeLessThan(r.calls.indexOf('ip neigh del 127.31.0.100 dev eth0'));
  });

  test('a node that is never added to the inventory: it waits for its file (bounded), then keepalived exits on the missing file (nothing probed)', () => {
    const r = start('lb-unknown', { '127.31.0.100': MAC.a }, { env: { KEEPALIVED_NODE_FILE_WAIT_SECONDS: '1' } });
    expect(r.out).toMatch(/keepalived-start: WARNING: no \S+\/etc\/"?lb-unknown"?\.conf: node lb-unknown is not in the inventory of this VIP \(yet\)\. Waiting up to 1 s/);
    expect(r.out).toMatch(/keepalived-start: WARNING: still no \S+ after [12] s: node lb-unknown is not in the inventory of this VIP; keepalived exits on the missing file/);
    // No address probed, no listener: only keepalived, which exits on the missing file ("Config files missing").
    expect(r.calls).toEqual([REAL('lb-unknown')]);
    expect(r.file('metrics-at-start')).toBe('keepalived_vrrp_master 0\nkeepalived_vrrp_fault 0\n');
  });

  test('a labelled node whose file arrives after its pod started: it waits (probes pass, FAULT, no claim), then starts as usual', async () => {
    const s = setUp({ '127.31.0.100': MAC.b, '127.31.0.12': MAC.b, '127.31.0.13': MAC.c });
    const file = path.join(s.etc, 'lb-a.conf');
    const text = fs.readFileSync(file, 'utf8');
    fs.rmSync(file);
    const child = spawnInGroup(children, '/bin/bash', ['-c', s.script], { env: s.env('lb-a', { HEAR_AFTER: '3' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    const exit = new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    const read = (f: string) => { try { return fs.readFileSync(f, 'utf8'); } catch { return ''; } };
    const vrrpPid = path.join(path.dirname(s.etc), 'run', 'vrrp.pid');
    const metrics = path.join(path.dirname(s.etc), 'run', 'metrics', 'vrrp.prom');
    try {
      const deadline = Date.now() + 10_000;
      while (!(read(vrrpPid).trim() === String(child.pid) && out.includes('not in the inventory')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      // What the probes read (kill -0 of vrrp.pid): the script itself. Out of the election: FAULT.
      expect(read(vrrpPid).trim()).toBe(String(child.pid));
      expect(read(metrics)).toBe('keepalived_vrrp_master 0\nkeepalived_vrrp_fault 1\n');
      // Nothing probed or started while there is no file.
      expect(s.result(null, '').calls).toEqual([]);
      fs.writeFileSync(file, text);
      expect(await exit).toBe(0);
    } finally {
      killAll(children);
    }
    const r = s.result(0, out);
    expect(r.out).toMatch(/keepalived-start: \S+lb-a"?\.conf appeared after \d+ s: starting/);
    expect(r.out).toContain('keepalived-start: peer 127.31.0.12 holds the VIP: not bidding until a peer sends this node an advert');
    // The PID file of the wait is gone before the listener starts (it would refuse: "already running").
    expect(r.calls.filter((c) => c.startsWith('listener found'))).toEqual([]);
    expect(r.calls.filter((c) => c.startsWith('keepalived') || c === 'listener stopped')).toEqual([
      'keepalived --signum=STATS', LISTENER, 'listener stopped', REAL('lb-a'),
    ]);
  });

  test('no ip command in the image, or a listener that stops: WARNING, keepalived at once', () => {
    const noIp = start('lb-a', {}, { noIp: true });
    expect(noIp.out).toContain('keepalived-start: WARNING: no ip command (iproute2) in the image: bidding without looking for a holder');
    expect(noIp.calls).toEqual([REAL('lb-a')]);
    const stopped = start('lb-a', { '127.31.0.100': MAC.b, '127.31.0.12': MAC.b }, { env: { LISTENER_EXITS: '1' } });
    expect(stopped.out).toContain('keepalived-start: advert listener: Stopped - bad config\nkeepalived-start: WARNING: the advert listener stopped (its log is above): bidding without waiting');
    expect(stopped.calls.filter((c) => c.startsWith('keepalived'))).toEqual(['keepalived --signum=STATS', LISTENER, REAL('lb-a')]);
  });

  test('the peers stop answering for the VIP while it waits (every holder gone): it bids within the 5 s re-probe', () => {
    const t0 = Date.now();
    const r = start('lb-a', { '127.31.0.100': MAC.b, '127.31.0.12': MAC.b }, { env: { PEERS_DIE: '1' } });
    expect(r.out).toContain('keepalived-start: no peer answers for the VIP any more (nobody): bidding');
    expect(r.calls.filter((c) => c.startsWith('keepalived') || c === 'listener stopped')).toEqual([
      'keepalived --signum=STATS', LISTENER, 'listener stopped', REAL('lb-a'),
    ]);
    expect(Date.now() - t0).toBeLessThan(15_000);
  });

  test('SIGTERM during the first probe (the pod deleted): the script ends (PID 1 would ignore it without a handler)', async () => {
    const s = setUp({});
    const child = spawnInGroup(children, '/bin/bash', ['-c', s.script], { env: s.env('lb-a', { INCOMPLETE: '1' }), stdio: 'ignore' });
    const exit = new Promise<[number | null, string | null]>((resolve) => child.once('exit', (c, sig) => resolve([c, sig])));
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGTERM');
    // Ended by its handler (status 0), not by the default action, and before keepalived started.
    expect(await exit).toEqual([0, null]);
    expect(s.result(0, '').calls.filter((c) => c.startsWith('keepalived'))).toEqual([]);
  });

  test('SIGTERM while waiting (the pod deleted): the listener is stopped and the script ends', async () => {
    const s = setUp({ '127.31.0.100': MAC.b, '127.31.0.12': MAC.b });
    const child = spawnInGroup(children, '/bin/bash', ['-c', s.script], { env: s.env('lb-a', {}), stdio: 'ignore' });
    let code: number | null;
    try {
      const deadline = Date.now() + 10_000;
      while (!fs.readFileSync(path.join(s.stub, 'calls'), 'utf8').includes('--use-file=') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, 200));
      code = await new Promise<number | null>((resolve) => { child.once('exit', (c) => resolve(c)); child.kill('SIGTERM'); });
    } finally {
      killAll(children);
    }
    expect(code).toBe(0);
    const r = s.result(code, '');
    expect(r.calls).toContain('listener stopped');
    expect(r.calls.filter((c) => c.startsWith('keepalived --dont-fork --log-console --log-detail'))).toEqual([]);
  });
  test('everything node-specific comes from the node\'s own file (the pod template names no node): a peer list of one', () => {
    const s = setUp({ '127.31.0.100': MAC.c, '127.31.0.13': MAC.c });
    const file = path.join(s.etc, 'lb-b.conf');
    fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('    127.31.0.11 min_ttl 255 max_ttl 255\n', ''));
    const out = spawnSync('/bin/bash', ['-c', s.script], { env: s.env('lb-b', { HEAR_AFTER: '2' }), encoding: 'utf8', timeout: 30_000 });
    const r = s.result(out.status, `${out.stdout}${out.stderr}`);
    expect(r.out).toContain('keepalived-start: peer 127.31.0.13 holds the VIP');
    expect(r.file('listen.conf')).toContain('  unicast_src_ip 127.31.0.12\n  unicast_peer {\n    127.31.0.13 min_ttl 255 max_ttl 255\n  }\n');
    expect(r.file('listen.conf')).toContain('  interface eth0\n');
  });

  test('the node\'s file changes (the kubelet swapped the ConfigMap): keepalived reloads it (SIGHUP); never a missing file or one keepalived -t refuses', async () => {
    const s = setUp({});
    const file = path.join(s.etc, 'lb-a.conf');
    const child = spawnInGroup(children, '/bin/bash', ['-c', s.script], { env: s.env('lb-a', { KEEP_RUNNING: '1' }), stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    const calls = () => s.result(null, '').calls;
    const until = async (what: () => boolean) => {
      const deadline = Date.now() + 10_000;
      while (!what() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return what();
    };
    try {
      expect(await until(() => calls().includes(REAL('lb-a')))).toBe(true);
      // Unchanged: nothing; changed: tested, then reloaded, once.
      await new Promise((r) => setTimeout(r, 300));
      expect(calls().filter((c) => c.startsWith('keepalived reload') || c.includes('--config-test'))).toEqual([]);
      fs.writeFileSync(`${file}.new`, fs.readFileSync(file, 'utf8').replace('127.31.0.13 min_ttl', '127.31.0.14 min_ttl'));
      fs.renameSync(`${file}.new`, file);
      expect(await until(() => calls().some((c) => c.startsWith('keepalived reload')))).toBe(true);
      expect(calls().filter((c) => c.includes('--config-test'))).toEqual(['keepalived --config-test --use-file=<tmp>/etc/lb-a.conf']);
      expect(calls().filter((c) => c.startsWith('keepalived reload'))).toHaveLength(1);
      expect(out).toContain('keepalived-start: <tmp>/etc/lb-a.conf changed: keepalived reloads it (it keeps its state and the VIP)'.replace('<tmp>', path.dirname(s.etc)));
      // Missing (keepalived would drop the instance and the VIP): no test, no reload.
      fs.renameSync(file, `${file}.gone`);
      await new Promise((r) => setTimeout(r, 500));
      // Refused by keepalived -t: a WARNING, no reload.
      fs.writeFileSync(path.join(s.stub, 'refuse'), '');
      fs.writeFileSync(file, 'unicast_peer { notanaddress }\n');
      expect(await until(() => out.includes('WARNING'))).toBe(true);
      await new Promise((r) => setTimeout(r, 300));
      expect(out).toMatch(/WARNING: \S+lb-a.conf changed but keepalived -t refuses it, so it is not loaded \(the running configuration stays\): Configuration error: malformed unicast peer/);
      expect(calls().filter((c) => c.startsWith('keepalived reload'))).toHaveLength(1);
      expect(calls().filter((c) => c.includes('--config-test'))).toHaveLength(2);
    } finally {
      child.kill('SIGTERM');
    }
  });
});
