/**
 * The VIP layer's pods (the DaemonSets api-vip and api-lb of OpenStackControlPlane) played in network namespaces,
 * and what the controller-replacement proofs measure through the VIP (replace-controller.test.ts,
 * vip-inventory.test.ts):
 * - keepalived as its container runs (support/vrrp.ts `startKeepalived`), its ConfigMap volume written as the kubelet
 *   writes one (each key a symlink through `..data`, an update a rename of that symlink), Ready when its VRRP PID
 *   file exists plus the probe's 2 s delay;
 * - HAProxy with its container's command (the ConfigMap and run directories at the image's paths), its reloader
 *   sidecar, and a deletion as the kubelet does it (both preStop hooks at once);
 * - a client that requests the VIP every 50 ms, and the figures: failed requests, gaps, intervals without a holder.
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { find, K8sObject } from '../../support/harness';
import { Daemons } from './daemons';
import { BridgedNodes, sh } from './netns';
import { HolderTimeline, startKeepalived } from './vrrp';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A controller: its node name, network namespace and address. */
export interface LayerNode {
  readonly name: string;
  readonly ns: string;
  readonly address: string;
}

/** What the control plane renders for the VIP layer, from the synthesized manifests. */
export interface RenderedVipLayer {
  readonly keepalivedFiles: Record<string, string>;
  readonly keepalivedCommand: string[];
  readonly keepalivedCapabilities: string[];
  readonly haproxyCfg: string;
  /** The api-lb DaemonSet's containers. */
  readonly haproxy: any;
  readonly reloader: any;
  readonly reloaderScript: string;
}

/**
 * A proof's network: controllers ctl-a..ctl-d (`<prefix>-a`..`-d`, .11-.14), the API's backend (`<prefix>-api`, .60),
 * the client (`<prefix>-cl`, .50) and the VIP (.100) on `<subnet>.0/24`, bridged by `<prefix>br0` in `<prefix>-br`.
 * Each proof passes its own prefix and subnet, so none shares a name or an address with another.
 */
export function vipTestNetwork(prefix: string, subnet: string) {
  const [a, b, c, d]: LayerNode[] = ['a', 'b', 'c', 'd'].map((x, i) => ({ name: `ctl-${x}`, ns: `${prefix}-${x}`, address: `${subnet}.${11 + i}` }));
  const api: LayerNode = { name: 'api', ns: `${prefix}-api`, address: `${subnet}.60` };
  const client: LayerNode = { name: 'client', ns: `${prefix}-cl`, address: `${subnet}.50` };
  const network: BridgedNodes = { bridgeNs: `${prefix}-br`, bridge: `${prefix}br0`, nodes: [a, b, c, d, api, client] };
  return { vip: `${subnet}.100`, controllers: [a, b, c, d] as const, api, client, network };
}

/** The VIP layer of a synthesized OpenStackControlPlane (DaemonSets api-vip and api-lb and their ConfigMaps). */
export function renderedVipLayer(objects: K8sObject[]): RenderedVipLayer {
  const containers = (ds: string) => find(objects, 'DaemonSet', ds).spec.template.spec.containers as any[];
  const [keepalived] = containers('api-vip');
  const lb = containers('api-lb');
  return {
    keepalivedFiles: find(objects, 'ConfigMap', 'api-vip-config').data as Record<string, string>,
    keepalivedCommand: keepalived.command as string[],
    keepalivedCapabilities: keepalived.securityContext.capabilities.add as string[],
    haproxyCfg: find(objects, 'ConfigMap', 'api-lb-config').data['haproxy.cfg'] as string,
    haproxy: lb.find((c) => c.name === 'haproxy'),
    reloader: lb.find((c) => c.name === 'reloader'),
    reloaderScript: find(objects, 'ConfigMap', 'api-lb-reloader').data['reloader.js'] as string,
  };
}

