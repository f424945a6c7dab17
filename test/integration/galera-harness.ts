/**
 * Runs Galera members the way the pods do, on loopback: each member is `assets/galera/entrypoint.sh` as its main
 * process (run as the `mysql` user, like the image's uid 999), with the pod's environment, its own data dir and
 * memory-backed-style run dir, and the server config from `renderServerConfig` with its own address. Every
 * member uses the same ports (3306, 4567, 4568, 4444) on its own 127.0.1.x address.
 *
 * Everything started here is killed by process group (its own PID) and every temp dir removed, even on failure.
 */
import { ChildProcess, execFile, execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GALERA_SERVER_DEFAULTS, GaleraBinlogConfig, GaleraServerTls, renderServerConfig } from '../../lib/galera/server-config';
import { describeUnlessMissing } from './support/daemons';

const REPO = path.resolve(__dirname, '../..');
const ASSETS = path.join(REPO, 'assets/galera');
export const CLUSTER_NAME = 'itest';
export const STATEFULSET = 'galera';
export const SST_PASSWORD = `sst'"\\;pw`;
export const MONITOR_PASSWORD = 'mon\\itor"pw';
export const ROOT_PASSWORD = `r0ot'--`;

/** What the tests need on the machine (Debian: mariadb-server galera-4 mariadb-backup socat). */
export function missingGaleraTools(): string[] {
  const missing = ['mariadbd', 'mariadb', 'mariadb-install-db', 'mariabackup', 'socat'].filter(
    (tool) => !['/usr/sbin', '/usr/bin', '/sbin', '/bin'].some((dir) => fs.existsSync(path.join(dir, tool))),
  );
  if (!fs.existsSync(GALERA_SERVER_DEFAULTS.providerPath)) missing.push(GALERA_SERVER_DEFAULTS.providerPath);
  if (process.getuid?.() !== 0) missing.push('root (to run members as the mysql user)');
  if (MYSQL_USER.uid < 0) missing.push('the mysql system user (mariadb-server creates it)');
  return missing;
}

/** `describe`, or a skip with the reason (a failure under CI, where the tools must be installed). */
export function describeWithGalera(name: string, body: () => void): void {
  describeUnlessMissing(name, missingGaleraTools(), 'apt-get install mariadb-server galera-4 mariadb-backup socat, and run as root', body);
}

/** The hard open-files limit of this process: the members get it, with the soft one at 1024 (containerd 2). */
export const HARD_NOFILE = Number(/^Max open files\s+\S+\s+(\d+)/m.exec(fs.readFileSync('/proc/self/limits', 'utf8'))?.[1]);

/** Test files share the 127.0.1.x addresses: one runs at a time even when jest runs files in parallel. */
const LOCK_FILE = path.join(os.tmpdir(), 'cdk8s-openstack-ha-galera-itest.lock');

export async function acquireGaleraLock(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      fs.writeFileSync(LOCK_FILE, String(process.pid), { flag: 'wx' });
      return;
    } catch {
      const holder = Number(fs.readFileSync(LOCK_FILE, 'utf8').trim());
      if (!isAlive(holder)) fs.rmSync(LOCK_FILE, { force: true });
      else if (Date.now() > deadline) throw new Error(`${LOCK_FILE} held by ${holder}`);
      else await sleep(500);
    }
  }
}

export function releaseGaleraLock(): void {
  if (fs.existsSync(LOCK_FILE) && fs.readFileSync(LOCK_FILE, 'utf8').trim() === String(process.pid)) fs.rmSync(LOCK_FILE);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `probe` until it returns a value other than undefined; throws with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, timeoutMs: number, probe: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(200);
  }
}

export const MYSQL_USER = { uid: -1, gid: -1 };
try {
  MYSQL_USER.uid = Number(execFileSync('id', ['-u', 'mysql']).toString().trim());
  MYSQL_USER.gid = Number(execFileSync('id', ['-g', 'mysql']).toString().trim());
} catch {
  // missingGaleraTools() reports it; this module must still load to report it.
}

