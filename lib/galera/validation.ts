/**
 * Every rule of GaleraPetSet's props, in one place: each problem is collected with the prop as written, its value
 * and what to do instead, and the construct throws once with all of them (common/validation.ts).
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { validateHostPath } from '../common/host-path';
import { validateImage } from '../common/k8s-rules';
import { validateClientSelectors, validateObjectName } from '../common/network';
import { validateResources } from '../common/resources';
import { validateSecretValue } from '../common/secret';
import { FieldProblem, Validator, duplicates, fieldProblems } from '../common/validation';
import { TlsCertificates } from '../tls/tls-certificates';
import type { GaleraPetSetProps } from './props';
import { GaleraModel, MAX_MEMBERS } from './model';
import {
  ConfigSections, OWNED_OPTIONS, OWNED_PROVIDER_OPTIONS, PROVIDER_OPTIONS, SERVER_GROUP,
  isSecretOption, optionNameSpellings, ownedOption, OWNED_SST_OPTIONS, SST_GROUP, sstOptionName, parseKubernetesQuantity, parseSize,
} from './server-config';
import { GaleraStorage } from './storage';
import { BUILT_IN_PASSWORD_ENVS, DatabaseUserModel, MAX_USER_CONNECTIONS, RESERVED_USER_NAMES } from './users';

/**
 * Checks every prop of GaleraPetSet `id` (resolved into `model`) and throws once with every problem; returns the
 * server config overrides that passed, for the renderer.
 */
export function validateGalera(id: string, props: GaleraPetSetProps, model: GaleraModel,
  requestCertificate: (v: Validator) => void = () => undefined): CheckedServerConfig {
  const v = new Validator(`GaleraPetSet '${id}'`);
  const { name, replicas, credentials, sstUser, monitorUser } = model;
  validateObjectName(v, 'name', name, 40);
  v.check(!Number.isInteger(replicas) || replicas < 3 || replicas % 2 === 0, 'replicas', replicas,
    'must be odd and at least 3 (3, 5, 7): with an even count a partition can leave no side with a majority');
  v.check(Number.isInteger(replicas) && replicas > MAX_MEMBERS, 'replicas', replicas,
    `is more members than Galera keeps in step (every write is certified by every member); use at most ${MAX_MEMBERS}`);
  props.placement._validate(v, 'placement', replicas);
  validateStorage(v, props, model);
  for (const [prop, secret] of Object.entries({ rootPassword: credentials.rootPassword, sstPassword: credentials.sstPassword, monitorPassword: credentials.monitorPassword })) {
    validateSecretValue(v, `credentials.${prop}`, secret);
  }
  for (const [prop, account] of Object.entries({ sstUser, monitorUser })) {
    const problems = databaseUserProblems({ name: account, passwordEnv: 'X', databases: ['*'] }).filter((p) => p.field === 'name' && account !== 'root');
    for (const p of problems) v.add(`credentials.${prop}`, account, p.fix);
    v.check(account === 'root', `credentials.${prop}`, account, 'must not be the admin account; use a dedicated account, e.g. "mariabackup"');
  }
  v.check(sstUser === monitorUser, 'credentials.sstUser', sstUser, 'is also the monitor account; use two accounts');
  validateSizes(v, model);
  const clusterName = model.clusterName;
  v.check(typeof clusterName !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/.test(clusterName), 'clusterName', clusterName,
    'is not a cluster name; use 1-63 letters, digits, "_", "." or "-" starting with a letter or digit, e.g. "openstack"');
  validateUsers(v, model);
  validateClientSelectors(v, 'allowedClients', props.allowedClients ?? []);
  validateResources(v, 'resources', model.resources);
  const tmpSizeMiB = model.tmpSizeMiB;
  v.check(!Number.isInteger(tmpSizeMiB) || tmpSizeMiB < 256 || tmpSizeMiB > 1024 * 1024, 'tmpSizeMiB', tmpSizeMiB,
    'must be a whole number of MiB from 256 (on-disk temporary tables of ordinary queries need room) to 1048576 (1 TiB of node disk)');
  const grace = model.passwordRotationGraceMinutes;
  v.check(!Number.isInteger(grace) || grace < 10 || grace > 10080, 'passwordRotationGraceMinutes', grace,
    'must be a whole number of minutes from 10 (every node\'s kubelet must have the new Secret before the old password goes) to 10080 (a week)');
  const { pcRecoverySeconds, missingMemberSeconds } = model;
  v.check(!(Number.isInteger(pcRecoverySeconds) && pcRecoverySeconds >= 10 && pcRecoverySeconds <= 3600), 'recovery.pcRecoveryTimeoutSeconds',
    pcRecoverySeconds, 'must be a whole number of seconds from 10 to 3600');
  v.check(!(Number.isInteger(missingMemberSeconds) && missingMemberSeconds >= 10 && missingMemberSeconds <= 86400), 'recovery.missingMemberTimeoutSeconds',
    missingMemberSeconds, 'must be a whole number of seconds from 10 to 86400');
  const writerOrdinal = model.writerOrdinal;
  v.check(!(Number.isInteger(writerOrdinal) && writerOrdinal >= 0 && writerOrdinal < Math.max(1, model.members.length)), 'writerOrdinal',
    writerOrdinal, `must be the ordinal of a member (0 to ${Math.max(1, model.members.length) - 1})`);
  const serverConfig = validateServerConfig(v, 'serverConfig', props.serverConfig);
  validateImage(v, 'image', model.image);
  validateImage(v, 'agentImage', model.agentImage);
  if (props.tls !== undefined) validateTls(v, props, requestCertificate);
  v.throwIfInvalid();
  return serverConfig;
}