/** A node's running pods' processes. */
export interface NodePods {
  keepalived?: ChildProcess;
  haproxy?: ChildProcess;
  reloader?: ChildProcess;
  memcached?: ChildProcess;
  /** The reloader's preStop hook (disables /healthz). */
  drain?: () => ChildProcess;
  /** The directory that plays the keepalived pod's ConfigMap volume. */
  keepalivedConfig?: string;
}

export const inNs = (ns: string, command: string[]) => ['netns', 'exec', ns, ...command];

export function exited(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Polls every 100 ms; resolves with the time waited, or throws after `timeoutMs` with `detail()`. */
export async function waitUntil(what: string, ready: () => boolean, timeoutMs: number, detail = () => ''): Promise<number> {
  const start = Date.now();
  while (!ready()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail() ? `:\n${detail()}` : ''}`);
    await sleep(100);
  }
  return Date.now() - start;
}

/** One DaemonSet's RollingUpdate over `nodes` (maxUnavailable 1): each pod deleted, recreated, Ready, then the next. */
export async function roll<N extends LayerNode>(name: string, nodes: N[], stop: (n: N) => Promise<void>, start: (n: N) => Promise<void>): Promise<string> {
  const times: string[] = [];
  for (const node of nodes) {
    const t0 = Date.now();
    await stop(node);
    await start(node);
    times.push(`${node.name} ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return `${name}: ${times.join(', ')}`;
}

/**
 * A ConfigMap volume as the kubelet writes it: each key a symlink through `..data` to a versioned directory, and an
 * update a new directory swapped in by renaming the `..data` symlink (readers see the old or the new files, never half).
 */
export function projectConfigMap(dir: string, files: Record<string, string>): void {
  fs.mkdirSync(dir, { recursive: true });
  const version = `..${Date.now()}.${Math.random().toString(36).slice(2)}`;
  fs.mkdirSync(path.join(dir, version));
  for (const [key, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, version, key), text);
  const old = fs.existsSync(path.join(dir, '..data')) ? fs.readlinkSync(path.join(dir, '..data')) : undefined;
  fs.symlinkSync(version, path.join(dir, '..data_tmp'));
  fs.renameSync(path.join(dir, '..data_tmp'), path.join(dir, '..data'));
  for (const key of Object.keys(files)) if (!fs.existsSync(path.join(dir, key))) fs.symlinkSync(path.join('..data', key), path.join(dir, key));
  for (const entry of fs.readdirSync(dir)) {
    if (!entry.startsWith('..') && !(entry in files)) fs.unlinkSync(path.join(dir, entry));
  }
  if (old) fs.rmSync(path.join(dir, old), { recursive: true, force: true });
}

/**
 * The rendered haproxy.cfg with every Kubernetes Service name replaced by the address that plays it (no cluster DNS
 * here; which pods are behind a Service is kube-proxy's business), and maxconn 4000: the rendered 10000 needs 20,042
 * descriptors, this machine's hard limit is 20,000 and cannot be raised here (HAProxy would refuse to start, "Cannot
 * raise FD limit", as in a container with that limit).
 */
export function withServiceAddress(cfg: string, address: string): string {
  return cfg.replace(/ [a-z0-9-]+\.openstack\.svc\.cluster\.local:(\d+) (.*) resolvers k8s init-addr last,libc,none$/gm, ` ${address}:$1 $2`)
    .replace(/^ {2}maxconn 10000$/m, '  maxconn 4000');
}

/** The pods of the VIP layer on each node, their files under `work`. */
export class VipLayerPods {
  private readonly pods = new Map<string, NodePods>();
  private podCount = 0;

  public constructor(private readonly daemons: Daemons, private readonly work: string,
    private readonly options: { readonly statsPort: number; readonly apiAddress: string }) {}

  public pod(node: LayerNode): NodePods {
    if (!this.pods.has(node.name)) this.pods.set(node.name, {});
    return this.pods.get(node.name)!;
  }

  public log(node: LayerNode, what: string): string {
    return path.join(this.work, `${node.name}-${what}.log`);
  }

  public readLog(node: LayerNode, what: string): string {
    return fs.existsSync(this.log(node, what)) ? fs.readFileSync(this.log(node, what), 'utf8') : '';
  }

  /** Starts the node's keepalived pod (a new emptyDir, the ConfigMap volume); resolves when Ready (vrrp.pid, then the 2 s delay). */
  public async startVipPod(node: LayerNode, r: RenderedVipLayer): Promise<void> {
    const n = ++this.podCount;
    const runDir = path.join(this.work, `${node.name}-vip-run-${n}`);
    fs.mkdirSync(runDir, { recursive: true });
    const config = path.join(this.work, `${node.name}-vip-config-${n}`);
    projectConfigMap(config, r.keepalivedFiles);
    this.pod(node).keepalivedConfig = config;
    this.pod(node).keepalived = startKeepalived(this.daemons, {
      ns: node.ns, nodeName: node.name, configMap: config, runDir, logPath: this.log(node, 'keepalived'),
      command: r.keepalivedCommand, capabilities: r.keepalivedCapabilities,
    });
    await waitUntil(`${node.name}'s keepalived to write vrrp.pid`, () => fs.existsSync(path.join(runDir, 'vrrp.pid')), 60_000,
      () => this.readLog(node, 'keepalived').slice(-2000));
    await sleep(2000);
  }

  /** Deletes the pod: SIGTERM (keepalived sends priority 0 and removes the VIP), waits for the exit. */
  public async stopVipPod(node: LayerNode): Promise<void> {
    const k = this.pod(node).keepalived;
    k?.kill('SIGTERM');
    await exited(k);
  }

  public healthz(node: LayerNode): string {
    return sh('ip', inNs(node.ns, ['curl', '-q', '--silent', '--output', '/dev/null', '--write-out', '%{http_code}', '--max-time', '1',
      `http://127.0.0.1:${this.options.statsPort}/healthz`])).output;
  }

  /** Starts the node's api-lb pod (HAProxy and its reloader); resolves when HAProxy is Ready (/healthz answers 200). */
  public async startLbPod(node: LayerNode, r: RenderedVipLayer): Promise<void> {
    const n = ++this.podCount;
    const etc = path.join(this.work, `${node.name}-lb-etc-${n}`);
    const run = path.join(this.work, `${node.name}-lb-run-${n}`);
    const scripts = path.join(this.work, `${node.name}-lb-reloader-${n}`);
    for (const d of [path.join(etc, 'haproxy'), run, scripts]) fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(etc, 'haproxy', 'haproxy.cfg'), withServiceAddress(r.haproxyCfg, this.options.apiAddress));
    fs.writeFileSync(path.join(scripts, 'reloader.js'), r.reloaderScript);
    const inner = `mount --bind ${etc} /usr/local/etc && mount --bind ${run} /var/run/haproxy && ` +
      `exec ${r.haproxy.command.join(' ')} >>${this.log(node, 'haproxy')} 2>&1`;
    const p = this.pod(node);
    p.haproxy = this.daemons.start('ip', inNs(node.ns, ['unshare', '-m', 'sh', '-c', inner]));
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const e of r.reloader.env) env[e.name] = e.value.replace('/usr/local/etc', etc).replace('/var/run/haproxy', run);
    const [, script, mode] = r.reloader.command;
    p.reloader = this.daemons.start(process.execPath, [script.replace('/opt/haproxy-reloader', scripts), mode], { env });
    p.drain = () => spawn(process.execPath, [r.reloader.lifecycle.preStop.exec.command[1].replace('/opt/haproxy-reloader', scripts), 'drain'],
      { env, stdio: 'ignore' });
    await waitUntil(`${node.name}'s HAProxy /healthz`, () => this.healthz(node) === '200', 60_000, () => this.readLog(node, 'haproxy').slice(-2000));
  }

  /**
   * Fails the track check of whichever of `nodes` holds the VIP (the reloader's drain: /healthz refuses, keepalived
   * goes FAULT and hands the VIP over), one holder after the other, until `target` holds it or none of `nodes` does.
   */
  public async drainHolders(timeline: HolderTimeline, nodes: LayerNode[], target: LayerNode, timeoutMs: number): Promise<void> {
    for (let i = 0; i < nodes.length; i++) {
      const [holder] = timeline.holders();
      const node = nodes.find((n) => n.name === holder);
      if (holder === target.name || !node) break;
      await exited(this.pod(node).drain!());
      await timeline.waitFor((h) => h.length === 1 && h[0] !== holder, `the VIP to leave ${holder}`, timeoutMs);
    }
  }

  /**
   * Deletes the pod as the kubelet does: both containers' preStop hooks at once (the reloader's drain disables
   * /healthz so keepalived moves the VIP away; HAProxy's `sleep` keeps serving meanwhile), each container SIGTERMed
   * when its own hook ends.
   */
  public async stopLbPod(node: LayerNode, r: RenderedVipLayer): Promise<void> {
    const p = this.pod(node);
    const drain = p.drain!();
    const sleepSeconds = Number(r.haproxy.lifecycle.preStop.exec.command[1]);
    await Promise.all([
      exited(drain).then(() => { p.reloader!.kill('SIGTERM'); return exited(p.reloader); }),
      sleep(sleepSeconds * 1000).then(() => { p.haproxy!.kill('SIGTERM'); return exited(p.haproxy); }),
    ]);
  }
}