/** Runs a program as the mysql user and returns stdout; killed after `timeoutMs` (a hung server must not hang a test). */
/** `running (pid N)`, `exited with code C` or `killed by SIG`, or `not started`: for a failure message. */
function processState(child: ChildProcess | undefined): string {
  if (child === undefined) return 'not started';
  if (child.exitCode !== null) return `exited with code ${child.exitCode} (pid ${child.pid})`;
  if (child.signalCode !== null) return `killed by ${child.signalCode} (pid ${child.pid})`;
  return `running (pid ${child.pid})`;
}

/**
 * Waits until every one of `members` is Synced. When any is not within the bound, the error carries the diagnostics
 * of every member that failed, not only the first: a member stuck waiting for another is explained by the other's
 * logs (galera-0 blocked because galera-1's agent never answered said nothing about galera-1).
 */
export async function waitAllSynced(members: readonly Member[], timeoutMs: number): Promise<void> {
  const results = await Promise.allSettled(members.map((m) => m.waitSynced(timeoutMs)));
  const failures = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as Error).message] : []));
  if (failures.length > 0) throw new Error(`${failures.length} of ${members.length} members not Synced:\n${failures.join('\n\n')}`);
}

export function runAsMysql(args: string[], env: NodeJS.ProcessEnv = {}, input?: string, timeoutMs = 20_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(args[0], args.slice(1), { uid: MYSQL_USER.uid, gid: MYSQL_USER.gid, env: { PATH: process.env.PATH, ...env }, timeout: timeoutMs },
      (error, stdout, stderr) => resolve({ code: error ? Number((error as { code?: number }).code ?? 1) || 1 : 0, stdout, stderr }));
    // A client that exits before reading its input (server gone, connect timeout) closes the pipe: that is the
    // client's failure, reported by its exit code, not an EPIPE that would crash the test process.
    child.stdin?.on('error', () => undefined);
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** A client session over TCP to any address (a member, or a proxy in front of them); password by env. */
export function tcpQuery(host: string, port: number, user: string, password: string, query: string, timeoutMs = 10_000,
  clientOptions: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
  return runAsMysql(['mariadb', '--no-defaults', ...clientOptions, '-h', host, '-P', String(port), '-u', user, '--connect-timeout=3', '-N', '-B', '-e', query],
    { MYSQL_PWD: password }, undefined, timeoutMs);
}

export interface MemberEnvOverrides {
  readonly [name: string]: string;
}

/** One Galera member: a "pod" with its data volume (kept across restarts) and run dir. */
export class Member {
  public readonly name: string;
  public readonly dir: string;
  public readonly dataDir: string;
  public readonly runDir: string;
  public ip: string;
  /** Extra `[galera]` settings for this member only (e.g. `wsrep_sst_donor`), from its next start. */
  public configOverrides: Record<string, string> = {};
  /** TLS from the next start: what the construct renders, with this member's certificate directory (its "Secret volume"). */
  public tls?: GaleraServerTls & { readonly directory: string };
  private entrypoint?: ChildProcess;
  private agent?: ChildProcess;
  /** Where in the logs the current runs of the agent and the entrypoint start. */
  private agentLogStart = 0;
  private mariadbLogStart = 0;

  public constructor(private readonly cluster: GaleraTestCluster, public readonly ordinal: number, ip: string) {
    this.name = `${STATEFULSET}-${ordinal}`;
    this.ip = ip;
    this.dir = path.join(cluster.root, this.name);
    this.dataDir = path.join(this.dir, 'data');
    this.runDir = path.join(this.dir, 'run');
    for (const dir of [this.dir, this.dataDir, this.runDir]) fs.mkdirSync(dir, { recursive: true });
    fs.chownSync(this.dir, MYSQL_USER.uid, MYSQL_USER.gid);
    fs.chownSync(this.dataDir, MYSQL_USER.uid, MYSQL_USER.gid);
    fs.chownSync(this.runDir, MYSQL_USER.uid, MYSQL_USER.gid);
  }

  public get configFile(): string {
    return path.join(this.dir, 'server.cnf');
  }

  public get running(): boolean {
    return this.entrypoint !== undefined && this.entrypoint.exitCode === null && this.entrypoint.signalCode === null;
  }

  /** Starts the mariadb container (entrypoint) at `ip`; a new "pod" also gets an empty run dir. */
  public startEntrypoint(options: { ip?: string; freshRunDir?: boolean } = {}): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    if (options.ip !== undefined) this.ip = options.ip;
    if (options.freshRunDir) {
      fs.rmSync(this.runDir, { recursive: true, force: true });
      fs.mkdirSync(this.runDir);
      fs.chownSync(this.runDir, MYSQL_USER.uid, MYSQL_USER.gid);
    }
    fs.writeFileSync(this.configFile, this.cluster.renderConfig(this.ip, this.configOverrides, this.tls));
    this.mariadbLogStart = this.logSize('mariadb');
    this.entrypoint = this.spawnLogged('mariadb', ['bash', path.join(this.cluster.scriptsDir, 'entrypoint.sh')], this.containerEnv());
  }

  /** Starts the recovery agent sidecar (the bundled agent, run by node as the same user). */
  public startAgent(env: MemberEnvOverrides): void {
    this.agentLogStart = this.logSize('agent');
    this.agent = this.spawnLogged('agent', [process.execPath, path.join(this.cluster.scriptsDir, 'agent.bundle.js')], {
      POD_NAME: this.name,
      GALERA_RUN_DIR: this.runDir,
      GALERA_AGENT_HOST: this.ip,
      GALERA_OVERRIDE_FILE: path.join(this.cluster.root, 'bootstrap-from'),
      ...env,
    });
  }

  /** The env the construct gives the mariadb container (Secret refs resolved). */
  public containerEnv(): NodeJS.ProcessEnv {
    return {
      POD_NAME: this.name,
      POD_IP: this.ip,
      GALERA_RUN_DIR: this.runDir,
      GALERA_DATADIR: this.dataDir,
      GALERA_CONFIG_FILE: this.configFile,
      GALERA_USERS_FILE: path.join(this.cluster.root, 'users.tsv'),
      GALERA_SST_PASSWORD: SST_PASSWORD,
      GALERA_MONITOR_PASSWORD: MONITOR_PASSWORD,
      MARIADB_ROOT_PASSWORD: ROOT_PASSWORD,
      USER: 'mysql',
      HOME: this.dir,
      // As the construct sets it (writerOrdinal 0): the writer row's first value.
      GALERA_INITIAL_WRITER: `${STATEFULSET}-0`,
      ...(this.tls ? { GALERA_TLS_DIR: this.tls.directory, GALERA_TLS_REPLICATION: String(this.tls.replication || this.tls.replicationTransition) } : {}),
      ...this.cluster.extraEnv,
    };
  }

  private spawnLogged(kind: string, command: string[], env: NodeJS.ProcessEnv): ChildProcess {
    const log = fs.openSync(path.join(this.cluster.root, `${this.name}.${kind}.log`), 'a');
    // As containerd 2 starts a container: soft open-files limit 1024, the hard limit high (ours).
    const child = spawn('prlimit', [`--nofile=1024:${HARD_NOFILE}`, '--', ...command], {
      uid: MYSQL_USER.uid,
      gid: MYSQL_USER.gid,
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...env },
      // Its own process group: killing -pid reaches mariadbd, SST scripts and sleeps, and nothing else.
      detached: true,
      stdio: ['ignore', log, log],
    });
    fs.closeSync(log);
    // Kept after the leader exits: mariadbd may outlive a dead entrypoint in the same group.
    this.cluster.processGroups.add(child.pid!);
    return child;
  }

  private logSize(kind: string): number {
    const log = path.join(this.cluster.root, `${this.name}.${kind}.log`);
    return fs.existsSync(log) ? fs.statSync(log).size : 0;
  }

  private logSince(kind: string, start: number): string {
    const log = path.join(this.cluster.root, `${this.name}.${kind}.log`);
    return fs.existsSync(log) ? fs.readFileSync(log).subarray(start).toString('utf8') : '';
  }

  /**
   * How this member got its data since the entrypoint started: the mariabackup script runs for both kinds of
   * transfer and says which at the end (`mariabackup IST completed on joiner` / `SST`); none when it was the source.
   */
  public stateTransfers(): string[] {
    return [...this.logSince('mariadb', this.mariadbLogStart).matchAll(/mariabackup (IST|SST) completed on joiner/g)].map((m) => m[1]);
  }

  /** The agent's JSON log lines of one event since the agent was last started. */
  public agentEvents(event: string): Array<Record<string, any>> {
    return this.logSince('agent', this.agentLogStart).split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => { try { return JSON.parse(line); } catch { return {}; } })
      .filter((entry) => entry.event === event);
  }

  public readJson(file: string): Record<string, unknown> | undefined {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.runDir, file), 'utf8'));
    } catch {
      return undefined;
    }
  }

  /** Writes the decision the agent would write for the current state.json (waits for it). */
  public async decide(action: 'join' | 'bootstrap', startPosition = ''): Promise<void> {
    const state = await waitFor(`${this.name} state.json`, 120_000, () => this.readJson('state.json'));
    const content = JSON.stringify({ stateId: state.stateId, action, startPosition, rule: 'test', reason: 'written by the test' }, null, 2);
    const tmp = path.join(this.runDir, `decision.json.tmp${process.pid}`);
    fs.writeFileSync(tmp, content);
    fs.renameSync(tmp, path.join(this.runDir, 'decision.json'));
  }

  /**
   * Answers this member's decisions with `join` until it is Synced, as its agent does for a member with nothing to
   * offer, and returns how many times it had to answer again. A joiner whose SST is cut starts over with a new state
   * and asks again: its mariadbd aborts ("Application state transfer failed") when the donor and it fall out of the
   * Primary component mid-transfer, seen on loaded 2-core machines when two members join at once (a false
   * suspicion: evs.suspect_timeout is 1.5 s). The agent answers that second question in production; a test without
   * agents must too, and reports the count instead of hiding it.
   */
  public async joinUntilSynced(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    let answered: string | undefined;
    let answers = 0;
    while (!this.synced()) {
      this.throwIfExited();
      if (Date.now() > deadline) throw new Error(`${this.name} not Synced within ${timeoutMs} ms (join answered ${answers} time(s))`);
      const stateId = this.readJson('state.json')?.stateId as string | undefined;
      if (stateId !== undefined && stateId !== answered && this.phase() === 'waiting') {
        await this.decide('join');
        answered = stateId;
        answers++;
      }
      await sleep(250);
    }
    return Math.max(answers - 1, 0);
  }

  /** The entrypoint's phase (its first line; a bounded phase has its deadline on the second). */
  public phase(): string {
    try {
      return fs.readFileSync(path.join(this.runDir, 'phase'), 'utf8').split('\n')[0].trim();
    } catch {
      return '(none)';
    }
  }

  public synced(): boolean {
    const wsrep = this.readJson('wsrep.json');
    const status = (wsrep?.wsrep ?? {}) as Record<string, string>;
    return wsrep?.running === true && status.wsrep_local_state === '4' && status.wsrep_cluster_status === 'Primary';
  }

  /** Fails a wait at once when the member's container (its entrypoint) has exited: nothing will change any more. */
  private throwIfExited(): void {
    if (!this.running) throw new Error(`${this.name} exited; see ${this.cluster.root}/${this.name}.mariadb.log`);
  }

  public async waitSynced(timeoutMs: number): Promise<void> {
    try {
      await waitFor(`${this.name} Synced`, timeoutMs, () => {
        this.throwIfExited();
        return this.synced() ? true : undefined;
      });
    } catch (e) {
      // A member that never syncs is only diagnosable from its own logs, which the harness deletes after the run.
      throw new Error(`${(e as Error).message}\n${this.diagnostics()}`);
    }
  }

  /**
   * Where this member is stuck: whether its two processes still run (the harness restarts neither, where the kubelet
   * would restart a crashed container), its entrypoint's phase, its last wsrep status, and the tails of its logs
   * since it started.
   */
  public diagnostics(lines = 30): string {
    const tail = (text: string) => text.split('\n').slice(-lines - 1).join('\n');
    const wsrep = (this.readJson('wsrep.json')?.wsrep ?? {}) as Record<string, string>;
    return [
      `--- ${this.name}: entrypoint ${processState(this.entrypoint)}, agent ${processState(this.agent)}; phase ${this.phase()}, ` +
        `wsrep_local_state ${wsrep.wsrep_local_state ?? '?'} (${wsrep.wsrep_local_state_comment ?? '?'}), ` +
        `cluster ${wsrep.wsrep_cluster_status ?? '?'} size ${wsrep.wsrep_cluster_size ?? '?'}`,
      `--- ${this.name} mariadb.log (entrypoint and mariadbd, last ${lines} lines) ---`, tail(this.logSince('mariadb', this.mariadbLogStart)),
      `--- ${this.name} agent.log (last ${lines} lines) ---`, tail(this.logSince('agent', this.agentLogStart)),
    ].join('\n');
  }

  /**
   * Waits until this member's own view, read live, has `size` members. `synced()` reads wsrep.json, which the status
   * loop writes every second: a view that changed since (a member joining, a membership round that failed and
   * re-formed) is seen here, never by a single sample.
   */
  public async waitClusterSize(size: number, timeoutMs = 30_000): Promise<void> {
    await waitFor(`${this.name} to see ${size} members`, timeoutMs, async () => {
      const row = await this.sql("SHOW STATUS LIKE 'wsrep_cluster_size'", 5000).catch(() => '');
      return row === `wsrep_cluster_size\t${size}` ? true : undefined;
    });
  }

  /**
   * Waits until the entrypoint's work after Synced is done on this start: mariadb-upgrade (after an SST it runs once,
   * while the member already serves) and then the users ("users applied" in its log). Until then the users a peer
   * creates may not be here yet: their TOI statements queue behind the upgrade's local ALTERs of the mysql schema
   * (seen on CI: a login on a joiner right after an apply-users run elsewhere failed).
   */
  public async waitSettled(timeoutMs: number): Promise<void> {
    await waitFor(`${this.name} settled (users applied)`, timeoutMs, () => {
      this.throwIfExited();
      return this.logSince('mariadb', this.mariadbLogStart).includes('apply-users.sh: users applied') ? true : undefined;
    });
  }

  /** SQL through the member's socket as the unix_socket `mysql` account; throws on error. */
  public async sql(query: string, timeoutMs?: number): Promise<string> {
    const result = await runAsMysql(['mariadb', `--defaults-file=${path.join(this.runDir, 'client.cnf')}`, '--connect-timeout=2', '-N', '-B'], {}, query, timeoutMs);
    if (result.code !== 0) throw new Error(`${this.name}: ${query}: ${result.stderr}`);
    return result.stdout.trim();
  }

  /** The last write-set this member committed (`wsrep_last_committed`): a cluster-wide sequence number. */
  public async lastCommitted(): Promise<number> {
    return Number(await this.sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME='wsrep_last_committed'"));
  }

  /** A client login over TCP as `user` (password by env, so any byte works). */
  public async login(user: string, password: string, query = 'SELECT CURRENT_USER()', clientOptions: string[] = []): Promise<{ code: number; stdout: string; stderr: string }> {
    return tcpQuery(this.ip, 3306, user, password, query, 20_000, clientOptions);
  }

  /** Runs one of the scripts the way kubelet runs an exec probe (the container's env). */
  public async script(name: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    return runAsMysql(['bash', path.join(this.cluster.scriptsDir, name), ...args], this.containerEnv());
  }

  /** SIGTERM to the container's main process (kubelet stopping the pod) and wait for it to exit. */
  public async stop(timeoutMs = 60_000): Promise<void> {
    await this.stopProcess(this.entrypoint, 'SIGTERM', timeoutMs);
    await this.stopAgent();
  }

  public async stopAgent(): Promise<void> {
    await this.stopProcess(this.agent, 'SIGTERM', 10_000);
  }

  /** SIGKILL of the whole container (mariadbd included): a crash, a power cut. */
  public async kill(): Promise<void> {
    await this.stopProcess(this.entrypoint, 'SIGKILL', 10_000);
    await this.stopProcess(this.agent, 'SIGKILL', 10_000);
  }

  private async stopProcess(child: ChildProcess | undefined, signal: NodeJS.Signals, timeoutMs: number): Promise<void> {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      // SIGTERM goes to the main process only (it forwards it); SIGKILL to the whole group.
      process.kill(signal === 'SIGKILL' ? -child.pid! : child.pid!, signal);
    } catch {
      return;
    }
    await Promise.race([exited, sleep(timeoutMs).then(() => { throw new Error(`${this.name}: pid ${child.pid} did not exit on ${signal}`); })]);
    if (signal === 'SIGKILL') await this.waitGroupGone(child.pid!);
  }

  /** After SIGKILL of a group, its members (mariadbd) may take a moment to disappear and free the ports. */
  private async waitGroupGone(pgid: number): Promise<void> {
    await waitFor(`process group ${pgid} gone`, 10_000, () => (isAlive(-pgid) ? undefined : true));
  }

  /** Whether a file exists in the data dir (e.g. `sst_in_progress`, which a state transfer creates). */
  public hasDataFile(name: string): boolean {
    return fs.existsSync(path.join(this.dataDir, name));
  }

  /** The agent's `GET /status` (undefined when it does not answer). */
  public async agentStatus(port: number): Promise<Record<string, any> | undefined> {
    try {
      const response = await fetch(`http://${this.ip}:${port}/status`, { signal: AbortSignal.timeout(2000) });
      return (await response.json()) as Record<string, any>;
    } catch {
      return undefined;
    }
  }

  /** SIGKILL of mariadbd only (the container's main process lives on, as when the OOM killer picks mariadbd). */
  public killMariadbd(): boolean {
    const pid = Number(fs.readFileSync(path.join(this.runDir, 'mysqld.pid'), 'utf8').trim());
    try {
      process.kill(pid, 'SIGKILL');
      return true;
    } catch {
      return false;
    }
  }

  public wipeData(): void {
    fs.rmSync(this.dataDir, { recursive: true, force: true });
    fs.mkdirSync(this.dataDir);
    fs.chownSync(this.dataDir, MYSQL_USER.uid, MYSQL_USER.gid);
  }

  public logTail(lines = 40): string {
    return ['mariadb', 'agent']
      .map((kind) => path.join(this.cluster.root, `${this.name}.${kind}.log`))
      .filter((file) => fs.existsSync(file))
      .map((file) => `--- ${file}\n${fs.readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n')}`)
      .join('\n');
  }
}

