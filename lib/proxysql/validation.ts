/**
 * Every rule of ProxySqlLayer's props, in one place: the construct's own (`validateProxySql`) and those of the
 * `proxysql.cnf` model (`proxySqlConfigProblems`, which the renderer checks again before writing: ProxySQL's
 * loader never fails on a bad file, it mangles it).
 *
 * Internal module (not exported from lib/index.ts): plain TypeScript, no cdk8s.
 */
import { validateImage } from '../common/k8s-rules';
import { validateClientSelectors, validateObjectName } from '../common/network';
import { RenamingValidator } from '../common/prop-names';
import { validateResources } from '../common/resources';
import { validateSecretValue } from '../common/secret';
import { FieldProblem, Validator, duplicates, fieldProblems, isDns1123Subdomain, isIpAddress } from '../common/validation';
import { TlsCertificates } from '../tls/tls-certificates';
import { ENV_NAME, INT32_MAX, ProxySqlConfigModel, ProxySqlModel, USER_PASSWORD_ENV_PREFIX } from './model';
import type { ProxySqlLayerProps } from './proxysql-layer';

/** Checks every prop of ProxySqlLayer `id` (resolved into `model`) and throws once with every problem. */
export function validateProxySql(id: string, props: ProxySqlLayerProps, model: ProxySqlModel,
  requestCertificate: (v: Validator) => void = () => {}): asserts model is ProxySqlModel & Required<Pick<ProxySqlModel, 'galera' | 'config'>> {
  const { galera, replicas, drainSeconds, readerFallback, writerOrdinal, users, clients } = model;
  const v = new Validator(`ProxySqlLayer '${id}'`);
  v.check(galera === undefined, 'galera', typeof props.galera, 'is not a GaleraPetSet; pass the GaleraPetSet construct to front');
  v.check(galera?.requiresSecureTransport === true && model.tls?.backend !== true, 'galera', galera?.name,
    'requires TLS from every client (its tls.requireSecureTransport), and ProxySQL would connect to it in plaintext: set tls on the ProxySqlLayer (backend TLS is then on)');
  const tlsOnly = users.filter(({ user }) => user.requireTls === true).map(({ user }) => user.name);
  v.check(galera?.requiresSecureTransport !== true && tlsOnly.length > 0 && model.tls?.backend !== true, 'galera', galera?.name,
    `has accounts that log in over TLS only (${tlsOnly.join(', ')}: requireTls), and ProxySQL would ${model.tls ? 'connect to the members in plaintext (tls.backend is false)'
      : 'serve their clients without TLS and connect to the members in plaintext'}: set tls on the ProxySqlLayer (backend TLS is then on)`);
  validateObjectName(v, 'name', model.name);
  v.check(!Number.isInteger(replicas) || replicas < 1 || replicas > 100, 'replicas', replicas,
    'must be a whole number from 1 to 100 (2 or more for HA; each pod opens up to maxConnectionsPerBackend connections to every member)');
  model.placement._validate(v, 'placement', replicas);
  validateSecretValue(v, 'adminPassword', props.adminPassword);
  users.forEach(({ user, index }) => validateSecretValue(v, `galera.users[${index}].password`, user.password));
  v.check(clients.length === 0, 'allowedClients', [], 'is empty, so no client could connect; name the client pods\' labels');
  validateClientSelectors(v, 'allowedClients', clients);
  v.check(typeof readerFallback !== 'boolean', 'readerFallbackToWriter', readerFallback, 'must be true or false');
  v.check(props.metricsExporter !== undefined && typeof props.metricsExporter !== 'boolean', 'metricsExporter', props.metricsExporter, 'must be true or false');
  v.check(!Number.isInteger(drainSeconds) || drainSeconds < 0 || drainSeconds > 600, 'drainSeconds', drainSeconds, 'must be a whole number from 0 to 600');
  validateResources(v, 'resources', model.resources);
  v.check(galera !== undefined && !(Number.isInteger(writerOrdinal) && writerOrdinal >= 0 && writerOrdinal < galera.replicas),
    'writerOrdinal', writerOrdinal, `must be the ordinal of a Galera member (0 to ${(galera?.replicas ?? 1) - 1})`);
  if (galera && model.config) {
    validateSecretValue(v, 'galera.monitorPassword', galera.monitorPassword);
    // The model's users are ProxySQL's (one per name); name each problem after the GaleraPetSet user it came from.
    const named = new RenamingValidator(v, (field) => field.replace(/^users\[(\d+)\]/, (_, i) => `galera.users[${users[Number(i)].index}]`));
    for (const problem of proxySqlConfigProblems(model.config)) named.add(problem.field, problem.value, problem.fix);
  }
  validateImage(v, 'image', model.image);
  validateImage(v, 'adminImage', model.adminImage);
  if (props.tls !== undefined) validateTls(v, props, model, requestCertificate);
  v.throwIfInvalid();
}

