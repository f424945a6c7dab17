/**
 * RabbitDaemonSet's TLS: the props, their rules, the certificate request, and what it renders (rabbitmq.conf's
 * listener block, the Erlang distribution's `inter_node_tls.config`, the env of the server and the CLI tools). Pure:
 * the construct (rabbit-daemonset.ts) mounts the Secret and swaps the container command for `tls-start.sh`.
 *
 * The broker never reads the mounted Secret directly. `tls-start.sh` (assets/rabbitmq) copies a checked pair into a
 * private directory of the render emptyDir before the broker starts, and `tls-reload.sh` does it again in the
 * background when the kubelet swaps in a renewed Secret, then clears Erlang's PEM cache: a broken pair in the
 * Secret never reaches the listeners (Erlang re-reads the files it was given whenever its cache is cleared, by us
 * or by its own periodic clean), and a good one is served to new connections within the watcher's interval.
 */
import { InventoryNode } from '../common/placement';
import type { BrokerEnvVar, BrokerPort } from './container';
import { FieldProblem, fieldProblems, isPort } from '../common/validation';
import { TLS12_CIPHERS, TLS13_CIPHERSUITES, TlsCertificateRequest } from '../tls/model';
import { TlsPaths, tlsPaths } from '../tls/pod';
import { TlsCertificates } from '../tls/tls-certificates';

/**
 * TLS for a RabbitDaemonSet: AMQPS, HTTPS management, and (by default) the Erlang distribution between brokers and
 * from the CLI tools. TLS 1.3 and 1.2 with strong ciphers only. The certificate covers every broker's node name and
 * node IP (clients list IPs; brokers and the CLI reach each other by node name) and is renewed in place.
 */
export interface RabbitTlsOptions {
  /** Where the certificate comes from (`TlsCertificates.certManager` or `.fromSecrets`, component = the DaemonSet's name). */
  readonly certificates: TlsCertificates;
  /**
   * The AMQPS port on each node IP.
   *
   * @default 5671
   */
  readonly amqpsPort?: number;
  /**
   * The management API's HTTPS port on each node IP (no plain HTTP management listener with TLS).
   *
   * @default 15671
   */
  readonly managementPort?: number;
  /**
   * Keep the plaintext AMQP listener (`amqpPort`) open beside AMQPS, e.g. while clients move to 5671. The connection
   * outputs use AMQPS either way.
   *
   * @default false (5672 closed)
   */
  readonly plaintextAmqp?: boolean;
  /**
   * TLS for the Erlang distribution (broker to broker, and the CLI tools, probes and preStop to their broker):
   * `-proto_dist inet_tls`, both sides verified against the CA. Turning it on or off on a running cluster is an
   * apply with every broker stopped (a TLS broker and a plain one cannot talk; the preflight plan refuses it while
   * brokers run): README, "Day 2: restarting every broker at once".
   *
   * @default true
   */
  readonly distribution?: boolean;
  /**
   * Require a client certificate signed by the CA on AMQPS (`verify_peer`, `fail_if_no_peer_cert`). The OpenStack
   * services then present one (`ssl_cert_file`/`ssl_key_file`); passwords are still checked.
   *
   * @default false (clients authenticate with their password over a verified server certificate)
   */
  readonly verifyClients?: boolean;
}

/** Where a client (an OpenStack service's pod) has the files it needs to reach a TLS RabbitMQ cluster. */
export interface RabbitClientTls {
  /** The CA bundle that signed the brokers' certificate, as mounted in the client's pod (oslo `ssl_ca_file`). */
  readonly caFile: string;
  /**
   * The client's certificate (oslo `ssl_cert_file`), required when the brokers verify clients.
   *
   * @default - none: the client presents no certificate
   */
  readonly certificateFile?: string;
  /**
   * The client's private key (oslo `ssl_key_file`), with `certificateFile`.
   *
   * @default - none
   */
  readonly keyFile?: string;
}

