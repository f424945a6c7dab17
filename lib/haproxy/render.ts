import { isIpAddress } from '../common/validation';
import { TLS12_CIPHERS, TLS13_CIPHERSUITES } from '../tls/model';
import { HAPROXY_CONFIG_PATH, HAPROXY_RUN_DIR, HaproxyGalera, HaproxyModel, HaproxyServer, HaproxyService, HaproxyTls } from './model';

const RESOLVERS = 'k8s';
/** Names of the sections the renderer writes besides the proxies: a service must not take them. */
export const HAPROXY_RESERVED_NAMES: readonly string[] = [RESOLVERS];
/** Health-check rhythm: 1 s while stable, 500 ms while a state change is being confirmed; down after 3 misses. */
const CHECK_TIMING = 'inter 1s fastinter 500ms downinter 1s rise 2 fall 3';
/**
 * The Galera writer's check rhythm: every 250 ms in every state (a few requests a second to each agent). `/writer`
 * answers 200 on one member only, the one the cluster itself named, so one success is enough to send writes there
 * (rise 1): it gets them at most 250 ms after the cluster names it. Two misses (fall 2) take a writer out within
 * half a second, so the old and the new writer are rarely both up (which would hold new sessions, below).
 */
const WRITER_CHECK_TIMING = 'inter 250ms fastinter 250ms downinter 250ms rise 1 fall 2';
/**
 * How long a new Galera connection may wait for exactly one writer (see renderGalera): a few check intervals, so
 * that a freshly started instance has checked every member, and well within clients' connect timeouts.
 */
const WRITER_HOLD_SECONDS = 1;
/**
 * How long a connection to the writer may take to open. A member that runs answers a SYN within a millisecond on
 * the same network; one that died silently never does, and every session HAProxy sends it before its check marks
 * it down (up to ~0.5 s) would otherwise wait the default 5 s, then retry it after a turn-around of min(connect
 * timeout, 1 s). With 500 ms and a redispatch on every retry, such a session is moved to the member that is up by
 * then, or refused so that the client's own retry finds the new writer (measured: resumption through HAProxy).
 */
const WRITER_CONNECT_TIMEOUT = '500ms';
// Shared with every TLS daemon of the library (lib/tls/model.ts); re-exported for the HAProxy tests.
export { TLS12_CIPHERS, TLS13_CIPHERSUITES };
/** The suffix of the plain-HTTP frontend that redirects a service to HTTPS. */
export const REDIRECT_SUFFIX = '-redirect';

/**
 * Container command for the official `haproxy` image. `-W`: master-worker, so a reload (`kill -USR2 1`, or
 * `reload` on the master socket) starts new workers that take the listening sockets over (hitless) while old
 * workers finish their connections. `-db`: stay in the foreground. No per-instance state: one config serves every
 * node, and the instances share nothing (the Galera writer is decided by the members, see renderGalera).
 */
export function haproxyCommand(): string[] {
  return ['haproxy', '-W', '-db', '-S', `${HAPROXY_RUN_DIR}/master.sock`, '-f', HAPROXY_CONFIG_PATH];
}

/**
 * Every port HAProxy listens on, in config order: services, stats, Galera. For container ports, NetworkPolicies,
 * and the privileged-port
 * question: a port below 1024 (e.g. the dashboard's 80) needs NET_BIND_SERVICE, which Kubernetes only gives to a
 * root process, and `net.ipv4.ip_unprivileged_port_start` cannot be set for a host-network pod.
 */
export function haproxyListenPorts(model: HaproxyModel): number[] {
  return [
    ...model.services.map((s) => s.port),
    model.statsPort,
    ...(model.galera ? [model.galera.port] : []),
    ...redirectingServices(model).map((s) => s.redirectPort!),
  ];
}

/** The services with a plain-HTTP redirect listener, in config order. */
export function redirectingServices(model: HaproxyModel): HaproxyService[] {
  return model.services.filter((s) => s.redirectPort !== undefined);
}

