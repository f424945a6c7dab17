/**
 * A real RabbitMQ cluster (Debian's rabbitmq-server) run from a synthesized `RabbitDaemonSet`: each broker in its
 * own network namespace on a bridge inside another namespace, so each uses the ports a host-network pod would, and
 * `rabbit@<node>` resolves only through the generated erl_inetrc host table. Client namespaces (no broker) can sit
 * on the same bridge. Test files use different namespace names and addresses, so they can coexist.
 *
 * Each broker is the DaemonSet's container as the kubelet would run it: its command, its env (downward API and
 * Secret references resolved, `$(VAR)` expanded), and its volumes filled from the synthesized ConfigMaps and from
 * test Secrets. Mount paths that exist on this host (/etc/rabbitmq, /var/lib/rabbitmq) are bind mounts in a
 * private mount namespace, so the rendered config's paths are used verbatim; the others are rewritten to temp
 * dirs in the env and command; the host's /tmp stands in for the /tmp emptyDir.
 */
import { ChildProcess, spawn, spawnSync, SpawnSyncReturns } from 'child_process';
import { appendFileSync, closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { isDeepStrictEqual } from 'util';
import { Chart } from 'cdk8s';
import { Placement, RabbitDaemonSet, RabbitVersion, SecretValue } from '../../../lib';
import { adminAndNova } from '../../support/fixtures';
import { find, K8sObject } from '../../support/harness';
import { installFiles } from './certs';

export const RABBIT_BIN = '/usr/lib/rabbitmq/bin';
export const PYTHON = '/usr/bin/python3';
/** Mount paths that exist on a Debian host with rabbitmq-server: bind-mounted, so their paths stay verbatim. */
const BIND_MOUNTED = ['/etc/rabbitmq', '/var/lib/rabbitmq'];
/** The host's /tmp stands in for the pod's /tmp emptyDir (the test's own files live there). */
const HOST_PROVIDED = ['/tmp'];

export interface NetnsHost {
  readonly name: string;
  readonly ip: string;
}

export interface RabbitClusterLayout {
  /** The namespace that holds the bridge. */
  readonly bridge: string;
  /** The brokers' namespaces (= node names) and addresses, in the DaemonSet's node order. */
  readonly nodes: readonly NetnsHost[];
  /** Namespaces on the bridge without a broker, for clients. @default none */
  readonly clients?: readonly NetnsHost[];
  /** The synthesized DaemonSet's name. */
  readonly daemonSet: string;
  /** The test's Secrets: what the manifest's secretKeyRefs and Secret volumes point at. */
  readonly secretValue: (name: string, key: string) => string;
  /** Erlang's net_ticktime; a cut-off node notices in ~1.5 x this. @default 10 (60 in production) */
  readonly netTicktimeSeconds?: number;
  /** More env for every broker (test settings such as RABBITMQ_FEATURE_FLAGS). @default none */
  readonly extraEnv?: Record<string, string>;
}

export function sh(cmd: string, args: string[], timeoutMs = 60_000, env?: NodeJS.ProcessEnv): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, env: env ?? process.env });
}

export function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/** What running the cluster needs on this machine. */
export function missingRabbitTools(): string[] {
  const missing: string[] = [];
  if (sh('ip', ['-V']).status !== 0) missing.push('ip (iproute2)');
  if (!existsSync(`${RABBIT_BIN}/rabbitmq-server`)) missing.push('rabbitmq-server (Debian package rabbitmq-server)');
  if (sh(PYTHON, ['-c', 'import pika']).status !== 0) missing.push('python3-pika');
  if (typeof process.getuid === 'function' && process.getuid() !== 0) missing.push('root (network namespaces)');
  return missing;
}

/**
 * The RabbitDaemonSet the cluster tests run: Debian's 3.10 broker on `nodes`, users admin and nova (Secret
 * `rabbitmq-users`), the Erlang cookie from `cookieSecret`/cookie, 1 GiB of memory, a 50 MB disk limit.
 */
export function debianRabbitDaemonSet(chart: Chart, name: string, nodes: readonly NetnsHost[], cookieSecret: string): RabbitDaemonSet {
  return new RabbitDaemonSet(chart, name, {
    placement: Placement.onNodes([...nodes]),
    version: RabbitVersion.V3_10,
    image: 'debian-rabbitmq-server-3.10',
    erlangCookie: SecretValue.fromSecret(cookieSecret, 'cookie'),
    users: adminAndNova(),
    resources: { memoryRequestMiB: 1024, memoryLimitMiB: 1024 },
    diskFreeLimitBytes: 50_000_000,
  });
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined; throws with `what` on timeout. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(1000);
  }
}