/** The `tls` prop; the certificate is requested (and its names checked) only when everything else is sound. */
function validateTls(v: Validator, props: ProxySqlLayerProps, model: ProxySqlModel, requestCertificate: (v: Validator) => void): void {
  const tls = props.tls;
  if (v.check(tls === null || typeof tls !== 'object', 'tls', tls, 'must be { certificates, requireSecureTransport?, backend?, additionalNames? }')) return;
  v.check(tls!.requireSecureTransport !== undefined && typeof tls!.requireSecureTransport !== 'boolean', 'tls.requireSecureTransport',
    tls!.requireSecureTransport, 'must be true or false');
  v.check(tls!.backend !== undefined && typeof tls!.backend !== 'boolean', 'tls.backend', tls!.backend, 'must be true or false');
  v.check(tls!.backend === true && model.galera !== undefined && model.galera.tlsSecretName === undefined, 'tls.backend', true,
    'needs a GaleraPetSet with TLS (its tls prop): the members would refuse the TLS handshake; set tls on the GaleraPetSet or leave backend off');
  const names = tls!.additionalNames;
  if (!v.check(names !== undefined && !Array.isArray(names), 'tls.additionalNames', names, 'must be a list of DNS names or IP addresses')) {
    (names ?? []).forEach((name, i) => v.check(typeof name !== 'string' || !(isIpAddress(name) || isDns1123Subdomain(name.toLowerCase())),
      `tls.additionalNames[${i}]`, name, 'must be a DNS name or an IP address that clients connect to'));
  }
  const certificatesOk = !v.check(!(tls!.certificates instanceof TlsCertificates), 'tls.certificates', tls!.certificates,
    'must come from TlsCertificates.certManager(...) or TlsCertificates.fromSecrets(...)');
  if (certificatesOk && v.errors.length === 0) requestCertificate(v);
}

/** User and host names ProxySQL pastes into SQL unescaped: no quotes, no backslash, no spaces. */
const SQL_SAFE_NAME = /^[A-Za-z0-9_.%:-]{1,64}$/;
/**
 * Users of ProxySQL's admin interface: `admin_credentials` (ours) and `stats_credentials` (ProxySQL's default
 * `stats`). ProxySQL refuses an admin or stats user that is also a `mysql_users` entry (it keeps the frontend user
 * and ignores the admin credential, leaving the probes locked out), and the admin user cannot be `stats`.
 */
export const PROXYSQL_ADMIN_INTERFACE_USERS = ['admin', 'stats'];
/**
 * Lowest port ProxySQL can listen on: it runs as uid 999 with every capability dropped (no NET_BIND_SERVICE), and
 * Kubernetes leaves net.ipv4.ip_unprivileged_port_start at 1024 unless the runtime changes it.
 */
const MIN_PORT = 1024;

/**
 * Every problem with the model, each field named as the construct's prop that feeds it; empty when the model renders
 * to a file ProxySQL loads exactly as written.
 */