/** The options with defaults applied. */
export interface ResolvedRabbitTls {
  readonly amqpsPort: number;
  readonly managementPort: number;
  readonly plaintextAmqp: boolean;
  readonly distribution: boolean;
  readonly verifyClients: boolean;
}

/** The defaults of RabbitTlsOptions. */
export const RABBIT_TLS_DEFAULTS = { amqpsPort: 5671, managementPort: 15671 } as const;

export const RABBIT_TLS_PATHS = {
  /** The certificate Secret's mount (tls.crt, tls.key, ca.crt): read by the scripts only. */
  source: '/etc/rabbitmq-tls',
  /** The checked copy the broker and the CLI read, in the memory-backed render dir, swapped atomically (`..data`). */
  active: '/etc/rabbitmq/tls',
  /** The distribution's ssl options, in the template ConfigMap (paths only, no secret). */
  interNodeFile: 'inter_node_tls.config',
} as const;

/** The files the broker uses: the checked copy. */
export const RABBIT_ACTIVE_TLS: TlsPaths = tlsPaths(RABBIT_TLS_PATHS.active);

export function resolveRabbitTls(options: RabbitTlsOptions): ResolvedRabbitTls {
  return {
    amqpsPort: options.amqpsPort ?? RABBIT_TLS_DEFAULTS.amqpsPort,
    managementPort: options.managementPort ?? RABBIT_TLS_DEFAULTS.managementPort,
    plaintextAmqp: options.plaintextAmqp ?? false,
    distribution: options.distribution ?? true,
    verifyClients: options.verifyClients ?? false,
  };
}

/**
 * Problems of the `tls` prop. `ports` are the cluster's other listeners (name -> port, resolved), which a TLS port
 * must not reuse.
 */
export function rabbitTlsProblems(options: RabbitTlsOptions, ports: Record<string, number>): FieldProblem[] {
  const { problems, check } = fieldProblems();
  if (check(options === null || typeof options !== 'object', 'tls', options,
    'must be { certificates, amqpsPort?, managementPort?, plaintextAmqp?, distribution?, verifyClients? }')) return problems;
  check(!(options.certificates instanceof TlsCertificates), 'tls.certificates', options.certificates,
    'must come from TlsCertificates.certManager(...) or TlsCertificates.fromSecrets(...)');
  for (const flag of ['plaintextAmqp', 'distribution', 'verifyClients'] as const) {
    check(options[flag] !== undefined && typeof options[flag] !== 'boolean', `tls.${flag}`, options[flag], 'must be true or false');
  }
  const resolved = resolveRabbitTls(options);
  const mine: [string, number][] = [['amqpsPort', resolved.amqpsPort], ['managementPort', resolved.managementPort]];
  for (const [field, port] of mine) {
    if (check(!isPort(port), `tls.${field}`, port, 'must be a port number 1-65535')) continue;
    check(port === 4369 || (port >= 35672 && port <= 35682), `tls.${field}`, port,
      'collides with epmd (4369) or the CLI tools\' distribution range (35672-35682); pick another port');
    const taken = Object.entries(ports).filter(([, p]) => p === port).map(([name]) => name);
    check(taken.length > 0, `tls.${field}`, port, `is also the port of ${taken.join(', ')}; under hostNetwork every listener needs its own port`);
  }
  check(resolved.amqpsPort === resolved.managementPort, 'tls.managementPort', resolved.managementPort, 'is also tls.amqpsPort; give each its own port');
  return problems;
}

/** The names the brokers' certificate must cover: clients connect to node IPs, brokers and the CLI to node names. */
export function rabbitCertificateRequest(component: string, namespace: string | undefined, nodes: readonly InventoryNode[]): TlsCertificateRequest {
  return { component, namespace, dnsNames: nodes.map((n) => n.name), ipAddresses: nodes.map((n) => n.ip) };
}

