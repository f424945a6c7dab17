/**
 * The agent runtime: publishes this member's report, collects its peers', runs the election every poll period and
 * hands the mariadb container its decision through the run directory (contract in run-dir.ts and README.md).
 *
 * It acts in exactly two ways, both guarded so that they happen once per state the mariadb container publishes:
 *  - writes decision.json (join or bootstrap) when the container waits for one: state.json present, mariadbd not
 *    running, no decision pending, and no decision written yet for this state.json's stateId;
 *  - writes restart-request when this member's mariadbd must be restarted so that its state is decided afresh:
 *    - it must bootstrap but its mariadbd runs outside any Primary component and there has been no Primary anywhere
 *      for `pcRecoverySeconds` (the pc.recovery fallback);
 *    - it has run for `waitPrimarySeconds` without reaching a Primary component and no transfer to it is under way
 *      (a Primary it waits for did not come, or it cannot merge into the one that exists).
 *    The container stops mariadbd (SIGTERM, then SIGKILL: a stop always completes), publishes a new state.json and
 *    gets a decision for it. A request that has not taken effect after `restartRetrySeconds` is written again.
 */
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import type { AgentConfig } from './config';
import { decide } from './election';
import { joinsInTurn, takeTurn, withSilentMembers } from './join-turn';
import { renderMetrics } from './metrics';
import { pollPeer, PeerPoll } from './peers';
import { AgentMemory, DecisionFile, isProblem, readOverrideFile, RunDir, WsrepView } from './run-dir';
import { TlsWatch } from './tls-watch';
import type { Decision, ElectionInput, LocalState, MemberReport } from './types';
import { writerClaim, WriterClaimGround } from './writer';

/**
 * The same writer claim is not handed over again within this time: the mariadb container retries one claim for
 * GALERA_WRITER_CLAIM_SECONDS (10) and says so in its log if it could not take the row; the agent then asks again.
 */
const WRITER_CLAIM_REPEAT_SECONDS = 11;

/** How often an unchanged `wait`/`blocked` decision is logged again, so the reason stays in recent logs. */
const REPEAT_LOG_SECONDS = 60;

/** This member as read from the run directory at one moment. */
interface SelfView {
  readonly local?: LocalState;
  readonly wsrep: WsrepView;
  readonly override?: string;
  readonly report?: MemberReport;
  readonly problems: string[];
}

interface PeerState extends PeerPoll {
  /** When this peer last answered with a valid report (ISO time). */
  readonly lastSeen?: string;
  readonly lastReport?: MemberReport;
}

interface LastDecision {
  readonly decision: Decision;
  readonly at: string;
  readonly input: ElectionInput;
}

export type LogLine = (event: string, fields: Record<string, unknown>) => void;

/** One JSON object per line on stdout: easy to grep and to ship. */
export const logJsonLine: LogLine = (event, fields) => {
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
};

export class GaleraAgent {
  private readonly runDir: RunDir;
  private server?: http.Server;
  private timer?: NodeJS.Timeout;
  /** The writer check between rounds: Galera's view (view.json) read every `writerCheckSeconds`. */
  private writerTimer?: NodeJS.Timeout;
  /** The last claim handed over (stateId, from, to) and when. */
  private lastClaim?: { key: string; atMs: number };
  private stopped = false;
  private peers = new Map<number, PeerState>();
  private last?: LastDecision;
  private lastLog?: { key: string; atMs: number };
  private written?: { file: DecisionFile; at: string };
  /** Never two decisions (or restart requests) for one state; kept in the run directory across agent restarts. */
  private memory: AgentMemory;
  private noPrimarySinceMs?: number;
  /** When the agent first let pc.recovery try in this episode without a Primary. */
  private pcRecoverySinceMs?: number;
  /** Since when this member's mariadbd (for which state) has run outside a Primary component, with no transfer. */
  private outsidePrimary?: { stateId: string; sinceMs: number };
  /** Since when this member (for which state) stands in line for a join (join-turn.ts). */
  private inLine?: { stateId: string; sinceMs: number };
  private running?: Promise<void>;
  private readonly tlsWatch?: TlsWatch;

  public constructor(
    private readonly config: AgentConfig,
    private readonly log: LogLine = logJsonLine,
  ) {
    this.runDir = new RunDir(config.runDir);
    this.memory = this.runDir.readMemory();
    if (config.tls) this.tlsWatch = new TlsWatch({ ...config.tls, timeoutSeconds: Math.min(5, config.tls.checkSeconds) });
  }

