/**
 * Which Galera settings may change by a rolling restart (one member at a time, as a config-hash roll does) and
 * which must change on every member at once (cluster-wide), read from two rendered server.cnf files: what runs
 * and what the manifests would apply.
 *
 * A roll runs a mixed cluster for minutes: members with the old value beside members with the new one. That is
 * harmless for a per-member setting (a buffer size, a timeout, the gcache size) and fatal for one the members
 * must agree on: a member with another `wsrep_cluster_name` is refused by its peers (it never rejoins, and once
 * the majority has rolled the old members are the ones shut out); a member that speaks TLS on the replication
 * port cannot talk to one that does not. Synth has no memory of the previous state, so this comparison runs in
 * the preflight plan (`--plan`), which reads the live ConfigMap and refuses the roll with the procedure.
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s. The preflight CLI bundles it.
 */
import { PROVIDER_OPTIONS, SERVER_GROUP, optionNameSpellings, parseProviderOptions, readIni } from './server-config';

/**
 * How a setting may change on a running cluster:
 * - `rolling`: per member; members with the old and the new value work together, so a config-hash roll is safe;
 * - `cluster-wide`: every member must have the same value; a roll would split the cluster, so it is refused and
 *   done by the procedure (README, "Day 2");
 * - `data`: fixed when the data directory is created; a member started with another value refuses its data or
 *   serves it differently; changed only by a logical dump and reload into a new cluster.
 */
export type SettingScope = 'rolling' | 'cluster-wide' | 'data';

/** What the library knows about one setting: its scope and why. */
export interface SettingRule {
  readonly scope: SettingScope;
  readonly why: string;
}

/** The README section every refused change points to. */
export const DAY2_PROCEDURE = 'README, "Day 2: changing a cluster-wide Galera setting"';

/**
 * Server options (normalized names, any server group) that are not `rolling`. Every other server option is
 * per member: MariaDB's system variables are per server, and Galera replicates row events, not settings.
 */
export const SERVER_OPTION_RULES: Readonly<Record<string, SettingRule>> = {
  wsrep_cluster_name: {
    scope: 'cluster-wide',
    why: 'members only join peers with the same cluster name: a rolled member is refused by the others (and once most have rolled, the rest are shut out)',
  },
  wsrep_sst_method: {
    scope: 'cluster-wide',
    why: 'a joiner asks its donor for its own SST method: a donor configured for another method (its tools, user and port) can fail the transfer and leave the joiner down',
  },
  wsrep_gtid_mode: {
    scope: 'cluster-wide',
    why: 'Galera GTIDs are consistent only when every member assigns them the same way',
  },
  wsrep_gtid_domain_id: {
    scope: 'cluster-wide',
    why: 'every member must write replicated transactions in the same GTID domain, or the GTID positions diverge',
  },
  lower_case_table_names: {
    scope: 'data',
    why: 'is fixed when the data directory is created; a member started with another value cannot open the data dictionary',
  },
  innodb_page_size: {
    scope: 'data',
    why: 'is fixed when the InnoDB system tablespace is created; a member started with another value refuses its data',
  },
  innodb_data_file_path: {
    scope: 'data',
    why: 'describes the existing system tablespace files; a member started with another value refuses its data',
  },
};

/** Galera provider options that are not `rolling` (TLS is judged as one mode, see tlsMode). */
export const PROVIDER_OPTION_RULES: Readonly<Record<string, SettingRule>> = {
  'socket.ssl': {
    scope: 'cluster-wide',
    why: 'replication TLS on/off: a member that speaks TLS on the replication port cannot talk to one that does not',
  },
  'socket.dynamic': {
    scope: 'cluster-wide',
    why: 'replication TLS on/off: it lets a member accept both TLS and plain peers, the bridge state of a TLS change',
  },
  'socket.ssl_ca': {
    scope: 'cluster-wide',
    why: 'the CA a member trusts: a member that trusts only a new CA refuses peers whose certificates the old one signed',
  },
  'socket.ssl_cipher': {
    scope: 'cluster-wide',
    why: 'a member whose cipher list shares no cipher with its peers cannot open a replication connection to them',
  },
};

/**
 * The TLS modes of Galera replication that a roll must bridge: `plain` (no TLS), `tls` (TLS only) and `both`
 * (TLS, accepting plain peers too: `socket.dynamic`). Two modes work together when equal or when one is `both`.
 */
export type ReplicationTlsMode = 'plain' | 'tls' | 'both';

const TRUE_VALUES = new Set(['yes', 'true', 'on', '1']);

/**
 * A member's replication TLS mode from its provider options. TLS is on with `socket.ssl=YES`, or when
 * `socket.ssl` is not set and both `socket.ssl_key` and `socket.ssl_cert` are (Galera enables it then);
 * `socket.dynamic=YES` with TLS on accepts plain peers as well (Galera 26.4: "try TLS first, then fall back").
 */
export function tlsMode(options: ReadonlyMap<string, string>): ReplicationTlsMode {
  const flag = (key: string) => TRUE_VALUES.has((options.get(key) ?? '').toLowerCase());
  const on = options.has('socket.ssl') ? flag('socket.ssl') : options.has('socket.ssl_key') && options.has('socket.ssl_cert');
  if (!on) return 'plain';
  return flag('socket.dynamic') ? 'both' : 'tls';
}

/** Whether members in mode `a` and members in mode `b` can replicate with each other during a roll. */
export function tlsModesCompatible(a: ReplicationTlsMode, b: ReplicationTlsMode): boolean {
  return a === b || a === 'both' || b === 'both';
}