/** ssl options shared by AMQPS and management, as rabbitmq.conf keys under `prefix` (`ssl_options`, `management.ssl`). */
function sslOptionLines(prefix: string, verifyClients: boolean): string[] {
  const p = RABBIT_ACTIVE_TLS;
  const ciphers = [...TLS13_CIPHERSUITES.split(':'), ...TLS12_CIPHERS.split(':')];
  return [
    `${prefix}.cacertfile = ${p.ca}`,
    `${prefix}.certfile = ${p.certificate}`,
    `${prefix}.keyfile = ${p.privateKey}`,
    `${prefix}.verify = ${verifyClients ? 'verify_peer' : 'verify_none'}`,
    `${prefix}.fail_if_no_peer_cert = ${verifyClients}`,
    `${prefix}.versions.1 = tlsv1.3`,
    `${prefix}.versions.2 = tlsv1.2`,
    ...ciphers.map((c, i) => `${prefix}.ciphers.${i + 1} = ${c}`),
    `${prefix}.honor_cipher_order = true`,
    `${prefix}.honor_ecc_order = true`,
  ];
}

/**
 * rabbitmq.conf's listener block with TLS (instead of the plaintext one of config.ts): AMQPS on the node IP, plain
 * AMQP only if asked, management over HTTPS only, Prometheus unchanged (plain HTTP on the node IP: it is scraped
 * as before, and carries no message or credential).
 */
export function renderTlsListenerLines(tls: ResolvedRabbitTls, hostIp: string, amqpPort: number, prometheusPort: number): string[] {
  return [
    '# Host network: bind to the node\'s internal IP only (a NetworkPolicy does not cover host-network pods).',
    ...(tls.plaintextAmqp ? [`listeners.tcp.1 = ${hostIp}:${amqpPort}`] : ['# Plaintext AMQP closed: AMQPS only.', 'listeners.tcp = none']),
    `listeners.ssl.1 = ${hostIp}:${tls.amqpsPort}`,
    '# The certificate is a checked copy of the Secret (tls-reload.sh swaps it and clears the PEM cache on renewal).',
    ...sslOptionLines('ssl_options', tls.verifyClients),
    // Client certificates are not asked for here: the UI and API users log in with passwords, from browsers.
    `management.ssl.ip = ${hostIp}`,
    `management.ssl.port = ${tls.managementPort}`,
    ...sslOptionLines('management.ssl', false).filter((l) => !/\.(verify|fail_if_no_peer_cert) = /.test(l)),
    `prometheus.tcp.ip = ${hostIp}`,
    `prometheus.tcp.port = ${prometheusPort}`,
  ];
}

/**
 * The Erlang distribution's ssl options (`-ssl_dist_optfile`), for the server and the CLI tools alike: both sides
 * present the broker certificate and verify the other's against the CA. The connecting side checks the peer's
 * certificate against the node name's host part (Erlang passes it as the server name), which the certificate covers.
 */
export function renderInterNodeTlsConfig(): string {
  const p = RABBIT_ACTIVE_TLS;
  const ciphers = [...TLS13_CIPHERSUITES.split(':'), ...TLS12_CIPHERS.split(':')].map((c) => `"${c}"`).join(', ');
  const common = [
    `{cacertfile, "${p.ca}"}`, `{certfile, "${p.certificate}"}`, `{keyfile, "${p.privateKey}"}`,
    '{verify, verify_peer}', "{versions, ['tlsv1.3', 'tlsv1.2']}", `{ciphers, [${ciphers}]}`, '{secure_renegotiate, true}',
  ];
  return [
    '%% Erlang distribution over TLS (rendered by cdk8s-openstack-ha; read by the broker and the CLI tools).',
    '[',
    `  {server, [${[...common, '{fail_if_no_peer_cert, true}', '{honor_cipher_order, true}'].join(', ')}]},`,
    `  {client, [${common.join(', ')}]}`,
    '].',
    '',
  ].join('\n');
}