/** Whether HAProxy terminates TLS on this service (every `http` service when the model has TLS). */
export function terminatesTls(model: HaproxyModel, service: HaproxyService): boolean {
  return model.tls !== undefined && service.mode === 'http';
}

/** haproxy.cfg for every HAProxy instance; same model, same bytes. */
export function renderHaproxyCfg(model: HaproxyModel): string {
  const usesDns = [...model.services.flatMap((s) => s.servers), ...(model.galera?.servers ?? [])]
    .some((s) => !isIpAddress(s.address)) || model.services.some((s) => s.discovery);
  const sections = [
    renderGlobal(model),
    renderDefaults(),
    usesDns ? renderResolvers(model.nameservers) : [],
    renderStats(model),
    ...model.services.map((s) => renderService(model, s)),
    ...redirectingServices(model).map((s) => renderRedirect(model, s)),
    model.galera ? renderGalera(model, model.galera) : [],
  ];
  return `${sections.filter((s) => s.length > 0).map((s) => s.join('\n')).join('\n\n')}\n`;
}

function renderGlobal(model: HaproxyModel): string[] {
  return [
    // No chroot, user, group or daemon: the official image already runs as the unprivileged haproxy user in the
    // foreground, and a chroot would need a prepared directory tree in a read-only container.
    'global',
    '  master-worker',
    `  maxconn ${model.maxConnections}`,
    '  log stdout format raw local0 info',
    // expose-fd listeners: new workers take the listening sockets over on reload, so no connection is refused.
    `  stats socket ${HAPROXY_RUN_DIR}/admin.sock mode 600 level admin expose-fd listeners`,
    '  stats timeout 30s',
    // Old workers keep long-lived (Galera) connections after a reload; bound how long they may linger.
    '  hard-stop-after 10m',
    ...(model.tls ? renderTlsGlobal() : []),
  ];
}

function renderTlsGlobal(): string[] {
  // TLS 1.2 and 1.3 only, strong ciphers only, on both sides. No session tickets: their key lives as long as the
  // process (forward secrecy would then last until the next reload); resumption uses the session cache instead.
  const options = 'ssl-min-ver TLSv1.2 no-tls-tickets';
  return [
    `  ssl-default-bind-ciphers ${TLS12_CIPHERS}`,
    `  ssl-default-bind-ciphersuites ${TLS13_CIPHERSUITES}`,
    // Every offered cipher is strong: let the client pick (one without AES hardware prefers ChaCha20).
    `  ssl-default-bind-options prefer-client-ciphers ${options}`,
    `  ssl-default-server-ciphers ${TLS12_CIPHERS}`,
    `  ssl-default-server-ciphersuites ${TLS13_CIPHERSUITES}`,
    `  ssl-default-server-options ${options}`,
    // The Secret volume holds tls.crt and tls.key side by side: `crt .../tls.crt` then loads .../tls.key (the
    // extension replaced, not appended), so the key is neither copied nor combined into another file.
    '  ssl-load-extra-del-ext',
    '  ssl-load-extra-files key',
  ];
}

function renderDefaults(): string[] {
  return [
    'defaults',
    '  log global',
    '  mode http',
    '  option dontlognull',
    // A request whose server died before it was sent may be retried on another server.
    '  option redispatch',
    '  retries 3',
    '  timeout connect 5s',
    '  timeout client 300s',
    '  timeout server 300s',
    '  timeout http-request 10s',
    '  timeout http-keep-alive 10s',
    '  timeout queue 30s',
    '  timeout check 2s',
  ];
}

