/**
 * The file contract between the agent and the mariadb container, through a memory-backed emptyDir both mount
 * (README.md in this folder is the reference for the other side):
 *
 *   state.json        mariadb container → agent   this member's data state (LocalState), before mariadbd starts
 *   wsrep.json        mariadb container → agent   every second while mariadbd runs: {running, wsrep: {...}}
 *   decision.json     agent → mariadb container   join/bootstrap for one state.json (its stateId); consumed (deleted)
 *   restart-request   agent → mariadb container   stop mariadbd (SIGTERM, bounded, then SIGKILL) and re-establish state
 *                                                 (pc.recovery fallback, or too long outside a Primary component)
 *   writer-claim      agent → mariadb container   take the writer row over (writer.ts): a conditional UPDATE, run once
 *   view.json         mariadbd → agent            at every Galera view change (notify.sh, wsrep_notify_cmd): the
 *                                                 members of this member's view, the moment it changes
 *   agent-memory.json agent only                  which state it answered, across restarts of the agent container
 *
 * Every write is atomic (temporary file in the same directory, then rename), so a reader never sees half a file.
 * Parsing is defensive: a malformed file is reported as a problem and treated as absent, never trusted.
 */
import * as fs from 'fs';
import * as path from 'path';
import { isUsablePosition } from './election';
import type { DataState, Decision, GaleraPosition, LocalState, MemberReport, PositionSource } from './types';
import type { WriterClaim } from './writer';

export const STATE_FILE = 'state.json';
export const WSREP_FILE = 'wsrep.json';
export const DECISION_FILE = 'decision.json';
export const RESTART_REQUEST_FILE = 'restart-request';
export const WRITER_CLAIM_FILE = 'writer-claim';
export const VIEW_FILE = 'view.json';
/** The agent's own memory (which state it answered), so a restarted sidecar never answers one state twice. */
export const AGENT_MEMORY_FILE = 'agent-memory.json';

/** What the agent must not forget when its container restarts (the run directory outlives it). */
export interface AgentMemory {
  /** The stateId a decision was written for. */
  readonly answeredStateId?: string;
  /** The stateId a restart was requested for. */
  readonly restartRequestedFor?: string;
  /** When it was last requested (epoch ms): a request that did not take effect is repeated after a while. */
  readonly restartRequestedAtMs?: number;
  /** A bootstrap decision was handed out and the member has not been seen Primary since. */
  readonly bootstrapping: boolean;
  /** A `join` was handed out for this state (epoch ms) and the member has not been seen Synced since. */
  readonly joining?: { readonly stateId: string; readonly sinceMs: number };
}

/** What wsrep.json says, after the freshness check. */
export interface WsrepView {
  /** mariadbd runs: wsrep.json says so and was written less than the stale limit ago. */
  readonly running: boolean;
  /** `wsrep_cluster_status = Primary`. */
  readonly primary: boolean;
  /** A state transfer to this member is under way (the container saw `sst_in_progress`). */
  readonly transfer: boolean;
  /** Primary, Synced (local state 4), ready, connected, not desynced, not rejecting queries. */
  readonly synced: boolean;
  /** `wsrep_cluster_state_uuid`, when running. */
  readonly clusterUuid?: string;
  /**
   * The live position (`wsrep_local_state_uuid:wsrep_last_committed`), when running and usable: a member that ran
   * for days and then lost the Primary has committed far beyond what state.json said when it started.
   */
  readonly position?: GaleraPosition;
  /** The raw status and variables the status loop wrote (for /status). */
  readonly status: Readonly<Record<string, string>>;
  /**
   * The member the writer row (`galera_ha.writer`) names, as this member read it in the same round as its status;
   * absent when it could not be read (not Primary, the table not created yet).
   */
  readonly writer?: string;
  /** Seconds since wsrep.json was written, if it exists. */
  readonly ageSeconds?: number;
}

/** Galera's view of the cluster as this member last saw it change (view.json, written by notify.sh). */
export interface GaleraView {
  /** The view is a Primary component. */
  readonly primary: boolean;
  /** The pod names (wsrep_node_name) of its members. */
  readonly members: readonly string[];
}

