/**
 * The real keepalived as its container runs it, and who holds a VIP, for tests that run keepalived in network
 * namespaces (keepalived.test.ts, replace-controller.test.ts).
 */
import { ChildProcess } from 'child_process';
import { Daemons, procFile } from './daemons';
import { sh } from './netns';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A node that may hold the VIP: its name and network namespace. */
export interface VipNode {
  readonly name: string;
  readonly ns: string;
}

/**
 * Timeline of VIP ownership built from `ip monitor address` events in each node's namespace (every add/delete,
 * timestamped on receipt): it sees overlaps of any length, not only those a poller would catch. Nodes may be added
 * (a new node joins) and removed (a dead node's namespace is about to be deleted) while it runs.
 */
export class HolderTimeline {
  private readonly holding = new Map<string, boolean>();
  private readonly monitors = new Map<string, ChildProcess>();
  private readonly nodes: VipNode[] = [];
  /** [time, node, added?] */
  public readonly events: Array<[number, string, boolean]> = [];

  public constructor(private readonly daemons: Daemons, private readonly vip: string, nodes: readonly VipNode[]) {
    this.nodes.push(...nodes);
  }

  public start(): void {
    for (const node of this.nodes) this.watch(node);
  }

  /** Follows one more node (its namespace must exist). */
  public add(node: VipNode): void {
    if (!this.nodes.some((n) => n.name === node.name)) this.nodes.push(node);
    this.watch(node);
  }

  /**
   * Stops following a node and counts it as holding nothing: call it before deleting the node's namespace, whose
   * interfaces (and a VIP left on them) live as long as a process, such as this monitor, is inside it.
   */
  public remove(name: string): void {
    this.monitors.get(name)?.kill('SIGKILL');
    this.monitors.delete(name);
    if (this.holding.get(name)) this.events.push([Date.now(), name, false]);
    this.holding.set(name, false);
    this.nodes.splice(this.nodes.findIndex((n) => n.name === name), 1);
  }

  private watch(node: VipNode): void {
    const monitor = this.daemons.start('ip', ['-n', node.ns, '-o', 'monitor', 'address']);
    this.monitors.set(node.name, monitor);
    let buffered = '';
    monitor.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.includes(` ${this.vip}/`)) continue;
        const added = !line.startsWith('Deleted');
        this.holding.set(node.name, added);
        this.events.push([Date.now(), node.name, added]);
      }
    });
    this.holding.set(node.name, sh('ip', ['-n', node.ns, 'addr', 'show', 'dev', 'eth0']).output.includes(` ${this.vip}/`));
  }

  public holders(): string[] {
    return this.nodes.map((n) => n.name).filter((n) => this.holding.get(n));
  }

  /** Waits until `predicate(holders)` holds; returns the time it first did, or throws after `timeoutMs`. */
  public async waitFor(predicate: (holders: string[]) => boolean, what: string, timeoutMs = 20_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate(this.holders())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; holders: ${this.holders().join(', ')}`);
      await sleep(5);
    }
    return Date.now();
  }

  /** The time of the first event matching after `since`. */
  public eventAfter(since: number, node: string, added: boolean): number | undefined {
    return this.events.find(([t, n, a]) => t >= since && n === node && a === added)?.[0];
  }

  /** Every interval (since `since`) during which two or more nodes held the VIP, as [start, duration ms]. */
  public overlaps(since: number): Array<[number, number]> {
    const state = new Map<string, boolean>();
    const out: Array<[number, number]> = [];
    let overlapStart: number | undefined;
    for (const [t, node, added] of this.events) {
      state.set(node, added);
      const count = [...state.values()].filter(Boolean).length;
      if (count > 1 && overlapStart === undefined) overlapStart = t;
      if (count <= 1 && overlapStart !== undefined) {
        if (overlapStart >= since) out.push([overlapStart, t - overlapStart]);
        overlapStart = undefined;
      }
    }
    // Still overlapping now: counted up to now.
    if (overlapStart !== undefined && overlapStart >= since) out.push([overlapStart, Date.now() - overlapStart]);
    return out;
  }
}

/** Where one keepalived container's files are, and what the synthesized DaemonSet runs. */
export interface KeepalivedContainer {
  readonly ns: string;
  /** NODE_NAME (the downward API's spec.nodeName): selects the node's file in the ConfigMap. */
  readonly nodeName: string;
  /** The directory that plays the ConfigMap volume (/etc/keepalived). */
  readonly configMap: string;
  /** The node's /run/keepalived (an emptyDir: kept across restarts of the container). */
  readonly runDir: string;
  readonly logPath: string;
  /** The container's command (`/bin/sh -c <script>`). */
  readonly command: readonly string[];
  /** Its added capabilities: the only ones it gets (setpriv bounding set). */
  readonly capabilities: readonly string[];
  /** More env for the container (test settings such as KEEPALIVED_NODE_FILE_WAIT_SECONDS). @default none */
  readonly env?: Record<string, string>;
}

/**
 * Starts keepalived as its container would: in the node's namespace and a private mount namespace where
 * /etc/keepalived is the ConfigMap and /run is empty but for /run/keepalived, with exactly the rendered capabilities,
 * running the rendered command (PID files cleared, file chosen by NODE_NAME). The returned process is keepalived's
 * parent (every wrapper execs).
 */
export function startKeepalived(daemons: Daemons, c: KeepalivedContainer): ChildProcess {
  const [shell, flag, script] = c.command;
  const caps = c.capabilities.map((x) => `+${x.toLowerCase()}`).join(',');
  const inner = `mount --bind ${c.configMap} /etc/keepalived && mount -t tmpfs tmpfs /run && mkdir /run/keepalived && ` +
    `mount --bind ${c.runDir} /run/keepalived && ` +
    `exec setpriv --bounding-set=-all,${caps} --inh-caps=-all ${shell} ${flag} '${script}' >>${c.logPath} 2>&1`;
  return daemons.start('ip', ['netns', 'exec', c.ns, 'unshare', '-m', 'sh', '-c', inner], { env: { ...process.env, ...c.env, NODE_NAME: c.nodeName } });
}

/** Every descendant of `pid`, deepest last. */
function descendants(pid: number): number[] {
  // undefined: the process exited meanwhile, so it has no descendants left.
  const children = (procFile(pid, `task/${pid}/children`) ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
  return children.flatMap((c) => [c, ...descendants(c)]);
}

/** SIGKILL of a process and all its descendants at once (the parent is stopped first so it cannot respawn). */
export function killTree(child: ChildProcess): void {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  process.kill(pid, 'SIGSTOP');
  for (const c of descendants(pid)) {
    try { process.kill(c, 'SIGKILL'); } catch { /* already gone */ }
  }
  process.kill(pid, 'SIGKILL');
}