function renderResolvers(nameservers: readonly string[]): string[] {
  const servers = nameservers.length === 0
    ? ['  parse-resolv-conf']
    : nameservers.map((ns, i) => `  nameserver dns${i} ${ns}:53`);
  return [
    `resolvers ${RESOLVERS}`,
    ...servers,
    '  resolve_retries 3',
    '  timeout resolve 1s',
    '  timeout retry 1s',
    // A pod that disappears from DNS is dropped after 10 s; a transient DNS failure keeps the last answer 30 s.
    '  hold valid 10s',
    '  hold nx 10s',
    '  hold obsolete 10s',
    '  hold other 30s',
    '  hold refused 30s',
    '  hold timeout 30s',
    '  accepted_payload_size 8192',
  ];
}

function renderStats(model: HaproxyModel): string[] {
  return [
    'frontend stats',
    `  bind ${model.bindAddress}:${model.statsPort}`,
    '  mode http',
    '  no log',
    // Liveness of HAProxy itself (keepalived's track check, kubelet probes): 200 while the process serves.
    '  monitor-uri /healthz',
    '  http-request use-service prometheus-exporter if { path /metrics }',
    '  stats enable',
    '  stats uri /stats',
    '  stats refresh 10s',
  ];
}

/** Opens a `listen` section with the same inactivity timeout on both sides. */
function listenHead(model: HaproxyModel, name: string, port: number, mode: 'http' | 'tcp', timeoutSeconds: number,
  tls?: HaproxyTls): string[] {
  return [
    `listen ${name}`,
    // The node's address, not the VIP: a host-network pod on a node that does not hold the VIP cannot bind it
    // (ip_nonlocal_bind is a node sysctl that Kubernetes refuses for host-network pods).
    `  bind ${model.bindAddress}:${port}${tls ? ` ssl crt ${tls.certificate} alpn h2,http/1.1` : ''}`,
    `  mode ${mode}`,
    `  timeout client ${timeoutSeconds}s`,
    `  timeout server ${timeoutSeconds}s`,
  ];
}

function renderService(model: HaproxyModel, service: HaproxyService): string[] {
  const tls = terminatesTls(model, service) ? model.tls : undefined;
  const lines = [
    ...listenHead(model, service.name, service.port, service.mode, service.timeoutSeconds, tls),
    ...(service.mode === 'http' ? ['  option httplog', '  option forwardfor'] : ['  option tcplog']),
    '  balance roundrobin',
  ];
  if (tls) {
    // The APIs build their own links (version documents, pagination) from it: oslo.middleware's
    // HTTPProxyToWSGI (enable_proxy_headers_parsing) turns them into https:// links.
    lines.push('  http-request set-header X-Forwarded-Proto https');
    if (tls.hstsMaxAgeSeconds !== undefined) {
      lines.push(`  http-response set-header Strict-Transport-Security "max-age=${tls.hstsMaxAgeSeconds}"`);
    }
  }
  const serverTls = tls?.reencrypt ? (host: string | undefined) => backendTlsOptions(tls, host) : () => '';
  if (service.httpCheck) {
    lines.push(
      '  option httpchk',
      `  http-check send meth GET uri ${service.httpCheck.path}`,
      // Version documents answer 300 Multiple Choices, the dashboard a 302 redirect: 2xx and 3xx are healthy.
      '  http-check expect rstatus ^[23]',
    );
  }
  const checkPort = service.httpCheck?.port !== undefined ? ` port ${service.httpCheck.port}` : '';
  lines.push(...service.servers.map((s) => `  ${serverLine(s,
    `check${checkPort} ${CHECK_TIMING}${serverTls(isIpAddress(s.address) ? undefined : s.address)}`)}`));
  if (service.discovery) {
    const d = service.discovery;
    // init-addr none: empty slots start in maintenance and are filled from DNS answers, never block startup.
    lines.push(`  server-template ${service.name}- ${d.slots} ${d.fqdn}:${d.port} check${checkPort} ${CHECK_TIMING}` +
      `${serverTls(d.fqdn)} resolvers ${RESOLVERS} init-addr none`);
  }
  return lines;
}

/**
 * Re-encryption to a backend: verified against the CA bundle, and against the server's DNS name when it has one
 * (sent as SNI, for traffic and checks). A literal IP is verified by chain only: HAProxy 2.6 has no IP check.
 */