/** The decision.json the mariadb container reads: flat strings, one key per line, so a shell can `sed` it. */
export interface DecisionFile {
  readonly stateId: string;
  readonly action: 'join' | 'bootstrap';
  /** `uuid:seqno` for `--wsrep-start-position`, or '' when mariadbd must read grastate.dat itself. */
  readonly startPosition: string;
  readonly rule: string;
  readonly reason: string;
}

const DATA_STATES: readonly DataState[] = ['empty', 'wiped', 'known', 'unknown'];
const POSITION_SOURCES: readonly PositionSource[] = ['grastate', 'wsrep-recover', 'wsrep-status'];
/** A pod name (DNS-1123 label). */
const POD_NAME = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const NOT_RUNNING: WsrepView = { running: false, primary: false, synced: false, transfer: false, status: {} };

/** The run directory shared with the mariadb container. */
export class RunDir {
  public constructor(public readonly dir: string) {}

  public file(name: string): string {
    return path.join(this.dir, name);
  }

  /** state.json, or a problem when it exists but is malformed; undefined when absent. */
  public readLocalState(): LocalState | Problem | undefined {
    const text = readIfExists(this.file(STATE_FILE));
    return text === undefined ? undefined : parseLocalState(text);
  }

  /** wsrep.json, treated as "not running" when absent, malformed or older than `staleSeconds`. */
  public readWsrep(staleSeconds: number, nowMs: number): WsrepView {
    const file = this.file(WSREP_FILE);
    let mtimeMs: number;
    let text: string;
    try {
      mtimeMs = fs.statSync(file).mtimeMs;
      text = fs.readFileSync(file, 'utf8');
    } catch {
      return NOT_RUNNING;
    }
    const ageSeconds = Math.max(0, (nowMs - mtimeMs) / 1000);
    const parsed = parseWsrep(text);
    if (parsed === undefined || ageSeconds > staleSeconds) return { ...NOT_RUNNING, ageSeconds };
    return { ...parsed, ageSeconds };
  }

  /**
   * view.json, or undefined when absent or malformed. Its owner removes it before mariadbd starts and after it
   * exits, so the caller uses it only while wsrep.json says mariadbd runs.
   */
  public readView(): GaleraView | undefined {
    return parseView(readIfExists(this.file(VIEW_FILE)) ?? '');
  }

  public decisionPending(): boolean {
    return fs.existsSync(this.file(DECISION_FILE));
  }

  public writeDecision(stateId: string, decision: Decision & { action: 'join' | 'bootstrap' }): DecisionFile {
    const content: DecisionFile = {
      stateId,
      action: decision.action,
      startPosition: decision.startPosition === undefined ? '' : `${decision.startPosition.uuid}:${decision.startPosition.seqno}`,
      rule: decision.rule,
      reason: decision.reason,
    };
    writeAtomically(this.file(DECISION_FILE), `${JSON.stringify(content, null, 2)}\n`);
    return content;
  }

  /** The agent's memory; a missing or unreadable file is an empty memory (the agent may then answer again). */
  public readMemory(): AgentMemory {
    const value = parseJsonObject(readIfExists(this.file(AGENT_MEMORY_FILE)) ?? '');
    const text = (key: string) => (typeof value?.[key] === 'string' ? { [key]: value[key] as string } : {});
    const at = value?.restartRequestedAtMs;
    const joining = value?.joining as Record<string, unknown> | undefined;
    return {
      ...text('answeredStateId'),
      ...text('restartRequestedFor'),
      ...(typeof at === 'number' && Number.isFinite(at) ? { restartRequestedAtMs: at } : {}),
      bootstrapping: value?.bootstrapping === true,
      ...(typeof joining?.stateId === 'string' && typeof joining.sinceMs === 'number' && Number.isFinite(joining.sinceMs)
        ? { joining: { stateId: joining.stateId, sinceMs: joining.sinceMs } }
        : {}),
    };
  }

  public writeMemory(memory: AgentMemory): void {
    writeAtomically(this.file(AGENT_MEMORY_FILE), `${JSON.stringify(memory)}\n`);
  }

  public writeRestartRequest(stateId: string, reason: string): void {
    writeAtomically(this.file(RESTART_REQUEST_FILE), `${JSON.stringify({ stateId, reason }, null, 2)}\n`);
  }

