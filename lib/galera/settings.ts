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
import { PROVIDER_OPTIONS, SERVER_GROUP, SST_GROUP, optionNameSpellings, parseProviderOptions, readIni, sstOptionName } from './server-config';

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

/**
 * How mariabackup's state transfers are encrypted (what wsrep_sst_mariabackup derives from `encrypt` and `ssl-mode`):
 * `plain`, `tls` (socat with OpenSSL: `encrypt` 2 to 4, or `ssl-mode` other than DISABLED with a key and
 * certificate), or `key` (`encrypt=1`, a shared key). Joiner and donor must use the same: the script talks over the
 * SST port even for an IST, so a member restarted with another mode next to donors of the old one fails its IST
 * (measured: socat's "wrong version number", mariadbd aborts) and stays down until every member has the new mode.
 * There is no bridge mode (unlike replication's `socket.dynamic`): the change is made with every member stopped.
 */
export type StateTransferEncryption = 'plain' | 'tls' | 'key';

/**
 * SST options that joiner and donor must share: the stream's format and transport, and its compression (the donor
 * compresses with `compressor`, the joiner expands with `decompressor`). Every other SST option is per member.
 */
export const SST_OPTION_RULES: Readonly<Record<string, SettingRule>> = {
  'encrypt': {
    scope: 'cluster-wide',
    why: 'joiner and donor must encrypt the state transfer the same way, even for an IST (mariabackup\'s script talks over the SST port): a member restarted with another mode cannot rejoin',
  },
  'ssl-mode': {
    scope: 'cluster-wide',
    why: 'with a key and certificate it turns state transfer encryption on or off, which joiner and donor must share, even for an IST',
  },
  'streamfmt': { scope: 'cluster-wide', why: 'the joiner unpacks the stream in the format it expects: a donor of another format sends what it cannot read' },
  'transferfmt': { scope: 'cluster-wide', why: 'joiner and donor must use the same transport (socat or nc)' },
  'compressor': { scope: 'cluster-wide', why: 'the donor compresses with it and the joiner must expand with the matching decompressor' },
  'decompressor': { scope: 'cluster-wide', why: 'the joiner expands with it what a donor compressed: both sides must agree' },
};

/** CA options of the SST stream: cluster-wide only while every member verifies the other side (the mode is `tls` on both sides of the roll). */
const SST_CA_OPTIONS = new Set(['tca', 'tcapath', 'ssl-ca', 'ssl-capath', 'ssl-server-ca', 'ssl-server-capath', 'ssl-client-ca', 'ssl-client-capath']);

const SST_CA_RULE: SettingRule = {
  scope: 'cluster-wide',
  why: 'the CA a member checks the other side of a state transfer against: a member that trusts only a new CA refuses donors or joiners whose certificates the old one signed',
};

/** The procedure for a state transfer setting that joiner and donor must share: every member stopped, then started with it. */
export const SST_PROCEDURE = 'stop every member, then apply (README, "Day 2: changing a cluster-wide Galera setting")';

/**
 * The options the SST script reads, by its name for them: `encrypt` and `ssl-mode` from the first group that sets
 * them (the server groups, then [sst], [xtrabackup], [mariabackup]), the rest from the SST groups (the last
 * value wins, as in the script's parse_cnf).
 */
function sstOptions(cnf: string): Map<string, string> {
  const options = readIni(cnf);
  const result = new Map<string, string>();
  const lastIn = (groups: (section: string) => boolean, name: string) =>
    options.filter((o) => groups(o.section) && sstOptionName(o.key) === name).at(-1)?.value;
  for (const o of options) {
    if (SST_GROUP.test(o.section)) result.set(sstOptionName(o.key), o.value);
  }
  for (const name of ['encrypt', 'ssl-mode']) {
    const value = lastIn((s) => SERVER_GROUP.test(s), name) ?? ['sst', 'xtrabackup', 'mariabackup']
      .map((g) => lastIn((s) => s.toLowerCase() === g, name)).find((v) => v !== undefined);
    if (value === undefined) result.delete(name);
    else result.set(name, value);
  }
  return result;
}

/** The state transfer encryption of a member from its SST options (sstOptions). */
export function stateTransferEncryption(options: ReadonlyMap<string, string>): StateTransferEncryption {
  const encrypt = Number(options.get('encrypt') ?? '0');
  if (encrypt === 1) return 'key';
  if (encrypt >= 2) return 'tls';
  return (options.get('ssl-mode') ?? 'DISABLED').toUpperCase() === 'DISABLED' ? 'plain' : 'tls';
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

/** The rule of `key` in `rules`, or `rolling` with `why`: every setting a table does not list is per member. */
function ruleOf(rules: Readonly<Record<string, SettingRule>>, key: string, why: string): SettingRule {
  return Object.hasOwn(rules, key) ? rules[key] : { scope: 'rolling', why };
}

const serverRule = (name: string) => ruleOf(SERVER_OPTION_RULES, name, 'a per-member server setting: members with the old and the new value replicate with each other');
const providerRule = (key: string) => ruleOf(PROVIDER_OPTION_RULES, key, 'a per-member provider option: members with the old and the new value replicate with each other');
const sstRule = (key: string) => ruleOf(SST_OPTION_RULES, key, 'a per-member state transfer option: it only shapes this member\'s side of a transfer');

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
  return [...changes, ...stateTransferChanges(sstOptions(live), sstOptions(next))];
}

/**
 * The state transfer settings that differ. The encryption is judged as one mode, like replication TLS, but with no
 * bridge: any change of mode is refused as a roll. The individual options follow the mode's verdict, except the
 * CA, which matters only while both sides verify (`tls` before and after), and the shared stream settings.
 */
function stateTransferChanges(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): SettingChange[] {
  const changes: SettingChange[] = [];
  const modeBefore = stateTransferEncryption(before);
  const modeAfter = stateTransferEncryption(after);
  if (modeBefore !== modeAfter) {
    changes.push(change('state transfer encryption', modeBefore, modeAfter, SST_OPTION_RULES.encrypt, false, SST_PROCEDURE));
  }
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort();
  for (const key of keys) {
    if (before.get(key) === after.get(key)) continue;
    const setting = `[sst] ${key}`;
    if (key === 'encrypt' || key === 'ssl-mode') {
      // Judged above as the mode; listed so the reader sees which option moved (encrypt 3 -> 4 keeps the mode).
      const same = modeBefore === modeAfter;
      changes.push(change(setting, before.get(key), after.get(key), SST_OPTION_RULES[key], same, same ? undefined : SST_PROCEDURE));
    } else if (SST_CA_OPTIONS.has(key)) {
      const bothVerify = modeBefore === 'tls' && modeAfter === 'tls';
      changes.push(change(setting, before.get(key), after.get(key), bothVerify ? SST_CA_RULE : sstRule(key), !bothVerify, bothVerify ? SST_PROCEDURE : undefined));
    } else {
      const rule = sstRule(key);
      changes.push(change(setting, before.get(key), after.get(key), rule, rule.scope === 'rolling', rule.scope === 'rolling' ? undefined : SST_PROCEDURE));
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