export function proxySqlConfigProblems(model: ProxySqlConfigModel): FieldProblem[] {
  const { problems, check } = fieldProblems();
  const int = (field: string, value: number, min: number, max = INT32_MAX) =>
    check(!Number.isInteger(value) || value < min || value > max, field, value, `must be a whole number from ${min} to ${max}`);

  const ports = { adminPort: model.adminPort, readWritePort: model.readWritePort, readOnlyPort: model.readOnlyPort };
  for (const [field, port] of Object.entries(ports)) {
    check(!Number.isInteger(port) || port < MIN_PORT || port > 65535, field, port,
      `must be a port from ${MIN_PORT} to 65535 (ProxySQL runs unprivileged and cannot bind a lower one)`);
  }
  const portValues = Object.values(ports);
  check(new Set(portValues).size !== portValues.length, 'adminPort, readWritePort, readOnlyPort', portValues,
    'collide; ProxySQL needs a distinct port for each');
  int('threads', model.threads, 1, 256);
  int('maxClientConnections', model.maxClientConnections, 1, 1_000_000);
  int('healthCheck.intervalMs', model.healthCheck.intervalMs, 100, 60_000);
  int('healthCheck.timeoutMs', model.healthCheck.timeoutMs, 50, 60_000);
  int('healthCheck.maxTimeoutCount', model.healthCheck.maxTimeoutCount, 1, 100);
  check(model.healthCheck.timeoutMs >= model.healthCheck.intervalMs, 'healthCheck.timeoutMs', model.healthCheck.timeoutMs,
    `must be shorter than the interval (${model.healthCheck.intervalMs} ms)`);
  check(typeof model.serverVersion !== 'string' || !/^[0-9]+\.[0-9]+\.[0-9]+[A-Za-z0-9.+-]{0,50}$/.test(model.serverVersion), 'serverVersion',
    model.serverVersion, 'must be a server version (at most 64 characters) such as "11.4.7-MariaDB"');
  check(typeof model.adminUser !== 'string' || !SQL_SAFE_NAME.test(model.adminUser) || /[:;%]/.test(model.adminUser), 'adminUser', model.adminUser,
    'must be 1-64 letters, digits, "_", "." or "-"');
  check(model.adminUser === 'stats', 'adminUser', model.adminUser, 'is ProxySQL\'s read-only stats account; use another name, e.g. "admin"');
  check(model.adminUser === model.monitorUser, 'adminUser', model.adminUser,
    'is also the Galera monitor account (galera.monitorUser); use another name, e.g. "admin"');
  check(!SQL_SAFE_NAME.test(model.monitorUser), 'galera.monitorUser', model.monitorUser, `must match ${SQL_SAFE_NAME.source}`);

  const hg = model.hostgroups;
  for (const [name, id] of Object.entries(hg)) int(`hostgroups.${name}`, id, name === 'reader' ? 1 : 0);
  // ProxySQL's CHECK constraints on mysql_galera_hostgroups: the four ids differ, the reader is above 0. A row that
  // breaks them is dropped at load with only a log line, leaving ProxySQL with no Galera routing at all.
  const ids = [hg.writer, hg.backupWriter, hg.reader, hg.offline];
  check(new Set(ids).size !== ids.length, 'hostgroups', hg, 'must be four different ids (writer, backupWriter, reader, offline)');

  check(model.servers.length === 0, 'galera.members', [], 'is empty; ProxySQL needs the Galera members');
  model.servers.forEach((s, i) => {
    check(!/^[A-Za-z0-9.:-]{1,253}$/.test(s.host), `galera.members[${i}].host`, s.host, 'must be a DNS name or an address');
    int(`galera.port`, s.port, 1, 65535);
    int(`servers[${i}].weight`, s.weight, 1, 10_000_000);
    int('maxConnectionsPerBackend', s.maxConnections, 1, 1_000_000);
  });
  const weights = model.servers.map((s) => s.weight);
  check(new Set(weights).size !== weights.length, 'servers weights', weights, 'must all differ, so that every ProxySQL picks the same writer');

  // Fields `users[i]...` index model.users; the construct renames them to the prop that feeds them.
  const names = new Set<string>();
  model.users.forEach((user, i) => {
    const field = `users[${i}].name`;
    check(!SQL_SAFE_NAME.test(user.name), field, user.name, 'must be 1-64 letters, digits, "_", ".", "-", ":" or "%" (ProxySQL pastes it into SQL unescaped)');
    check(names.has(user.name), field, user.name, 'is listed twice; ProxySQL keeps one entry per name');
    check(user.name === model.adminUser || user.name === model.monitorUser || PROXYSQL_ADMIN_INTERFACE_USERS.includes(user.name), field, user.name,
      `is also the ProxySQL admin (${model.adminUser}), stats or monitor (${model.monitorUser}) account, which ProxySQL would refuse; use another name`);
    names.add(user.name);
    check(!ENV_NAME.test(user.passwordEnv) || !user.passwordEnv.startsWith(USER_PASSWORD_ENV_PREFIX), field, user.name,
      `has password variable ${user.passwordEnv}; it must be ${USER_PASSWORD_ENV_PREFIX}<NAME>`);
    int(`users[${i}].maxConnections`, user.maxConnections, 1, 1_000_000);
  });
  for (const env of duplicates(model.users.map((u) => u.passwordEnv))) {
    const i = model.users.findIndex((u) => u.passwordEnv === env);
    check(true, `users[${i}].name`, model.users[i].name,
      `shares the password variable ${env} with ${model.users.filter((u) => u.passwordEnv === env).slice(1).map((u) => JSON.stringify(u.name)).join(', ')} (names that differ only in punctuation or case); rename one`);
  }
  return problems;
}