/** Results of the client's requests through the VIP: [sent, answered, ok, served by (node address) or error]. */
export type Request = [number, number, boolean, string];

/**
 * A client in `ns` that requests `url` every 50 ms (a new connection each, 1 s timeout) and records each result in
 * `requests`. The server answers with the address the request came from: the node whose HAProxy served it.
 */
export function startVipClient(daemons: Daemons, ns: string, url: string, requests: Request[]): ChildProcess {
  const program = `const http = require('http');
    const once = () => { const t = Date.now(); let done = false;
      const out = (ok, by) => { if (done) return; done = true; process.stdout.write(JSON.stringify([t, Date.now(), ok, by]) + '\\n'); setTimeout(once, 50); };
      const req = http.get('${url}', { agent: false, timeout: 1000 }, (res) => {
        let body = ''; res.on('data', (d) => { body += d; }); res.on('end', () => out(res.statusCode === 200, body.trim() || String(res.statusCode)));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => out(false, e.code || e.message)); };
    once();`;
  const client = daemons.start('ip', inNs(ns, [process.execPath, '-e', program]));
  let buffered = '';
  client.stdout!.on('data', (chunk: Buffer) => {
    buffered += chunk.toString();
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const l of lines) if (l.trim()) requests.push(JSON.parse(l));
  });
  return client;
}