  /** A claim not yet taken by the mariadb container (it deletes the file when it starts the UPDATE). */
  public writerClaimPending(): boolean {
    return fs.existsSync(this.file(WRITER_CLAIM_FILE));
  }

  /**
   * One key per line, flat strings, like decision.json, so the shell reads it with its json_field. Names are pod
   * names (DNS-1123), and the shell checks them again before they go into SQL.
   */
  public writeWriterClaim(stateId: string, claim: WriterClaim): void {
    const content = { stateId, from: claim.from, to: claim.to, requireAbsent: String(claim.requireAbsent), reason: claim.reason };
    writeAtomically(this.file(WRITER_CLAIM_FILE), `${JSON.stringify(content, null, 2)}\n`);
  }
}

/** A file that exists but cannot be used; the agent logs it and `/status` shows it. */
export interface Problem {
  readonly problem: string;
}

export function isProblem(value: unknown): value is Problem {
  return typeof value === 'object' && value !== null && 'problem' in value;
}

/** The operator override file (a ConfigMap key mounted as a file): its trimmed content, or undefined. */
export function readOverrideFile(file: string): string | undefined {
  const value = readIfExists(file)?.trim();
  return value === undefined || value === '' ? undefined : value;
}

export function parseLocalState(text: string): LocalState | Problem {
  const value = parseJsonObject(text);
  if (value === undefined) return { problem: `${STATE_FILE} is not a JSON object` };
  const problems: string[] = [];
  if (typeof value.stateId !== 'string' || value.stateId === '') problems.push('stateId must be a non-empty string');
  if (!DATA_STATES.includes(value.data as DataState)) problems.push(`data must be one of ${DATA_STATES.join(', ')}`);
  const position = value.position === undefined ? undefined : parsePosition(value.position);
  if (value.position !== undefined && position === undefined) problems.push('position must be {uuid: string, seqno: integer}');
  if (value.data === 'known' && position === undefined) problems.push('data "known" needs a position');
  if (value.positionSource !== undefined && !POSITION_SOURCES.includes(value.positionSource as PositionSource)) {
    problems.push(`positionSource must be one of ${POSITION_SOURCES.join(', ')}`);
  }
  for (const flag of ['safeToBootstrap', 'hasViewState', 'interruptedTransfer']) {
    if (value[flag] !== undefined && typeof value[flag] !== 'boolean') problems.push(`${flag} must be a boolean`);
  }
  if (value.clusters !== undefined && !isStringArray(value.clusters)) problems.push('clusters must be an array of strings');
  if (problems.length > 0) return { problem: `${STATE_FILE}: ${problems.join('; ')}` };
  return {
    stateId: value.stateId as string,
    data: value.data as DataState,
    ...(position !== undefined ? { position } : {}),
    ...(value.positionSource !== undefined ? { positionSource: value.positionSource as PositionSource } : {}),
    ...(value.safeToBootstrap !== undefined ? { safeToBootstrap: value.safeToBootstrap as boolean } : {}),
    ...(value.hasViewState !== undefined ? { hasViewState: value.hasViewState as boolean } : {}),
    ...(value.interruptedTransfer !== undefined ? { interruptedTransfer: value.interruptedTransfer as boolean } : {}),
    ...(value.clusters !== undefined ? { clusters: [...(value.clusters as string[])].sort() } : {}),
  };
}

function isStringArray(value: unknown): value is string[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'string');
}

/**
 * A peer's `GET /state` answer, checked field by field: a report that does not describe the member we asked
 * (wrong ordinal or name, e.g. a misrouted address) is refused, so the member counts as missing.
 */