/** The storage mode, its options, and what localVolume needs from the placement and the chart. */
function validateStorage(v: Validator, props: GaleraPetSetProps, model: GaleraModel): void {
  const storage = model.storage;
  if (storage === undefined) {
    v.add('storage', props.storage, 'is not a storage mode; use GaleraStorage.localVolume(), .hostPath() or .storageClass()');
    return;
  }
  validateStorageOptions(v, 'storage', storage);
  if (storage.mode === 'localVolume') {
    v.check(props.placement.nodes === undefined, 'storage', 'localVolume',
      'pins member N to the N-th inventory node; give the placement an inventory (Placement.onNodes or `nodes`)');
    v.check(model.namespace === undefined, 'storage', 'localVolume',
      'pre-binds each volume to its member\'s claim, which needs a namespace; give the chart a namespace');
  }
}

/** The rules of one storage mode's options. */
function validateStorageOptions(v: Validator, prop: string, storage: GaleraStorage): void {
  if (storage.mode !== 'storageClass') validateHostPath(v, `${prop}.path`, storage.path);
  if (storage.size !== undefined) {
    const bytes = typeof storage.size === 'string' ? parseKubernetesQuantity(storage.size) : undefined;
    v.check(bytes === undefined || bytes < 1024 ** 3 || storage.size !== storage.size.trim(), `${prop}.size`, storage.size,
      'is not a volume size; use a Kubernetes quantity of at least 1Gi (the data, gcache and binary logs need room), e.g. "100Gi"');
  }
  if (storage.storageClassName !== undefined) {
    v.check(!/^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/.test(storage.storageClassName), `${prop}.storageClassName`,
      storage.storageClassName, 'is not a valid StorageClass name; use a DNS-1123 subdomain');
  }
}

/** gcache.size is a size Galera can allocate, and it leaves room for the data on the member's volume. */
function validateSizes(v: Validator, model: GaleraModel): void {
  const { gcacheSize, storage } = model;
  const gcacheBytes = typeof gcacheSize === 'string' && gcacheSize === gcacheSize.trim() ? parseSize(gcacheSize) : undefined;
  v.check(gcacheBytes === undefined || gcacheBytes < 1024 ** 2 || gcacheBytes > 2 ** 50, 'gcacheSize', gcacheSize,
    'is not a size Galera can allocate; use a whole number with an optional K, M, G or T, from 1M to 1024T, e.g. "1G" or "512M"');
  const volumeBytes = storage !== undefined && storage.size !== undefined ? parseKubernetesQuantity(storage.size) : undefined;
  if (gcacheBytes !== undefined && volumeBytes !== undefined) {
    // gcache is a file in the data directory; it must leave room for the data itself.
    v.check(gcacheBytes >= volumeBytes / 2, 'gcacheSize', gcacheSize,
      `does not fit storage.size ${JSON.stringify(storage?.size)} with room for the data; keep gcacheSize under half of storage.size, or raise storage.size`);
  }
}