  private remember(change: Partial<AgentMemory>): void {
    const next = { ...this.memory, ...change };
    if (JSON.stringify(next) === JSON.stringify(this.memory)) return;
    this.memory = next;
    this.runDir.writeMemory(next);
  }

  /** Starts the HTTP server and the loop; resolves with the port it listens on. */
  public async start(): Promise<number> {
    const server = http.createServer((req, res) => this.handle(req, res));
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.config.port, this.config.host, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    this.log('listening', { member: this.config.podName, port, runDir: this.config.runDir, size: this.config.size });
    this.schedule(0);
    // Between rounds, only an eviction Galera has already made is acted on (claimWriterOnEviction says why).
    this.writerTimer = setInterval(() => this.claimWriterOnEviction(), this.config.writerCheckSeconds * 1000);
    this.tlsWatch?.start();
    return port;
  }

  /** Stops the loop and the server; a tick in progress finishes first (it may be writing a decision). */
  public async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.writerTimer !== undefined) clearInterval(this.writerTimer);
    await this.running;
    await this.tlsWatch?.stop();
    const server = this.server;
    if (server !== undefined) {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  private schedule(delaySeconds: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.running = this.tick()
        .catch((e: Error) => this.log('error', { member: this.config.podName, error: e.stack ?? String(e) }))
        .finally(() => this.schedule(this.config.pollSeconds));
    }, delaySeconds * 1000);
  }

  /** One round: read self, poll peers, decide, act. */
  public async tick(): Promise<void> {
    const self = this.readSelf();
    const polls = await Promise.all(
      this.config.peerUrls
        .map((url, ordinal) => ({ url, ordinal }))
        .filter(({ ordinal }) => ordinal !== this.config.ordinal)
        .map(({ url, ordinal }) => pollPeer(url, ordinal, this.memberName(ordinal), this.config.peerTimeoutSeconds)),
    );
    if (this.stopped) return;
    const now = new Date();
    for (const poll of polls) {
      const before = this.peers.get(poll.ordinal);
      this.peers.set(poll.ordinal, {
        ...poll,
        lastSeen: poll.report !== undefined ? now.toISOString() : before?.lastSeen,
        lastReport: poll.report ?? before?.lastReport,
      });
    }
    const reports = [
      ...(self.report !== undefined ? [self.report] : []),
      ...polls.flatMap((p) => (p.report !== undefined ? [p.report] : [])),
    ].sort((a, b) => a.ordinal - b.ordinal);

    if (reports.some((r) => r.primary)) {
      this.noPrimarySinceMs = undefined;
      this.pcRecoverySinceMs = undefined;
      if (self.report?.primary) this.remember({ bootstrapping: false });
    } else {
      this.noPrimarySinceMs ??= now.getTime();
    }
    const input: ElectionInput = {
      self: this.config.ordinal,
      size: this.config.size,
      statefulSetName: this.config.statefulSetName,
      reports,
      secondsWithoutPrimary: secondsSince(this.noPrimarySinceMs, now.getTime()),
      secondsInPcRecovery: secondsSince(this.pcRecoverySinceMs, now.getTime()),
      blockAfterSeconds: this.config.blockAfterSeconds,
      pcRecoverySeconds: this.config.pcRecoverySeconds,
    };
    const elected = decide(input);
    if (elected.rule === 'pc-recovery') this.pcRecoverySinceMs ??= now.getTime();
    const stateId = self.local?.stateId;
    // In line from the first round the election says join, until the join is handed out (act) or no longer due.
    const lines = stateId !== undefined && stateId !== this.memory.answeredStateId && joinsInTurn(elected, self.report);
    if (!lines) this.inLine = undefined;
    else if (this.inLine?.stateId !== stateId) this.inLine = { stateId, sinceMs: now.getTime() };
    const silent = [...this.peers.values()].flatMap((p) => (p.report === undefined && p.lastReport !== undefined && p.lastSeen !== undefined
      ? [{ report: p.lastReport, secondsSinceSeen: (now.getTime() - Date.parse(p.lastSeen)) / 1000 }]
      : []));
    const decision = takeTurn(elected, {
      self: this.config.ordinal,
      reports: withSilentMembers(reports, silent, this.config.joinTurnSeconds),
      ...(this.inLine !== undefined ? { secondsInLine: (now.getTime() - this.inLine.sinceMs) / 1000 } : {}),
      pollSeconds: this.config.pollSeconds,
      turnSeconds: this.config.joinTurnSeconds,
    });
    if (stateId === undefined || !self.wsrep.running || self.wsrep.primary || self.wsrep.transfer) {
      this.outsidePrimary = undefined;
    } else if (this.outsidePrimary?.stateId !== stateId) {
      this.outsidePrimary = { stateId, sinceMs: now.getTime() };
    }
    this.last = { decision, at: now.toISOString(), input };
    this.logDecision(decision, input, polls, self, now.getTime());
    this.act(decision, input, self);
    this.claimWriter(self, polls);
  }

  /** Hands the mariadb container a takeover of the writer row when writer.ts says this member must take it. */
  private claimWriter(self: SelfView, polls: PeerPoll[]): void {
    this.writeWriterClaim(self, new Map(polls.flatMap((p) => (p.report !== undefined ? [[p.ordinal, p.report] as const] : []))));
  }

  /**
   * Between rounds: the writer's eviction, read from Galera's own view the moment it changes. A round learns that a
   * dead writer's agent does not answer only after the HTTP timeout, and rounds run every second, so without this
   * check the takeover waited up to ~2 s after the eviction (measured: the claim 0.3-1.1 s after the view change).
   * Only the `evicted` ground is acted on here: every other ground rests on the peers' reports, which only a round
   * reads fresh. The candidates are still chosen from the last reports (the members Galera lists, Synced when last
   * seen); a report that is stale by a round can only make this member leave the claim to the next round.
   */
  private claimWriterOnEviction(): void {
    if (this.stopped) return;
    try {
      const self = this.readSelf();
      const peers = new Map([...this.peers.values()].flatMap((p) => (p.lastReport !== undefined ? [[p.ordinal, p.lastReport] as const] : [])));
      this.writeWriterClaim(self, peers, 'evicted');
    } catch (e) {
      this.log('error', { member: this.config.podName, error: (e as Error).stack ?? String(e) });
    }
  }

  private writeWriterClaim(self: SelfView, peers: ReadonlyMap<number, MemberReport>, only?: WriterClaimGround): void {
    const stateId = self.local?.stateId;
    if (stateId === undefined || !self.wsrep.running || this.runDir.writerClaimPending()) return;
    const view = this.runDir.readView();
    const claim = writerClaim({
      self: this.config.ordinal,
      names: this.config.peerUrls.map((_, ordinal) => this.memberName(ordinal)),
      selfSynced: self.wsrep.synced && view?.primary !== false,
      named: self.wsrep.writer,
      peers,
      ...(view?.primary ? { members: view.members } : {}),
    });
    if (claim === undefined || (only !== undefined && claim.ground !== only)) return;
    // The container deletes the file when it starts the UPDATE and publishes the result when it ends: in between
    // this member still reads the old name, and the same claim would be handed over again for nothing.
    const key = `${stateId} ${claim.from} ${claim.to}`;
    const nowMs = Date.now();
    if (this.lastClaim?.key === key && nowMs - this.lastClaim.atMs < WRITER_CLAIM_REPEAT_SECONDS * 1000) return;
    this.lastClaim = { key, atMs: nowMs };
    this.runDir.writeWriterClaim(stateId, claim);
    this.log('writer-claim', { member: this.config.podName, ...claim });
  }

  private act(decision: Decision, input: ElectionInput, self: SelfView): void {
    const local = self.local;
    if (local === undefined) return;
    const waitingForDecision =
      !self.wsrep.running && local.stateId !== this.memory.answeredStateId && !this.runDir.decisionPending();
    if (waitingForDecision && (decision.action === 'join' || decision.action === 'bootstrap')) {
      const file = this.runDir.writeDecision(local.stateId, decision);
      const bootstrapping = decision.action === 'bootstrap';
      this.remember({
        answeredStateId: local.stateId,
        bootstrapping,
        joining: bootstrapping ? undefined : { stateId: local.stateId, sinceMs: Date.now() },
      });
      this.inLine = undefined;
      this.written = { file, at: new Date().toISOString() };
      this.log('decision-written', { member: this.config.podName, decision: file, states: input.reports });
      return;
    }
    // A running mariadbd outside any Primary is restarted whatever the decision (`wait` and `blocked` included: it
    // then waits for a decision with mariadbd stopped, the state the election and the operator's override expect).
    if (!self.wsrep.running) return;
    const nowMs = Date.now();
    // decide never tells a member in a Primary component to bootstrap: a running one here is outside any Primary.
    // One that was told to bootstrap for this state is still starting (InnoDB recovery can take minutes): leave it.
    const fallback =
      decision.action === 'bootstrap' &&
      !this.memory.bootstrapping &&
      (input.secondsWithoutPrimary ?? 0) >= this.config.pcRecoverySeconds;
    const outsideSeconds = this.outsidePrimary === undefined ? 0 : (nowMs - this.outsidePrimary.sinceMs) / 1000;
    const reason = fallback
      ? `no Primary for ${Math.round(input.secondsWithoutPrimary ?? 0)} s and this member must bootstrap: ${decision.reason}`
      : outsideSeconds >= this.config.waitPrimarySeconds
        ? `mariadbd has run ${Math.round(outsideSeconds)} s without reaching a Primary component (bound ` +
          `${this.config.waitPrimarySeconds} s): restarting it so that its state is decided again`
        : undefined;
    if (reason === undefined) return;
    // Once per state, again only when the request did not take effect (the same state still runs) after a while.
    const requestedMs = this.memory.restartRequestedFor === local.stateId ? this.memory.restartRequestedAtMs ?? 0 : undefined;
    if (requestedMs !== undefined && nowMs - requestedMs < this.config.restartRetrySeconds * 1000) return;
    this.runDir.writeRestartRequest(local.stateId, reason);
    this.remember({ restartRequestedFor: local.stateId, restartRequestedAtMs: nowMs });
    this.log('restart-requested', {
      member: this.config.podName,
      stateId: local.stateId,
      reason,
      repeated: requestedMs !== undefined,
      states: input.reports,
    });
  }

  /** This member's report, from the run directory and the agent's own memory; read afresh for every use. */
  private readSelf(): SelfView {
    const problems: string[] = [];
    const localOrProblem = this.runDir.readLocalState();
    const local = isProblem(localOrProblem) ? undefined : localOrProblem;
    if (isProblem(localOrProblem)) problems.push(localOrProblem.problem);
    const wsrep = this.runDir.readWsrep(this.config.wsrepStaleSeconds, Date.now());
    const override = readOverrideFile(this.config.overrideFile);
    // A new state.json after a bootstrap decision means that mariadbd attempt ended: the flag no longer holds.
    if (local !== undefined && local.stateId !== this.memory.answeredStateId) this.remember({ bootstrapping: false });
    // A join holds the others' until the member is Synced, or until its mariadbd attempt ends (a new state.json).
    const joining = this.memory.joining;
    if (joining !== undefined && (wsrep.synced || (local !== undefined && local.stateId !== joining.stateId))) {
      this.remember({ joining: undefined });
    }
    if (local === undefined && !wsrep.running) return { wsrep, problems, ...(override ? { override } : {}) };
    // While mariadbd runs, its live position is the truth; before, the one the mariadb container established.
    const position = wsrep.position ?? local?.position;
    const positionSource = wsrep.position !== undefined ? 'wsrep-status' : local?.positionSource;
    const report: MemberReport = {
      ordinal: this.config.ordinal,
      name: this.config.podName,
      // Running without a state.json (removed by hand?) and no live position: the data state is not established.
      data: wsrep.position !== undefined ? 'known' : local?.data ?? 'unknown',
      ...(position !== undefined ? { position } : {}),
      ...(positionSource !== undefined ? { positionSource } : {}),
      ...(local?.safeToBootstrap !== undefined ? { safeToBootstrap: local.safeToBootstrap } : {}),
      ...(local?.hasViewState !== undefined ? { hasViewState: local.hasViewState } : {}),
      ...(local?.interruptedTransfer !== undefined ? { interruptedTransfer: local.interruptedTransfer } : {}),
      ...(local?.clusters !== undefined ? { clusters: local.clusters } : {}),
      running: wsrep.running,
      primary: wsrep.primary,
      synced: wsrep.synced,
      ...(override !== undefined ? { overrideBootstrapFrom: override } : {}),
      ...(wsrep.clusterUuid !== undefined ? { clusterUuid: wsrep.clusterUuid } : {}),
      ...(this.memory.bootstrapping ? { bootstrapping: true } : {}),
      ...(this.inLine !== undefined && this.inLine.stateId === local?.stateId && !wsrep.running ? { inLine: true } : {}),
      ...(this.memory.joining !== undefined
        ? { joining: true, joiningSeconds: Math.max(0, (Date.now() - this.memory.joining.sinceMs) / 1000) }
        : {}),
    };
    return { local, wsrep, report, problems, ...(override ? { override } : {}) };
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
      res.end(`${JSON.stringify(body, null, 2)}\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      send(405, { error: 'only GET' });
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    try {
      switch (path) {
        case '/healthz':
          send(200, { ok: true });
          return;
        case '/state': {
          const self = this.readSelf();
          if (self.report === undefined) {
            send(503, { error: 'this member has not established its data state yet (no state.json)', problems: self.problems });
          } else {
            send(200, self.report);
          }
          return;
        }
        case '/synced': {
          const wsrep = this.readSelf().wsrep;
          send(wsrep.synced ? 200 : 503, { synced: wsrep.synced, running: wsrep.running, primary: wsrep.primary });
          return;
        }
        case '/writer': {
          // 200 only on the member the replicated writer row names, while it is Primary and Synced (HAProxy).
          const wsrep = this.readSelf().wsrep;
          const writer = wsrep.synced && wsrep.writer === this.config.podName;
          send(writer ? 200 : 503, { writer, named: wsrep.writer ?? null, synced: wsrep.synced, running: wsrep.running });
          return;
        }
        case '/status':
          send(200, this.status());
          return;
        case '/metrics':
          res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4', 'cache-control': 'no-store' });
          res.end(this.metrics());
          return;
        default:
          send(404, { error: `unknown path ${path}; try /status, /state, /synced, /writer, /metrics, /healthz` });
      }
    } catch (e) {
      send(500, { error: String(e) });
    }
  }

  private status(): Record<string, unknown> {
    const self = this.readSelf();
    const decision = this.last?.decision;
    return {
      member: this.config.podName,
      ordinal: this.config.ordinal,
      size: this.config.size,
      self: self.report ?? null,
      local: self.local ?? null,
      wsrep: self.wsrep,
      override: self.override ?? null,
      problems: self.problems,
      peers: [...this.peers.values()]
        .sort((a, b) => a.ordinal - b.ordinal)
        .map((p) => ({
          ordinal: p.ordinal,
          name: p.name,
          url: p.url,
          reachable: p.report !== undefined,
          error: p.error ?? null,
          lastSeen: p.lastSeen ?? null,
          lastReport: p.lastReport ?? null,
        })),
      decision: decision ?? null,
      decidedAt: this.last?.at ?? null,
      decidedFrom: this.last?.input ?? null,
      blocked: decision?.action === 'blocked' ? decision.reason : null,
      secondsWithoutPrimary: secondsSince(this.noPrimarySinceMs, Date.now()),
      secondsInPcRecovery: secondsSince(this.pcRecoverySinceMs, Date.now()),
      lastWrittenDecision: this.written ?? null,
      memory: this.memory,
    };
  }

  /** The Prometheus metrics (metrics.ts) from this member's state read afresh and the last tick's peers and decision. */
  private metrics(): string {
    let phase: string | undefined;
    try {
      phase = fs.readFileSync(this.runDir.file('phase'), 'utf8').split('\n')[0].trim() || undefined;
    } catch {
      phase = undefined;
    }
    return renderMetrics({
      member: this.config.podName,
      size: this.config.size,
      phase,
      self: this.readSelf().report,
      peers: [...this.peers.values()].sort((a, b) => a.ordinal - b.ordinal)
        .map((p) => ({ name: p.name, reachable: p.report !== undefined, report: p.report })),
      decision: this.last?.decision,
      decidedAtMs: this.last === undefined ? undefined : Date.parse(this.last.at),
      secondsWithoutPrimary: secondsSince(this.noPrimarySinceMs, Date.now()),
      ...(this.tlsWatch ? { tls: this.tlsWatch.view() } : {}),
    });
  }

  private logDecision(decision: Decision, input: ElectionInput, polls: PeerPoll[], self: SelfView, nowMs: number): void {
    // The reason embeds the seconds waited; the key leaves it out so an unchanged situation logs once a minute.
    const key = JSON.stringify([decision.action, decision.rule, input.reports, polls.map((p) => p.error ?? null), self.problems]);
    const repeat = decision.action === 'wait' || decision.action === 'blocked';
    const due =
      this.lastLog === undefined ||
      this.lastLog.key !== key ||
      (repeat && nowMs - this.lastLog.atMs >= REPEAT_LOG_SECONDS * 1000);
    if (!due) return;
    this.lastLog = { key, atMs: nowMs };
    this.log('decision', {
      member: this.config.podName,
      level: decision.action === 'blocked' ? 'error' : 'info',
      decision,
      states: input.reports,
      unreachable: polls.filter((p) => p.error !== undefined).map((p) => ({ name: p.name, error: p.error })),
      problems: self.problems,
      secondsWithoutPrimary: Math.round(input.secondsWithoutPrimary ?? 0),
    });
  }

  private memberName(ordinal: number): string {
    return `${this.config.statefulSetName}-${ordinal}`;
  }
}

function secondsSince(startMs: number | undefined, nowMs: number): number {
  return startMs === undefined ? 0 : (nowMs - startMs) / 1000;
}