function backendTlsOptions(tls: HaproxyTls, host: string | undefined): string {
  const name = host === undefined ? '' : ` sni str(${host}) check-sni ${host} verifyhost ${host}`;
  return ` ssl verify required ca-file ${tls.ca}${name}`;
}

/**
 * The plain-HTTP listener of a TLS service: every request is redirected to the same host on the HTTPS port. 308,
 * not 301: an API client's POST stays a POST with its body (browsers follow both). The Host header's port, if any,
 * is replaced by the HTTPS port.
 */
function renderRedirect(model: HaproxyModel, service: HaproxyService): string[] {
  const port = service.port === 443 ? '' : `:${service.port}`;
  return [
    `frontend ${service.name}${REDIRECT_SUFFIX}`,
    `  bind ${model.bindAddress}:${service.redirectPort}`,
    '  mode http',
    '  option httplog',
    `  http-request redirect location https://%[req.hdr(host),regsub(:[0-9]+$,)]${port}%[capture.req.uri] code 308`,
  ];
}

/**
 * One writer at a time, the one the Galera members named themselves: the agent's `GET /writer` answers 200 only on
 * the member the replicated writer row names, while it is Primary and Synced (lib/galera/agent/writer.ts). Every
 * HAProxy instance reads the same row through its checks, so they all agree, a restarted instance included, with
 * no state of their own (no stick table, no peers), and a recovered old writer gets nothing back (the row names
 * its successor).
 *
 * A new connection is held (WRITER_HOLD_SECONDS) while more than one member is up: right after HAProxy starts,
 * every server counts as UP until its first check (HAProxy 2.6 has no `init-state`), which would send the first
 * connections of a restarted instance to the first member (the "restarted instance picks the first member" seen
 * with the stick table); a takeover can also leave two 200s for one check interval. HAProxy evaluates the rule
 * again only when the delay ends, so the held connection then goes to the first member still up. With no member
 * up (a takeover under way) a connection is refused at once, as before, and the client's retry is what waits.
 */
function renderGalera(model: HaproxyModel, galera: HaproxyGalera): string[] {
  return [
    ...listenHead(model, 'galera', galera.port, 'tcp', galera.timeoutSeconds),
    '  option tcplog',
    // Keepalives keep idle pooled connections alive through stateful firewalls and detect dead peers.
    '  option tcpka',
    // The first UP server in config order gets every connection: deterministic even if two are briefly up.
    '  balance first',
    `  timeout connect ${WRITER_CONNECT_TIMEOUT}`,
    // A failed connect is retried on the member up at that moment, not on the same one (nothing was sent yet).
    '  option redispatch 1',
    `  tcp-request inspect-delay ${WRITER_HOLD_SECONDS}s`,
    '  tcp-request content accept if { nbsrv le 1 }',
    '  tcp-request content accept if WAIT_END',
    '  option httpchk',
    `  http-check send meth GET uri ${galera.checkPath}`,
    '  http-check expect status 200',
    // Sessions to a member that goes down are cut at once, so clients reconnect to the new writer instead of
    // hanging (and a session opened on a member before its first check is cut when that check fails).
    ...galera.servers.map((s) => `  ${serverLine(s,
      `check port ${galera.checkPort} ${WRITER_CHECK_TIMING} on-marked-down shutdown-sessions`)}`),
  ];
}

/**
 * A server line. A DNS name is resolved by libc at start when possible, otherwise the server starts without an
 * address (maintenance) instead of failing the whole configuration, and is kept up to date by the resolvers.
 * HAProxy splits `host:port` at the last colon, so IPv6 literals need no brackets.
 */
function serverLine(server: HaproxyServer, options: string): string {
  const dns = isIpAddress(server.address) ? '' : ` resolvers ${RESOLVERS} init-addr last,libc,none`;
  return `server ${server.name} ${server.address}:${server.port} ${options}${dns}`;
}
