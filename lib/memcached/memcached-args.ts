/**
 * memcached's command line, derived from the container's limits. Pure: no cdk8s.
 *
 * The research (shared/research/rabbitmq-anchors.md section 11) and openstack-helm/kolla agree on: UDP off
 * (`-U 0`: the UDP protocol has been used for amplification attacks and OpenStack never uses it), cachedump off
 * (`-X`), listen on one address only (memcached has no authentication).
 */
import { TLS12_CIPHERS } from '../tls/model';
import { TlsPaths } from '../tls/pod';

/** memcached's TLS: the mounted files, and whether a client certificate is required. */
export interface MemcachedArgsTls {
  readonly paths: TlsPaths;
  readonly verifyClients: boolean;
}

export interface MemcachedArgsModel {
  /** The address to listen on: a literal IP, or a `$(VAR)` reference that Kubernetes expands from env. */
  readonly listenAddress: string;
  readonly port: number;
  readonly maxConnections: number;
  /** Container memory limit, MiB. */
  readonly memoryLimitMiB: number;
  /** Container CPU limit, millicores. */
  readonly cpuLimitMillis: number;
  /** TLS on the listener, when set. */
  readonly tls?: MemcachedArgsTls;
}

/** `ssl_min_version` 2 is TLS 1.2 (memcached 1.6 reads the number; 0 and 1 would allow TLS 1.0 and 1.1). */
const TLS_MIN_VERSION_1_2 = '2';
/** `ssl_verify_mode` 2: a client certificate is required (SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT). */
const VERIFY_REQUIRE = '2';

/** Below this much item memory memcached is not worth running (and a typo like `memoryLimitMiB: 64` is likely). */
export const MIN_ITEM_MEMORY_MIB = 64;

/**
 * The item memory (`-m`): the limit minus what memcached needs besides items (hash table, per-connection
 * buffers, slab overhead): 10% of the limit, at least 32 MiB, plus 8 KiB for each allowed connection. Keeping
 * this margin is what stops the kernel OOM-killing the cache when it fills up.
 */
export function itemMemoryMiB(memoryLimitMiB: number, maxConnections: number): number {
  const reserve = Math.max(32, Math.ceil(memoryLimitMiB * 0.1)) + Math.ceil((maxConnections * 8) / 1024);
  return memoryLimitMiB - reserve;
}

/** Worker threads (`-t`): one per whole CPU of the limit, at least one. */
export function workerThreads(cpuLimitMillis: number): number {
  return Math.max(1, Math.floor(cpuLimitMillis / 1000));
}

export function memcachedArgs(m: MemcachedArgsModel): string[] {
  return [
    '-l', m.listenAddress,
    '-p', String(m.port),
    '-U', '0',
    '-X',
    '-c', String(m.maxConnections),
    '-m', String(itemMemoryMiB(m.memoryLimitMiB, m.maxConnections)),
    '-t', String(workerThreads(m.cpuLimitMillis)),
    ...(m.tls ? tlsArgs(m.tls) : []),
  ];
}

/**
 * `-Z` makes every listener TLS (there is one: no `notls:` listener, so nothing is served in plaintext). One `-o` with
 * the options comma-separated (the cipher list is colon-separated, so it does not clash). `ssl_ciphers` restricts
 * TLS 1.2 to ECDHE AEAD suites; TLS 1.3 offers only AEAD suites anyway. The CA is loaded only to verify clients.
 */
export function tlsArgs(tls: MemcachedArgsTls): string[] {
  const options = [
    `ssl_chain_cert=${tls.paths.certificate}`,
    `ssl_key=${tls.paths.privateKey}`,
    `ssl_min_version=${TLS_MIN_VERSION_1_2}`,
    `ssl_ciphers=${TLS12_CIPHERS}`,
    ...(tls.verifyClients ? [`ssl_ca_cert=${tls.paths.ca}`, `ssl_verify_mode=${VERIFY_REQUIRE}`] : []),
  ];
  return ['-Z', '-o', options.join(',')];
}