/** Temp root, scripts copied like a ConfigMap mount, members, and the cleanup of all of it. */
export class GaleraTestCluster {
  public readonly root: string;
  public readonly scriptsDir: string;
  public readonly members: Member[];
  public readonly processGroups = new Set<number>();
  public extraEnv: MemberEnvOverrides = {};
  private peerHosts: string[];
  private readonly exitHook = () => this.killAll();

  /** `rootPrefix`: the /tmp directory's name before its random part (a file run beside the suite names its own). */
  public constructor(ips: readonly string[], rootPrefix = 'galera-itest-') {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), rootPrefix));
    fs.chmodSync(this.root, 0o755);
    this.scriptsDir = path.join(this.root, 'scripts');
    fs.mkdirSync(this.scriptsDir);
    for (const file of fs.readdirSync(ASSETS).filter((name) => name.endsWith('.sh'))) {
      // Mode 0644, as a ConfigMap mount without defaultMode: the scripts are run through bash.
      fs.copyFileSync(path.join(ASSETS, file), path.join(this.scriptsDir, file));
      fs.chmodSync(path.join(this.scriptsDir, file), 0o644);
    }
    this.peerHosts = [...ips];
    this.members = ips.map((ip, ordinal) => new Member(this, ordinal, ip));
    process.on('exit', this.exitHook);
  }

  /** The gcomm:// list, as the StatefulSet's DNS names would resolve now. */
  public setPeerHosts(hosts: readonly string[]): void {
    this.peerHosts = [...hosts];
  }

  /** pc.recovery in the members' config (applies from their next start). */
  public pcRecovery = true;

  /** gcache.size in the members' config (applies from their next start): a per-member setting a roll changes. */
  public gcacheSize = '64M';

  /**
   * Provider options replacing the library's (measurements of other Galera timeouts only: the rendered file then
   * differs from what the construct would ship, so its owned-option check is off). From GALERA_ITEST_PROVIDER_OPTIONS
   * (JSON object) by default.
   */
  public providerOptions: Record<string, string> = JSON.parse(process.env.GALERA_ITEST_PROVIDER_OPTIONS ?? '{}');

  /** Binary logs with cluster GTIDs in the members' config (GaleraBackup's binlogArchive; from their next start). */
  public binlog?: GaleraBinlogConfig;

  public renderConfig(ip: string, galeraOverrides: Record<string, string> = {}, tls?: GaleraServerTls): string {
    const measuring = Object.keys(this.providerOptions).length > 0;
    return renderServerConfig({
      ...(tls ? { tls } : {}),
      ...GALERA_SERVER_DEFAULTS,
      pcRecovery: this.pcRecovery,
      clusterName: CLUSTER_NAME,
      peerHosts: this.peerHosts,
      bindAddress: ip,
      listenAddress: ip,
      gcacheSize: this.gcacheSize,
      // Three servers share two cores here: keep memory and threads small.
      innodbBufferPoolSize: '64M',
      applierThreads: 2,
      maxConnections: 100,
      overrides: { mysqld: { performance_schema: 'OFF', innodb_log_file_size: '16M' }, galera: galeraOverrides },
      ...(this.binlog ? { binlog: this.binlog } : {}),
      ...(measuring ? { providerOptions: this.providerOptions } : {}),
    }, !measuring);
  }

  /**
   * Starts a cluster as the agents would: the first member bootstraps, the others join it one at a time (by SST when
   * empty; lib/galera/agent/join-turn.ts says why), each once the one before is Synced.
   */
  public async bootstrapFromFirst(timeouts: { bootstrapMs: number; joinMs: number } = { bootstrapMs: 60_000, joinMs: 200_000 }): Promise<void> {
    const [first, ...others] = this.members;
    first.startEntrypoint();
    await first.decide('bootstrap');
    await first.waitSynced(timeouts.bootstrapMs);
    await this.joinInTurn(others, timeouts.joinMs);
  }

  /**
   * Starts these members' entrypoints and answers their joins one member at a time, each once the one before is
   * Synced, as the agents do (lib/galera/agent/join-turn.ts); returns each member's cut-and-retried count (logged).
   */
  public async joinInTurn(members: readonly Member[], joinMs: number): Promise<number[]> {
    const retries: number[] = [];
    for (const m of members) {
      m.startEntrypoint();
      retries.push(await m.joinUntilSynced(joinMs));
      if (retries[retries.length - 1] > 0) console.log(`${m.name}: its SST was cut and retried ${retries[retries.length - 1]} time(s) before it was Synced`);
    }
    return retries;
  }

  /** Bundles the recovery agent into the scripts dir, as the construct ships it in a ConfigMap. */
  public buildAgent(): void {
    execFileSync(process.execPath, [path.join(REPO, 'scripts/build-agent.js'), path.join(this.scriptsDir, 'agent.bundle.js')], { stdio: 'ignore' });
  }

  public writeUsersFile(content: string): void {
    fs.writeFileSync(path.join(this.root, 'users.tsv'), content);
  }

  public killAll(): void {
    for (const pgid of this.processGroups) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /** Stops every process and removes the cluster's files; with GALERA_ITEST_LOGS, prints each member's log tail first. */
  public async destroy(logTailLines = 40): Promise<void> {
    // eslint-disable-next-line no-console
    if (process.env.GALERA_ITEST_LOGS) for (const m of this.members) console.log(m.logTail(logTailLines));
    this.killAll();
    await waitFor('every test process gone', 15_000, () => ([...this.processGroups].some((pgid) => isAlive(-pgid)) ? undefined : true)).catch(() => undefined);
    process.off('exit', this.exitHook);
    if (process.env.KEEP_GALERA_ITEST) {
      // eslint-disable-next-line no-console
      console.log(`kept ${this.root}`);
    } else {
      fs.rmSync(this.root, { recursive: true, force: true });
    }
  }
}