export function requestStats(requests: Request[], from: number, to: number) {
  const inWindow = requests.filter(([sent]) => sent >= from && sent <= to);
  const failed = inWindow.filter(([, , ok]) => !ok);
  let last = from;
  let gap = 0;
  for (const [, answered, ok] of inWindow) {
    if (!ok) continue;
    gap = Math.max(gap, answered - last);
    last = answered;
  }
  gap = Math.max(gap, to - last);
  const servedBy = [...new Set(inWindow.filter(([, , ok]) => ok).map(([, , , by]) => by))].sort();
  return { requests: inWindow.length, failed: failed.length, longestGapMs: gap, servedBy, errors: [...new Set(failed.map(([, , , e]) => e))] };
}

/** The intervals in [from, to] during which no node held the VIP, as [start, duration ms]. */
export function vacancies(events: ReadonlyArray<[number, string, boolean]>, from: number, to: number): Array<[number, number]> {
  const state = new Map<string, boolean>();
  const out: Array<[number, number]> = [];
  let since: number | undefined;
  for (const [t, node, added] of events) {
    state.set(node, added);
    const held = [...state.values()].some(Boolean);
    if (!held && since === undefined) since = t;
    if (held && since !== undefined) {
      if (t >= from && since <= to) out.push([since, t - since]);
      since = undefined;
    }
  }
  return out;
}