/** Erlang flags of the server and the CLI tools for the distribution over TLS. */
export function distributionErlArgs(templateDir: string): string {
  return `-proto_dist inet_tls -ssl_dist_optfile ${templateDir}/${RABBIT_TLS_PATHS.interNodeFile}`;
}

/** A path an INI value can carry verbatim (no newline, `;`, `#`, space). */
const PATH = /^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/;

/** Problems of a client's TLS files (`prop` prefixes the field names); `verifyClients`: the brokers ask for a certificate. */
export function rabbitClientTlsProblems(prop: string, verifyClients: boolean, files: RabbitClientTls | undefined | null): FieldProblem[] {
  const { problems, check } = fieldProblems();
  if (check(files === undefined || files === null || typeof files !== 'object', prop, files,
    'is required: the brokers serve AMQPS only (tls), so the client needs at least { caFile } as mounted in its pod')) return problems;
  const path = (field: keyof RabbitClientTls, value: unknown) => check(typeof value !== 'string' || !PATH.test(value) || value.split('/').includes('..'),
    `${prop}.${field}`, value, 'must be an absolute file path of letters, digits, ".", "_", "-" and "/" without ".." (as mounted in the client\'s pod)');
  path('caFile', files!.caFile);
  if (files!.certificateFile !== undefined) path('certificateFile', files!.certificateFile);
  if (files!.keyFile !== undefined) path('keyFile', files!.keyFile);
  check((files!.certificateFile === undefined) !== (files!.keyFile === undefined), `${prop}.keyFile`, files!.keyFile,
    'and certificateFile go together: give both (the client\'s certificate and its key) or neither');
  check(verifyClients && files!.certificateFile === undefined, `${prop}.certificateFile`, undefined,
    'is required: the brokers verify clients (tls.verifyClients), so a client without a certificate is refused');
  return problems;
}

/** `[oslo_messaging_rabbit]`'s TLS options (names as in oslo.messaging's impl_rabbit.py, checked against 14.0.3). */
export function osloSslOptions(files: RabbitClientTls): Record<string, string> {
  return {
    ssl: 'true',
    ssl_ca_file: files.caFile,
    ...(files.certificateFile !== undefined ? { ssl_cert_file: files.certificateFile, ssl_key_file: files.keyFile! } : {}),
  };
}

/**
 * The broker container's env for TLS: where tls-start.sh and tls-reload.sh find the Secret and put the checked copy,
 * which port presents it, and the CLI tools' distribution flags (every rabbitmqctl of start.sh, post-start.sh, the
 * probes and preStop reads them from the container env).
 */
export function tlsBrokerEnv(tls: ResolvedRabbitTls, templateDir: string): BrokerEnvVar[] {
  return [
    ...(tls.distribution ? [{ name: 'RABBITMQ_CTL_ERL_ARGS', value: distributionErlArgs(templateDir) }] : []),
    { name: 'RABBITMQ_TLS_SOURCE_DIR', value: RABBIT_TLS_PATHS.source },
    { name: 'RABBITMQ_TLS_DIR', value: RABBIT_TLS_PATHS.active },
    { name: 'RABBITMQ_TLS_CHECK_PORT', value: String(tls.amqpsPort) },
    { name: 'RABBITMQ_TLS_CLIENT_CERTIFICATE', value: String(tls.verifyClients) },
    { name: 'RABBITMQ_TLS_RELOAD_INTERVAL', value: '10' },
  ];
}

/** The listeners with TLS, on the node IP. */
export function tlsBrokerPorts(tls: ResolvedRabbitTls, c: { amqpPort: number; prometheusPort: number; distributionPort: number }): BrokerPort[] {
  return [
    ...(tls.plaintextAmqp ? [{ name: 'amqp', port: c.amqpPort }] : []),
    { name: 'amqps', port: tls.amqpsPort },
    { name: 'management', port: tls.managementPort },
    { name: 'prometheus', port: c.prometheusPort },
    { name: 'epmd', port: 4369 },
    { name: 'dist', port: c.distributionPort },
  ];
}