/**
 * A client that writes one row per statement, each with its own id, to whichever listed member is Synced, and
 * remembers the ids the server acknowledged (the INSERT returned OK). An acknowledged row must survive every
 * recovery; a row whose INSERT failed or timed out may or may not exist, and is never checked.
 */
export class AckedWriter {
  public readonly acked = new Set<number>();
  public failures = 0;
  private next = 1;
  private running = false;
  private loop?: Promise<void>;
  private targets: () => Member[] = () => [];

  public constructor(private readonly table: string) {}

  /** Writes until `stop()`, to the first Synced member `targets()` lists (asked afresh for every row). */
  public start(targets: () => Member[]): void {
    this.targets = targets;
    if (this.running) return;
    this.running = true;
    this.loop = (async () => {
      while (this.running) {
        const member = this.targets().find((m) => m.running && m.synced());
        if (member === undefined) {
          await sleep(100);
          continue;
        }
        const id = this.next++;
        try {
          await member.sql(`INSERT INTO ${this.table} (id, member) VALUES (${id}, '${member.name}')`, 5000);
          this.acked.add(id);
        } catch {
          this.failures++;
          await sleep(100);
        }
        await sleep(20);
      }
    })();
  }

  public async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** No longer expects these rows (their only copies were on volumes a scenario destroyed on purpose). */
  public forget(ids: readonly number[]): void {
    for (const id of ids) this.acked.delete(id);
  }