/** The next roll on the safe path from one TLS mode to another: through `both`. */
export function tlsBridge(from: ReplicationTlsMode, to: ReplicationTlsMode): string {
  if (tlsModesCompatible(from, to)) return `roll to ${to}`;
  return `roll to both first (TLS on with socket.dynamic=YES), wait until every member runs it, then roll to ${to}`;
}

/** One setting that differs between the running server.cnf and the next one. */
export interface SettingChange {
  /** `wsrep_cluster_name`, `wsrep_provider_options gcache.size`, `replication TLS`. */
  readonly setting: string;
  /** Undefined when the setting is not in the running file. */
  readonly from?: string;
  /** Undefined when the setting is removed. */
  readonly to?: string;
  readonly scope: SettingScope;
  readonly why: string;
  /** Whether a roll (one member at a time) can make this change without splitting the cluster or its data. */
  readonly rollingSafe: boolean;
  /** What to do instead when it is not (or the safe path when it is a step of one). */
  readonly procedure?: string;
}

/** The server options of a server.cnf by their canonical name (what MariaDB resolves a spelling to). */
function serverOptions(cnf: string): Map<string, string> {
  const options = new Map<string, string>();
  for (const o of readIni(cnf)) {
    if (SERVER_GROUP.test(o.section)) options.set(optionNameSpellings(o.key).at(-1)!, o.value);
  }
  return options;
}

function serverRule(name: string): SettingRule {
  return Object.hasOwn(SERVER_OPTION_RULES, name) ? SERVER_OPTION_RULES[name]
    : { scope: 'rolling', why: 'a per-member server setting: members with the old and the new value replicate with each other' };
}

function providerRule(key: string): SettingRule {
  return Object.hasOwn(PROVIDER_OPTION_RULES, key) ? PROVIDER_OPTION_RULES[key]
    : { scope: 'rolling', why: 'a per-member provider option: members with the old and the new value replicate with each other' };
}

/**
 * Every setting that differs between the running server.cnf (`live`) and the next one (`next`), each with its
 * scope and whether a roll can make it. The gcomm member list (`wsrep_cluster_address`) is left to the member-count
 * rules (it changes with the replicas). Replication TLS is judged as one mode: a change that bridges through `both`
 * rolls safely step by step; the individual `socket.*` options then follow the mode's verdict.
 */
export function settingChanges(live: string, next: string): SettingChange[] {
  const before = serverOptions(live);
  const after = serverOptions(next);
  const changes: SettingChange[] = [];
  const names = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const name of names) {
    if (name === PROVIDER_OPTIONS || name === 'wsrep_cluster_address' || before.get(name) === after.get(name)) continue;
    const rule = serverRule(name);
    changes.push(change(name, before.get(name), after.get(name), rule, rule.scope === 'rolling', rule.scope === 'rolling' ? undefined : DAY2_PROCEDURE));
  }
  const providerBefore = parseProviderOptions(before.get(PROVIDER_OPTIONS) ?? '');
  const providerAfter = parseProviderOptions(after.get(PROVIDER_OPTIONS) ?? '');
  const modeBefore = tlsMode(providerBefore);
  const modeAfter = tlsMode(providerAfter);
  const tlsSafe = tlsModesCompatible(modeBefore, modeAfter);
  if (modeBefore !== modeAfter) {
    changes.push(change('replication TLS', modeBefore, modeAfter, PROVIDER_OPTION_RULES['socket.ssl'], tlsSafe,
      tlsSafe ? `a step of the TLS change: ${tlsBridge(modeBefore, modeAfter)}` : `${tlsBridge(modeBefore, modeAfter)} (${DAY2_PROCEDURE})`));
  }
  const keys = [...new Set([...providerBefore.keys(), ...providerAfter.keys()])].sort();
  for (const key of keys) {
    if (providerBefore.get(key) === providerAfter.get(key)) continue;
    const rule = providerRule(key);
    const setting = `${PROVIDER_OPTIONS} ${key}`;
    if (key === 'socket.ssl' || key === 'socket.dynamic') {
      // Judged above as the TLS mode; listed so the reader sees which option moved.
      changes.push(change(setting, providerBefore.get(key), providerAfter.get(key), rule, tlsSafe, tlsSafe ? undefined : DAY2_PROCEDURE));
    } else if (key === 'socket.ssl_ca' || key === 'socket.ssl_cipher') {
      // Only matters while TLS is in use on both sides of the roll: a member in `both` still accepts plain peers.
      const bothStrict = modeBefore === 'tls' && modeAfter === 'tls';
      changes.push(change(setting, providerBefore.get(key), providerAfter.get(key), rule, !bothStrict, bothStrict ? DAY2_PROCEDURE : undefined));
    } else {
      changes.push(change(setting, providerBefore.get(key), providerAfter.get(key), rule, rule.scope === 'rolling', rule.scope === 'rolling' ? undefined : DAY2_PROCEDURE));
    }
  }
  return changes;
}

function change(setting: string, from: string | undefined, to: string | undefined, rule: SettingRule, rollingSafe: boolean, procedure: string | undefined): SettingChange {
  return {
    setting,
    ...(from !== undefined ? { from } : {}),
    ...(to !== undefined ? { to } : {}),
    scope: rule.scope,
    why: rule.why,
    rollingSafe,
    ...(procedure !== undefined ? { procedure } : {}),
  };
}