/** Each user's own rules, then the rules between users and with the built-in accounts. */
function validateUsers(v: Validator, model: GaleraModel): void {
  const { users, userModels, sstUser, monitorUser } = model;
  userModels.forEach((m, i) => {
    validateSecretValue(v, `users[${i}].password`, users[i].password);
    for (const problem of databaseUserProblems(m)) {
      // The password variable is derived from the name: a bad one is the name's problem, already reported.
      if (problem.field !== 'passwordEnv') v.add(`users[${i}].${problem.field}`, problem.value, problem.fix);
    }
  });
  const accounts = users.map((u) => `${u.name}@${u.host ?? '%'}`);
  const envs = userModels.map((m) => m.passwordEnv);
  users.forEach((u, i) => {
    v.check(accounts.indexOf(accounts[i]) < i, `users[${i}].name`, u.name, `is defined more than once (as ${accounts[i]}); define each account once`);
    v.check(accounts.indexOf(accounts[i]) === i && envs.indexOf(envs[i]) < i, `users[${i}].name`, u.name,
      `has the same password variable as users[${envs.indexOf(envs[i])}] (the names differ only in punctuation or case); rename one`);
    v.check([sstUser, monitorUser].includes(u.name), `users[${i}].name`, u.name,
      'is a built-in account (credentials.sstUser or credentials.monitorUser); choose another name');
    v.check(u.requireTls === true && model.tls === undefined, `users[${i}].requireTls`, true,
      'needs tls on the GaleraPetSet: the members would refuse every login of this account (they serve no TLS); set tls, or leave requireTls off');
  });
}

/** The same patterns apply-users.sh enforces; it refuses a file that breaks them. */
const USER_NAME = /^[A-Za-z0-9_.-]{1,80}$/;
const HOST = /^[A-Za-z0-9_.%:-]{1,255}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const PRIVILEGE = /^[A-Z]+( [A-Z]+)*$/;
const DATABASE = /^[A-Za-z0-9_$-]{1,64}$/;
/** Every problem with one user, each field named as the DatabaseUser prop names it (`name`, `databases[1]`). */
export function databaseUserProblems(user: DatabaseUserModel): FieldProblem[] {
  const { problems, check } = fieldProblems();
  check(typeof user.name !== 'string' || !USER_NAME.test(user.name), 'name', user.name,
    'is not an account name apply-users.sh can quote; use 1-80 letters, digits, "_", "." or "-", e.g. "nova"');
  check(RESERVED_USER_NAMES.includes(String(user.name).toLowerCase()), 'name', user.name,
    'is an account MariaDB or the entrypoint manages (root, mariadb.sys, mysql, PUBLIC); choose another name');
  const host = user.host ?? '%';
  check(typeof host !== 'string' || !HOST.test(host), 'host', host,
    'is not a host pattern; use "%", an address, a DNS name or a pattern of letters, digits, ".", "-", "_", ":" and "%"');
  check(!ENV_NAME.test(user.passwordEnv), 'passwordEnv', user.passwordEnv, 'is not an environment variable name; rename the account');
  check(BUILT_IN_PASSWORD_ENVS.includes(user.passwordEnv), 'passwordEnv', user.passwordEnv, 'belongs to a built-in user; rename the account');
  check(user.databases.length === 0, 'databases', [], 'is empty; name at least one database, or "*" for global privileges');
  user.databases.forEach((db, i) => check(db !== '*' && (typeof db !== 'string' || !DATABASE.test(db)), `databases[${i}]`, db,
    'is not a database name apply-users.sh can quote; use 1-64 letters, digits, "_", "$" or "-", or "*" for every database'));
  check(user.databases.includes('*') && user.databases.length > 1, 'databases', user.databases, 'lists "*", which already covers every database; keep only "*"');
  for (const db of duplicates(user.databases)) check(true, 'databases', db, 'is listed twice; list each database once');
  (user.privileges ?? []).forEach((privilege, i) => check(typeof privilege !== 'string' || !PRIVILEGE.test(privilege), `privileges[${i}]`, privilege,
    'is not a privilege name; use upper-case words, e.g. "SELECT" or "LOCK TABLES"'));
  for (const privilege of duplicates(user.privileges ?? [])) check(true, 'privileges', privilege, 'is listed twice; list each privilege once');
  const max = user.maxConnections ?? 0;
  check(!Number.isInteger(max) || max < 0 || max > MAX_USER_CONNECTIONS, 'maxConnections', max,
    `must be a whole number from 0 (unlimited) to ${MAX_USER_CONNECTIONS}`);
  check(user.requireTls !== undefined && typeof user.requireTls !== 'boolean', 'requireTls', user.requireTls, 'must be true or false');
  return problems;
}