  /** Writes `count` rows in one acknowledged statement (enough work for a transfer to take a moment). */
  public async bulk(member: Member, count: number): Promise<void> {
    const ids = Array.from({ length: count }, () => this.next++);
    await member.sql(`INSERT INTO ${this.table} (id, member) VALUES ${ids.map((id) => `(${id}, '${member.name}')`).join(',')}`, 30_000);
    for (const id of ids) this.acked.add(id);
  }

  /** Acknowledged ids missing on `member` (read with wsrep_sync_wait, so it sees everything the cluster committed). */
  public async missingOn(member: Member, expected: ReadonlySet<number> = this.acked): Promise<number[]> {
    let rows: string;
    try {
      rows = await member.sql(`SET SESSION wsrep_sync_wait=1; SELECT id FROM ${this.table}`, 60_000);
    } catch (e) {
      // A cluster bootstrapped from an empty member has no such table: every row is missing.
      if (!/doesn't exist/.test(String(e))) throw e;
      rows = '';
    }
    const present = new Set(rows.split('\n').filter((l) => l !== '').map(Number));
    return [...expected].filter((id) => !present.has(id));
  }
}

/**
 * Network partitions between members' loopback addresses with nftables: one table of our own in which every rule
 * matches only 127.0.1.x pairs the test names (input hook, so packets vanish and peers time out as on a real
 * network). Removed by `heal()` and by the cluster's cleanup.
 */
export class LoopbackPartition {
  private static readonly TABLE = 'cdk8s_galera_chaos';

  public static available(): boolean {
    try {
      execFileSync('nft', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  }

  /** Cuts every packet between each address of `side` and each of `other` (both ways). */
  public static cut(groups: ReadonlyArray<readonly string[]>): void {
    for (const ip of groups.flat()) if (!/^127\.0\.1\.\d{1,3}$/.test(ip)) throw new Error(`refusing to partition ${ip}: only 127.0.1.x`);
    LoopbackPartition.heal();
    const rules: string[] = [];
    groups.forEach((side, i) => groups.forEach((other, j) => {
      if (i === j) return;
      for (const a of side) for (const b of other) rules.push(`add rule inet ${LoopbackPartition.TABLE} input ip saddr ${a} ip daddr ${b} drop`);
    }));
    const script = [
      `add table inet ${LoopbackPartition.TABLE}`,
      `add chain inet ${LoopbackPartition.TABLE} input { type filter hook input priority 0; policy accept; }`,
      ...rules,
    ].join('\n');
    execFileSync('nft', ['-f', '-'], { input: script });
  }

  public static heal(): void {
    try {
      execFileSync('nft', ['delete', 'table', 'inet', LoopbackPartition.TABLE], { stdio: 'ignore' });
    } catch {
      // no partition in place
    }
  }
}
