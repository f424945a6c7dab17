/**
 * The agent's Prometheus metrics (`GET /metrics`, text exposition format 0.0.4): what the recovery is doing, in the
 * terms an alert needs. mysqld-exporter says what mariadbd reports while it runs; only the agent knows what a member
 * does while mariadbd is NOT running (waiting for a decision, blocked, which peers it waits for), so the recovery
 * alerts read these.
 *
 * A pure function of a snapshot: no I/O, same snapshot, same text (labels and series in a fixed order).
 */
import type { TlsView } from './tls-watch';
import type { DataState, Decision, MemberReport } from './types';

/** What the metrics are made from: the agent's view at one moment. */
export interface MetricsSnapshot {
  readonly member: string;
  readonly size: number;
  /** The entrypoint's phase (first line of `<run>/phase`), e.g. `waiting`, `running`; undefined before it wrote one. */
  readonly phase?: string;
  readonly self?: MemberReport;
  readonly peers: ReadonlyArray<{ readonly name: string; readonly reachable: boolean; readonly report?: MemberReport }>;
  readonly decision?: Decision;
  /** When the last decision was made (ms since the epoch). */
  readonly decidedAtMs?: number;
  readonly secondsWithoutPrimary: number;
  /** With TLS: the last check of the mounted and the served certificate (tls-watch.ts); undefined without TLS. */
  readonly tls?: TlsView;
}

/** Every phase the entrypoint writes (assets/galera/entrypoint.sh `set_phase`): each gets a series, 0 or 1. */
export const ENTRYPOINT_PHASES = ['initializing', 'recovering', 'waiting', 'starting', 'establishing', 'running', 'stopping', 'stopped', 'failed'] as const;
const DATA_STATES: readonly DataState[] = ['empty', 'wiped', 'known', 'unknown'];
const ACTIONS: ReadonlyArray<Decision['action']> = ['join', 'bootstrap', 'wait', 'blocked'];

export function renderMetrics(s: MetricsSnapshot): string {
  const out: string[] = [];
  const member = { member: s.member };
  const gauge = (name: string, help: string, series: ReadonlyArray<[Record<string, string>, number]>) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`);
    for (const [labels, value] of series) out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
  };
  const flag = (value: boolean | undefined) => (value ? 1 : 0);
  const self = s.self;

  gauge('galera_agent_cluster_size', 'Members the StatefulSet should have (its replicas).', [[member, s.size]]);
  gauge('galera_agent_member_running', 'mariadbd runs on this member.', [[member, flag(self?.running)]]);
  gauge('galera_agent_member_primary', 'This member is in a Primary component.', [[member, flag(self?.primary)]]);
  gauge('galera_agent_member_synced', 'This member is Primary and Synced.', [[member, flag(self?.synced)]]);
  gauge('galera_agent_member_data_state', 'What this member\'s volume holds (one series per state, 1 for the current one; all 0 before the entrypoint established it).',
    DATA_STATES.map((state) => [{ ...member, state }, flag(self?.data === state)]));
  gauge('galera_agent_member_seqno', 'This member\'s seqno (live while mariadbd runs, else recovered from its volume); -1 when unknown.',
    [[member, self?.position?.seqno ?? -1]]);
  gauge('galera_agent_recovery_phase', 'The mariadb container\'s phase (one series per phase, 1 for the current one).',
    ENTRYPOINT_PHASES.map((phase) => [{ ...member, phase }, flag(s.phase === phase)]));
  gauge('galera_agent_decision', 'The agent\'s last decision (one series per action, 1 for the current one; rule says which rule decided).',
    ACTIONS.map((action) => [{ ...member, action, rule: s.decision?.action === action ? s.decision.rule : '' }, flag(s.decision?.action === action)]));
  gauge('galera_agent_decision_timestamp_seconds', 'When the last decision was made (Unix time); 0 before the first.',
    [[member, s.decidedAtMs === undefined ? 0 : Math.floor(s.decidedAtMs / 1000)]]);
  gauge('galera_agent_recovery_blocked', 'Automatic recovery refuses to proceed: an operator must act (see the decision\'s reason in /status).',
    [[member, flag(s.decision?.action === 'blocked')]]);
  gauge('galera_agent_waiting_for_member', 'A member this agent waits for: unreachable, or its data state unknown (1), while it decides wait or blocked.',
    waitedFor(s).map((name) => [{ ...member, peer: name }, 1]));
  gauge('galera_agent_seconds_without_primary', 'How long this agent has seen no Primary component anywhere (0 while one exists).',
    [[member, Math.round(s.secondsWithoutPrimary)]]);
  gauge('galera_agent_peer_reachable', 'The peer\'s agent answered the last poll with a valid report.',
    s.peers.map((p) => [{ ...member, peer: p.name }, flag(p.reachable)]));
  if (s.tls) {
    const { mounted, served } = s.tls;
    // A series only for what was read: an absent series is "unknown", never a timestamp of 0 that reads as expired.
    gauge('galera_agent_tls_mounted_not_after_seconds', 'notAfter (Unix time) of the certificate mounted for mariadbd (tls.crt).',
      mounted ? [[member, Math.floor(mounted.notAfterMs / 1000)]] : []);
    gauge('galera_agent_tls_served_not_after_seconds', 'notAfter (Unix time) of the certificate mariadbd presents to a client now.',
      served ? [[member, Math.floor(served.notAfterMs / 1000)]] : []);
    gauge('galera_agent_tls_served_read', 'The last check read the certificate mariadbd serves (0: mariadbd down, or no TLS on its port).',
      [[member, flag(served !== undefined)]]);
    gauge('galera_agent_tls_served_is_mounted', 'mariadbd serves the mounted certificate (same SHA-256 fingerprint); 0 while a renewal has not been loaded.',
      mounted && served ? [[member, flag(mounted.fingerprint === served.fingerprint)]] : []);
  }
  return `${out.join('\n')}\n`;
}

/** The peers a `wait`/`blocked` decision is waiting on: those that did not answer, or whose data is unknown. */
function waitedFor(s: MetricsSnapshot): string[] {
  if (s.decision?.action !== 'wait' && s.decision?.action !== 'blocked') return [];
  const unknownSelf = s.self === undefined || s.self.data === 'unknown' ? [s.member] : [];
  const peers = s.peers.filter((p) => !p.reachable || p.report?.data === 'unknown').map((p) => p.name);
  return [...unknownSelf, ...peers];
}

function formatLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

function formatValue(value: number): string {
  return Number.isFinite(value) ? String(value) : 'NaN';
}