export function parseMemberReport(body: string, ordinal: number, name: string): MemberReport | Problem {
  const value = parseJsonObject(body);
  if (value === undefined) return { problem: 'the answer is not a JSON object' };
  const problems: string[] = [];
  if (value.ordinal !== ordinal) problems.push(`ordinal is ${JSON.stringify(value.ordinal)}, expected ${ordinal}`);
  if (value.name !== name) problems.push(`name is ${JSON.stringify(value.name)}, expected ${JSON.stringify(name)}`);
  if (!DATA_STATES.includes(value.data as DataState)) problems.push(`data is ${JSON.stringify(value.data)}`);
  const position = value.position === undefined ? undefined : parsePosition(value.position);
  if (value.position !== undefined && position === undefined) problems.push('position is malformed');
  if (value.positionSource !== undefined && !POSITION_SOURCES.includes(value.positionSource as PositionSource)) {
    problems.push(`positionSource is ${JSON.stringify(value.positionSource)}`);
  }
  for (const flag of ['running', 'primary', 'synced']) {
    if (typeof value[flag] !== 'boolean') problems.push(`${flag} must be a boolean`);
  }
  for (const flag of ['safeToBootstrap', 'hasViewState', 'bootstrapping', 'interruptedTransfer', 'inLine', 'joining']) {
    if (value[flag] !== undefined && typeof value[flag] !== 'boolean') problems.push(`${flag} must be a boolean`);
  }
  const joiningSeconds = value.joiningSeconds;
  if (joiningSeconds !== undefined && !(typeof joiningSeconds === 'number' && Number.isFinite(joiningSeconds) && joiningSeconds >= 0)) {
    problems.push('joiningSeconds must be a number of seconds');
  }
  if (value.clusters !== undefined && !isStringArray(value.clusters)) problems.push('clusters must be an array of strings');
  for (const text of ['overrideBootstrapFrom', 'clusterUuid']) {
    if (value[text] !== undefined && typeof value[text] !== 'string') problems.push(`${text} must be a string`);
  }
  if (problems.length > 0) return { problem: problems.join('; ') };
  return value as unknown as MemberReport;
}

/**
 * wsrep.json: `{"running": true, "wsrep": {"wsrep_cluster_status": "Primary", ...}}`. Primary and Synced are
 * derived here, in one tested place, from the raw values (the fencing rule of the research: Primary, local state 4,
 * ready, connected, not desynced, not rejecting queries).
 */
export function parseWsrep(text: string): Omit<WsrepView, 'ageSeconds'> | undefined {
  const value = parseJsonObject(text);
  if (value === undefined || typeof value.running !== 'boolean') return undefined;
  const raw = typeof value.wsrep === 'object' && value.wsrep !== null ? (value.wsrep as Record<string, unknown>) : {};
  const status: Record<string, string> = {};
  for (const key of Object.keys(raw).sort()) status[key.toLowerCase()] = String(raw[key]);
  const running = value.running;
  const transfer = running && value.transfer === true;
  const primary = running && status.wsrep_cluster_status === 'Primary';
  const synced =
    primary &&
    status.wsrep_local_state === '4' &&
    status.wsrep_ready === 'ON' &&
    status.wsrep_connected === 'ON' &&
    (status.wsrep_desync ?? 'OFF') === 'OFF' &&
    (status.wsrep_reject_queries ?? 'NONE') === 'NONE';
  const clusterUuid = running ? status.wsrep_cluster_state_uuid : undefined;
  const position = { uuid: status.wsrep_local_state_uuid, seqno: Number(status.wsrep_last_committed) };
  const live = running && /^-?[0-9]+$/.test(status.wsrep_last_committed ?? '') && isUsablePosition(position);
  // A pod name (DNS-1123 label) or nothing: the row is data anyone with write access could change.
  const writer = running && typeof value.writer === 'string' && POD_NAME.test(value.writer) ? value.writer : undefined;
  return {
    running, primary, synced, transfer, status,
    ...(clusterUuid ? { clusterUuid } : {}), ...(live ? { position } : {}), ...(writer !== undefined ? { writer } : {}),
  };
}

/** view.json: `{"primary": true, "members": ["galera-0", "galera-2"]}`; only pod names count as members. */
export function parseView(text: string): GaleraView | undefined {
  const value = parseJsonObject(text);
  if (value === undefined || typeof value.primary !== 'boolean' || !isStringArray(value.members)) return undefined;
  return { primary: value.primary, members: value.members.filter((name) => POD_NAME.test(name)) };
}

function parsePosition(value: unknown): GaleraPosition | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const { uuid, seqno } = value as Record<string, unknown>;
  if (typeof uuid !== 'string' || typeof seqno !== 'number' || !Number.isSafeInteger(seqno)) return undefined;
  return { uuid, seqno };
}

function parseJsonObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

function writeAtomically(file: string, content: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, content, { mode: 0o644 });
  fs.renameSync(tmp, file);
}