/**
 * Distributed state (a node's view of the cluster, a listener, maintenance status) is waited for, never sampled
 * once: each broker notices a change at its own time. Polls until `probe()` deep-equals `expected`; on timeout the
 * error shows the last value seen.
 */
export async function eventually<T>(what: string, timeoutMs: number, probe: () => T, expected: T): Promise<void> {
  let last: T | undefined;
  try {
    await waitFor(what, timeoutMs, () => {
      last = probe();
      return isDeepStrictEqual(last, expected) ? true : undefined;
    });
  } catch (err) {
    throw new Error(`${(err as Error).message}: expected ${JSON.stringify(expected)}, last seen ${JSON.stringify(last)}`);
  }
}

/** The hard open-files limit of this process: the containers get it, with the soft one at 1024 (containerd 2). */
export const HARD_NOFILE = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1]);

/** The afterAll of a cluster test: stops the cluster, then prints the figures the tests collected (even when stopping fails). */
export async function tearDownAndPrint(cluster: RabbitNamespaceCluster | undefined, title: string, figures: readonly string[]): Promise<void> {
  try {
    await cluster?.tearDown();
  } finally {
    const lines = [...figures, ...(cluster?.restarts ?? []).map((r) => `container restart: ${r}`)];
    // eslint-disable-next-line no-console
    if (lines.length > 0) console.log(`${title}:\n${lines.map((f) => `  ${f}`).join('\n')}`);
  }
}

/** Number of mirrors (3.10 lists none as "" or []). */
export const mirrors = (pids: unknown): number => (Array.isArray(pids) ? pids.length : 0);

export class RabbitNamespaceCluster {
  public readonly work: string;
  /** The broker container of the synthesized DaemonSet. */
  public container: any;
  private objects: K8sObject[] = [];
  private readonly brokers = new Map<string, ChildProcess>();
  /** The kubelet's restarts of each node's exited container (see `startBroker`), and their pending timers. */
  private readonly restartCounts = new Map<string, number>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  /** Every restart, said once per test file by `tearDownAndPrint`: a crash the kubelet would hide is still seen. */
  public readonly restarts: string[] = [];
  /** The broker nodes: the layout's, and the ones `addNodes` adds (a grown inventory). */
  private readonly nodes: NetnsHost[];

  public constructor(private readonly layout: RabbitClusterLayout) {
    this.nodes = [...layout.nodes];
    this.deleteNamespaces(); // leftovers of an interrupted run
    this.work = mkdtempSync(join(tmpdir(), `${layout.bridge}-`));
  }

  public nodeDir(node: string): string {
    return join(this.work, node);
  }

  /** The local directory behind a volume of the pod on `node`. */
  public volumeDir(node: string, volume: string): string {
    return join(this.nodeDir(node), 'volumes', volume);
  }

  /** The bridge-side end of a node's link: `ip -n <bridge> link set <it> down` cuts the node off. */
  public linkOf(node: string): string {
    return `v${node.slice(-1)}`;
  }

  /** The bridge, one namespace per broker and client with its address, and each broker's volumes from `objects`. */
  public setUp(objects: K8sObject[]): void {
    this.objects = objects;
    this.container = find(objects, 'DaemonSet', this.layout.daemonSet).spec.template.spec.containers.find((c: any) => c.name === 'rabbitmq');
    const bridge = this.layout.bridge;
    must('ip', ['netns', 'add', bridge]);
    must('ip', ['-n', bridge, 'link', 'add', 'br0', 'type', 'bridge']);
    must('ip', ['-n', bridge, 'link', 'set', 'br0', 'up']);
    this.addHosts([...this.layout.nodes, ...(this.layout.clients ?? [])]);
    for (const node of this.layout.nodes) {
      mkdirSync(join(this.nodeDir(node.name), 'log'), { recursive: true });
      this.createVolumes(node.name);
    }
  }

  /**
   * Nodes that join the inventory later (a grown cluster, a replacement controller): their namespaces on the bridge.
   * Their volumes are filled by `refreshVolumes` from the objects of `applyObjects`.
   */
  public addNodes(hosts: readonly NetnsHost[]): void {
    const added = hosts.filter((h) => !this.nodes.some((n) => n.name === h.name));
    this.nodes.push(...added);
    this.addHosts(added);
    for (const node of added) mkdirSync(join(this.nodeDir(node.name), 'log'), { recursive: true });
  }