const SECTION_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;
const OPTION_NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,127}$/;
const PROVIDER_KEY = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/i;
const PROVIDER_VALUE = /^[A-Za-z0-9_.:/@+,\[\]-]{1,255}$/;

/** Overrides that passed `validateServerConfig`, split into plain settings and extra provider options. */
export interface CheckedServerConfig {
  readonly overrides: ConfigSections;
  readonly providerOptions: Readonly<Record<string, string>>;
}

/**
 * Every problem of a user's `serverConfig` (named `prop.<section>.<key>` as written), and what to render: settings
 * the library owns are refused with the reason, in any section and any spelling MariaDB accepts; `wsrep_provider_options`
 * is parsed and merged into ours key by key (the keys the design depends on are refused); values are refused where
 * MariaDB's my.cnf parser would read something else than written (a comment, quotes, escapes, surrounding blanks).
 * A credential is never echoed.
 */
export function validateServerConfig(v: Validator, prop: string, config: unknown): CheckedServerConfig {
  const overrides: Record<string, Record<string, string>> = {};
  const providerOptions: Record<string, string> = {};
  if (config === undefined) return { overrides, providerOptions };
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    v.add(prop, config, 'must be a map of my.cnf sections to settings, e.g. {"mysqld": {"max_connections": "8192"}}');
    return { overrides, providerOptions };
  }
  const seen = new Map<string, string>();
  for (const [section, values] of Object.entries(config as Record<string, unknown>)) {
    if (!SECTION_NAME.test(section)) {
      v.add(`${prop} section`, section, 'is not a my.cnf section name; use a letter then letters, digits, "_", "-" or "." (at most 64), e.g. "mysqld"');
      continue;
    }
    if (values === null || typeof values !== 'object' || Array.isArray(values)) {
      v.add(`${prop}.${section}`, values, 'must be a map of option names to string values, e.g. {"max_connections": "8192"}');
      continue;
    }
    for (const [key, value] of Object.entries(values as Record<string, unknown>)) {
      const where = `${prop}.${section}.${key}`;
      if (!OPTION_NAME.test(key)) {
        v.add(`${prop}.${section} key`, key, 'is not an option name; use a letter then letters, digits, "_" or "-" (at most 128), e.g. "max_connections"');
        continue;
      }
      const secret = isSecretOption(key);
      const shown = secret ? '(a string)' : value;
      const owned = ownedOption(key);
      const names = optionNameSpellings(key);
      if (owned !== undefined) {
        const spelled = names.includes(owned) && names[0] === owned ? '' : ` (MariaDB reads it as ${owned})`;
        v.add(where, shown, `is set by the library${spelled}: ${OWNED_OPTIONS[owned]}; remove it`);
        continue;
      }
      // The SST script reads encrypt, ssl-mode and the ssl-* files from the server groups too (its encgroups).
      if ((SST_GROUP.test(section) || SERVER_GROUP.test(section)) && OWNED_SST_OPTIONS.has(sstOptionName(key))) {
        v.add(where, shown, 'is set by the library: state transfer encryption and its files follow tls.stateTransfer (joiner and donor must agree, '
          + 'and the mounted certificate is reloaded on renewal); remove it');
        continue;
      }
      if (secret) {
        v.add(where, shown, 'would put a credential in a ConfigMap; remove it (passwords come from Secret references, e.g. credentials.*Password)');
        continue;
      }
      if (typeof value !== 'string') {
        v.add(where, value, 'must be a string (my.cnf values are text), e.g. "8192"');
        continue;
      }
      const dupKey = `${SERVER_GROUP.test(section) ? '(server)' : section.toLowerCase()} ${names[0]}`;
      const first = seen.get(dupKey);
      if (first !== undefined) {
        v.add(where, value, `sets the same option as ${first}; MariaDB applies whichever it reads last: set it once`);
        continue;
      }
      seen.set(dupKey, where);
      if (/[^\x20-\x7e]/.test(value)) {
        // Control characters end or split a value; other characters MariaDB reads in its own charset, which need
        // not be the file's UTF-8 (a 4-byte character read back differently on mariadbd 10.11).
        v.add(where, value, 'must be printable ASCII (no tabs, line breaks or other characters); write the value in ASCII');
        continue;
      }
      if (names.some((n) => n !== PROVIDER_OPTIONS && PROVIDER_OPTIONS.startsWith(n) && n.length > 'wsrep_provider'.length) || (names.includes(PROVIDER_OPTIONS) && names[0] !== PROVIDER_OPTIONS)) {
        v.add(where, value, `is read by MariaDB as ${PROVIDER_OPTIONS}; write it under that name so it is merged with the library's provider options`);
      } else if (names[0] === PROVIDER_OPTIONS) {
        mergeProviderOptions(v, where, value, providerOptions);
      } else if (/[\x00-\x1f\x7f#\\]/.test(value) || value !== value.trim() || /^["']|["']$/.test(value) || value.length > 4096) {
        v.add(where, value, 'would be read differently by MariaDB (it cuts "#" comments, removes surrounding quotes and blanks, ' +
          'reads "\\" escapes, ends a value at a line break); use a single line of at most 4096 characters without those');
      } else {
        if (!Object.hasOwn(overrides, section)) overrides[section] = {};
        overrides[section][key] = value;
      }
    }
  }
  return { overrides, providerOptions };
}

/** `a=b; c=d` (optionally in double quotes) into `into`, refusing what the design owns. */
function mergeProviderOptions(v: Validator, where: string, value: string, into: Record<string, string>): void {
  const body = /^"[^"]*"$/.test(value) ? value.slice(1, -1) : value;
  for (const entry of body.split(';').map((e) => e.trim()).filter((e) => e !== '')) {
    const eq = entry.indexOf('=');
    const k = eq < 0 ? entry : entry.slice(0, eq).trim();
    const x = eq < 0 ? '' : entry.slice(eq + 1).trim();
    const lower = k.toLowerCase();
    if (!PROVIDER_KEY.test(k) || !PROVIDER_VALUE.test(x)) {
      v.add(`${where} ${JSON.stringify(k)}`, x, 'is not a provider option Galera can parse; write "key=value" pairs separated by ";", ' +
        'each value of letters, digits and "_.:/@+,[]-", e.g. "gcs.fc_limit=64; evs.send_window=512"');
    } else if (Object.hasOwn(OWNED_PROVIDER_OPTIONS, lower)) {
      v.add(`${where} ${JSON.stringify(k)}`, x, `is set by the library: ${OWNED_PROVIDER_OPTIONS[lower]}; remove it (other provider options are merged with ours)`);
    } else if (Object.keys(into).some((o) => o.toLowerCase() === lower)) {
      v.add(`${where} ${JSON.stringify(k)}`, x, 'is given twice; set it once');
    } else {
      into[k] = x;
    }
  }
}

/** The tls prop's shape; the certificate itself is requested (and its names checked) through `requestCertificate`. */
function validateTls(v: Validator, props: GaleraPetSetProps, requestCertificate: (v: Validator) => void): void {
  const tls = props.tls!;
  for (const flag of ['requireSecureTransport', 'replication', 'replicationTransition', 'stateTransfer'] as const) {
    v.check(tls[flag] !== undefined && typeof tls[flag] !== 'boolean', `tls.${flag}`, tls[flag], 'must be true or false');
  }
  v.check(tls.replicationTransition === true && tls.stateTransfer !== false, 'tls.stateTransfer', tls.stateTransfer,
    'must be false during replicationTransition: the members restarted one by one would meet donors of the other kind, and ' +
    'mariabackup fails every transfer between an encrypting and a plaintext member (even an IST). Roll with stateTransfer: false, ' +
    'then turn it on by an apply with every member stopped (README, "TLS")');
  if (!v.check(!(tls.certificates instanceof TlsCertificates), 'tls.certificates', tls.certificates,
    'must come from TlsCertificates.certManager(...) or TlsCertificates.fromSecrets(...)')) {
    requestCertificate(v);
  }
}