  /** The next apply: brokers started from now on run its container with its ConfigMaps (see `refreshVolumes`). */
  public applyObjects(objects: K8sObject[]): void {
    this.objects = objects;
    this.container = find(objects, 'DaemonSet', this.layout.daemonSet).spec.template.spec.containers.find((c: any) => c.name === 'rabbitmq');
  }

  /** A new pod on `node`: its ConfigMap and Secret volumes filled from the current objects (hostPath data kept). */
  public refreshVolumes(node: string): void {
    this.createVolumes(node);
  }

  private addHosts(hosts: readonly NetnsHost[]): void {
    const bridge = this.layout.bridge;
    for (const host of hosts) {
      const peer = this.linkOf(host.name);
      must('ip', ['netns', 'add', host.name]);
      must('ip', ['-n', bridge, 'link', 'add', peer, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', host.name]);
      must('ip', ['-n', bridge, 'link', 'set', peer, 'master', 'br0', 'up']);
      must('ip', ['-n', host.name, 'addr', 'add', `${host.ip}/24`, 'dev', 'eth0']);
      must('ip', ['-n', host.name, 'link', 'set', 'eth0', 'up']);
      must('ip', ['-n', host.name, 'link', 'set', 'lo', 'up']);
    }
  }

  /** Fills the pod's volumes on `node` from the synthesized ConfigMaps and the test Secrets. */
  private createVolumes(node: string): void {
    for (const volume of find(this.objects, 'DaemonSet', this.layout.daemonSet).spec.template.spec.volumes) {
      const dir = this.volumeDir(node, volume.name);
      mkdirSync(dir, { recursive: true });
      if (volume.configMap) {
        for (const [file, text] of Object.entries<string>(find(this.objects, 'ConfigMap', volume.configMap.name).data)) writeFileSync(join(dir, file), text);
      } else if (volume.secret) {
        for (const item of volume.secret.items) writeFileSync(join(dir, item.path), this.layout.secretValue(volume.secret.secretName, item.key), { mode: 0o400 });
      } else if (volume.projected) {
        this.syncProjectedVolume(node, volume.name);
      }
    }
  }

  /**
   * Writes a projected Secret volume of the pod on `node` from the test's Secrets as they are now, the way the kubelet
   * updates it in place (a fresh `..<n>` directory, one atomic rename of `..data`): a test calls this per node, at
   * the times it chooses, to stand for each node's kubelet noticing a changed Secret.
   */
  public syncProjectedVolume(node: string, volumeName: string): void {
    const volume = find(this.objects, 'DaemonSet', this.layout.daemonSet).spec.template.spec.volumes.find((v: any) => v.name === volumeName);
    const files: Record<string, string> = {};
    for (const source of volume.projected.sources) {
      for (const item of source.secret.items) files[item.path] = this.layout.secretValue(source.secret.name, item.key);
    }
    installFiles(this.volumeDir(node, volumeName), files);
  }

  /** A mount path that does not exist here becomes its volume's local dir in env values and commands. */
  private rewritePaths(node: string, text: string): string {
    let out = text;
    for (const m of this.container.volumeMounts) {
      if (![...BIND_MOUNTED, ...HOST_PROVIDED].includes(m.mountPath)) out = out.split(m.mountPath).join(this.volumeDir(node, m.name));
    }
    return out;
  }

  /** The container's env as the kubelet builds it on this node: downward API, Secrets, `$(VAR)` expansion. */
  private nodeEnv(node: NetnsHost): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { PATH: `${RABBIT_BIN}:/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C.UTF-8' };
    const fields: Record<string, string> = { 'spec.nodeName': node.name, 'status.hostIP': node.ip };
    for (const e of this.container.env) {
      if (e.valueFrom?.fieldRef) env[e.name] = fields[e.valueFrom.fieldRef.fieldPath];
      else if (e.valueFrom?.secretKeyRef) env[e.name] = this.layout.secretValue(e.valueFrom.secretKeyRef.name, e.valueFrom.secretKeyRef.key);
      else env[e.name] = this.rewritePaths(node.name, (e.value as string).replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g, (ref, name) => env[name] ?? ref));
    }
    return {
      ...env,
      // Debian's log dir belongs to the rabbitmq user; the official image logs to the console only.
      RABBITMQ_LOG_BASE: join(this.nodeDir(node.name), 'log'),
      // Test only: a cut-off node notices in ~15 s instead of ~75 s.
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS: `${env.RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS} -kernel net_ticktime ${this.layout.netTicktimeSeconds ?? 10}`,
      ...this.layout.extraEnv,
    };
  }

  /** `command` in the node's "container": its network namespace, a private mount namespace with the bind mounts, its env. */
  private containerArgs(node: string, command: string[]): string[] {
    const binds = this.container.volumeMounts.filter((m: any) => BIND_MOUNTED.includes(m.mountPath))
      .map((m: any) => `mount --bind ${this.volumeDir(node, m.name)} ${m.mountPath}`);
    return ['netns', 'exec', node, 'unshare', '--mount', '--propagation', 'private', 'bash', '-c',
      `${binds.join(' && ')} && exec "$@"`, 'container', ...command.map((c) => this.rewritePaths(node, c))];
  }

  /**
   * Starts the node's broker container. Like the kubelet (the DaemonSet's pods restart always), a container that
   * exits without `stopBroker` is started again after the kubelet's back-off (10 s, doubling up to 5 min), and the
   * restart is written to its log and to `restarts`. RabbitMQ 3.10 can fail a boot when two brokers with data boot
   * at the same moment (r9, session 32: `incompatible_feature_flags` from `maps:get(depends_on, undefined)`, the
   * booting broker asking its booting peer to enable a flag that peer's registry does not know yet): in a cluster
   * the kubelet restarts it and it joins; without the restart the harness kept a cluster no pod would have.
   */
  public startBroker(node: NetnsHost): void {
    this.cancelRestart(node.name);
    const logFile = join(this.nodeDir(node.name), 'broker.log');
    const log = openSync(logFile, 'a');
    // As containerd 2 starts a container: soft open-files limit 1024, hard limit high.
    const child = spawn('prlimit', [`--nofile=1024:${HARD_NOFILE}`, '--', 'ip', ...this.containerArgs(node.name, this.container.command)], {
      env: this.nodeEnv(node), stdio: ['ignore', log, log], detached: true,
    });
    closeSync(log);
    this.brokers.set(node.name, child);
    child.once('exit', (code, signal) => {
      if (this.brokers.get(node.name) !== child) return; // stopped by stopBroker, or started again since
      const count = (this.restartCounts.get(node.name) ?? 0) + 1;
      this.restartCounts.set(node.name, count);
      const backOffSeconds = Math.min(10 * 2 ** (count - 1), 300);
      // The container's other processes (epmd, post-start.sh, the credentials watcher) end with it.
      for (const pid of this.namespacePids(node.name)) sh('kill', ['-KILL', pid]);
      const what = `${node.name}: the container exited (${code ?? signal}) at ${new Date().toISOString()}; restarted after ${backOffSeconds} s (kubelet back-off, restart ${count})`;
      this.restarts.push(what);
      appendFileSync(logFile, `harness: ${what}\n`);
      this.restartTimers.set(node.name, setTimeout(() => {
        this.restartTimers.delete(node.name);
        if (this.brokers.get(node.name) === child) this.startBroker(node);
      }, backOffSeconds * 1000));
    });
  }

  private cancelRestart(node: string): void {
    clearTimeout(this.restartTimers.get(node));
    this.restartTimers.delete(node);
  }

  /**
   * Starts every broker together, as a DaemonSet's pods start, and waits (bounded) until the first node sees them all
   * running (`timeoutMs`). Returns the seconds that took (the formation figure).
   */
  public async startAllBrokers(timeoutMs = 300_000): Promise<number> {
    const t0 = Date.now();
    for (const node of this.layout.nodes) this.startBroker(node);
    const count = this.layout.nodes.length;
    // Formation takes 36-53 s on an idle 2-core machine; 90 s (plain) and over 150 s (TLS distribution) were seen
    // with the suite sharing the cores with other real-daemon work. The bound only ends a hang, so it is generous.
    await this.waitFor(`${count} running nodes`, timeoutMs, () => (this.runningNodes(this.layout.nodes[0].name)?.length === count ? true : undefined));
    return (Date.now() - t0) / 1000;
  }

  /**
   * waitFor on the cluster's state: a wait that times out carries what each broker sees (its running nodes) and the
   * tails of every broker's log, the only way to diagnose a cluster that never converged once the test has torn down.
   */
  public async waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined): Promise<T> {
    try {
      return await waitFor(what, timeoutMs, probe);
    } catch (e) {
      const views = this.layout.nodes.map((n) => `${n.name}: ${this.isStarted(n.name) ? `running nodes ${JSON.stringify(this.runningNodes(n.name) ?? null)}` : 'not started'}`
        + `${this.restartCounts.has(n.name) ? `, container restarted ${this.restartCounts.get(n.name)} time(s)` : ''}`);
      throw new Error(`${(e as Error).message}\n${views.join('\n')}\n${this.layout.nodes.map((n) => this.logTail(n.name, 25)).join('\n')}`);
    }
  }

  /** The last `lines` lines of a broker's console log (the start script's and the broker's output), headed by its name. */
  public logTail(node: string, lines: number): string {
    const file = join(this.nodeDir(node), 'broker.log');
    const text = existsSync(file) ? readFileSync(file, 'utf8') : '(no log)';
    return `--- ${node} broker.log (last ${lines} lines) ---\n${text.split('\n').slice(-lines - 1).join('\n')}`;
  }

  public isStarted(node: string): boolean {
    return this.brokers.has(node);
  }

  /** Stops every process in the node's namespace (broker, epmd, CLI leftovers): all were started by this test. */
  public async stopBroker(node: string): Promise<void> {
    // Stopped by the test: its exit is not a crash the kubelet would restart, and its next start is a new pod's.
    this.brokers.delete(node);
    this.cancelRestart(node);
    this.restartCounts.delete(node);
    for (const pid of this.namespacePids(node)) sh('kill', ['-TERM', pid]);
    const deadline = Date.now() + 30_000;
    while (this.namespacePids(node).length > 0 && Date.now() < deadline) await sleep(500);
    for (const pid of this.namespacePids(node)) sh('kill', ['-KILL', pid]);
    while (this.namespacePids(node).length > 0) await sleep(200);
  }

  /** Every process in a network namespace (a broker's, a client's or the bridge's). */
  private namespacePids(namespace: string): string[] {
    return (sh('ip', ['netns', 'pids', namespace]).stdout ?? '').split('\n').filter((p) => p.trim() !== '');
  }

  /** A command in the node's namespace with the container's env (what kubectl exec, probes and hooks get). */
  public inContainer(node: string, command: string[], timeoutMs = 30_000): SpawnSyncReturns<string> {
    const env = this.nodeEnv(this.nodes.find((n) => n.name === node)!);
    return sh('ip', this.containerArgs(node, command), timeoutMs, env);
  }

  /** rabbitmqctl as a CLI inside the node's namespace would run it: same cookie, same host table. */
  public ctl(node: string, args: string[], timeoutMs = 30_000): SpawnSyncReturns<string> {
    return this.inContainer(node, [`${RABBIT_BIN}/rabbitmqctl`, '-n', `rabbit@${node}`, ...args], timeoutMs);
  }

  public runningNodes(node: string): string[] | undefined {
    const r = this.ctl(node, ['cluster_status', '--formatter', 'json']);
    if (r.status !== 0) return undefined;
    // The JSON line only: the CLI prints Erlang's log reports to stdout too (e.g. with distribution over TLS).
    const json = r.stdout.split('\n').filter((l) => l.startsWith('{"')).pop();
    return json === undefined ? undefined : (JSON.parse(json).running_nodes as string[]).sort();
  }

  public isRunning(node: string): boolean | undefined {
    const r = this.ctl(node, ['eval', 'rabbit:is_running().'], 15_000);
    const out = r.stdout.trim().split('\n').pop();
    return out === 'true' ? true : out === 'false' ? false : undefined;
  }

  public amqpPortOpen(node: NetnsHost): boolean {
    return sh('ip', ['netns', 'exec', node.name, 'bash', '-c', `exec 3<>/dev/tcp/${node.ip}/5672`], 10_000).status === 0;
  }

  public queues(node: string, vhost: string): Record<string, any> {
    const r = this.ctl(node, ['list_queues', '-p', vhost, 'name', 'durable', 'policy', 'messages', 'slave_pids', 'synchronised_slave_pids', '--formatter', 'json']);
    if (r.status !== 0) throw new Error(`list_queues failed: ${r.stderr}${r.stdout}`);
    return Object.fromEntries((JSON.parse(r.stdout) as any[]).map((q) => [q.name, q]));
  }

  public deleteNamespaces(): void {
    for (const ns of [...this.nodes, ...(this.layout.clients ?? [])].map((n) => n.name).concat(this.layout.bridge)) {
      if (!sh('ip', ['netns', 'list']).stdout.split('\n').some((l) => l.split(' ')[0] === ns)) continue;
      for (const pid of this.namespacePids(ns)) sh('kill', ['-KILL', pid]);
      sh('ip', ['netns', 'del', ns]);
    }
  }

  /** Stops every broker, removes the namespaces and the temp dir, even when a step fails. */
  public async tearDown(): Promise<void> {
    try {
      for (const node of this.nodes) if (this.brokers.has(node.name)) await this.stopBroker(node.name);
    } finally {
      this.deleteNamespaces();
      rmSync(this.work, { recursive: true, force: true });
    }
  }
}
