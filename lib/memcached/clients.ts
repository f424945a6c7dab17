/**
 * What OpenStack services put in their config to use the pool: oslo.cache's `[cache]` and keystonemiddleware's
 * `[keystone_authtoken]` memcache options, with TLS when the pool has it. Pure: no cdk8s.
 *
 * With TLS, `[cache] backend` is `dogpile.cache.pymemcache`: oslo.cache builds an SSL context from `tls_*` and hands
 * it to the backend, and only pymemcache uses it (`oslo_cache.memcache_pool` is python-memcached, which has no TLS: the
 * context is ignored and the client talks plaintext to a TLS port). keystonemiddleware reads its own `memcache_tls_*`
 * (keystonemiddleware 10.10, OpenStack 2025.2, the first line whose token cache speaks TLS).
 */
import { FieldProblem, fieldProblems } from '../common/validation';
import { MemcachedClientTls } from './props';

/** What the pool is, as a client needs it. */
export interface MemcachedClientView {
  readonly servers: string;
  readonly tls?: { readonly verifyClients: boolean };
}

/** An absolute path of plain characters: the value goes into an INI file verbatim (no newline, `;`, `#`, space). */
const PATH = /^\/[A-Za-z0-9._/-]*[A-Za-z0-9._-]$/;

/** Problems of the client's files against the pool (`prop` prefixes the field names). */
export function clientTlsProblems(prop: string, pool: MemcachedClientView, files: MemcachedClientTls | undefined): FieldProblem[] {
  const { problems, check } = fieldProblems();
  if (pool.tls === undefined || files === undefined) return problems;
  const path = (field: keyof MemcachedClientTls, value: unknown) => check(typeof value !== 'string' || !PATH.test(value) || value.split('/').includes('..'),
    `${prop}.${field}`, value, 'must be an absolute file path of letters, digits, ".", "_", "-" and "/" without ".." (as mounted in the client\'s pod)');
  path('caFile', files.caFile);
  if (files.certificateFile !== undefined) path('certificateFile', files.certificateFile);
  if (files.keyFile !== undefined) path('keyFile', files.keyFile);
  check((files.certificateFile === undefined) !== (files.keyFile === undefined), `${prop}.keyFile`, files.keyFile,
    'and certificateFile go together: give both (the client\'s certificate and its key) or neither');
  check(pool.tls.verifyClients && files.certificateFile === undefined, `${prop}.certificateFile`, undefined,
    'is required: the memcached pool verifies clients (tls.verifyClients), so a client without a certificate is refused');
  return problems;
}

/** oslo.cache `[cache]`: the pool's servers; with TLS, the pymemcache backend and the TLS files. */
export function osloCacheOptions(pool: MemcachedClientView, files?: MemcachedClientTls): Record<string, string> {
  if (pool.tls === undefined || files === undefined) {
    return { enabled: 'true', backend: 'oslo_cache.memcache_pool', memcache_servers: pool.servers };
  }
  return {
    enabled: 'true',
    backend: 'dogpile.cache.pymemcache',
    memcache_servers: pool.servers,
    tls_enabled: 'true',
    tls_cafile: files.caFile,
    ...(files.certificateFile !== undefined ? { tls_certfile: files.certificateFile, tls_keyfile: files.keyFile! } : {}),
  };
}

/** keystonemiddleware `[keystone_authtoken]`'s memcache servers and, with TLS, its `memcache_tls_*`. */
export function authtokenCacheOptions(pool: MemcachedClientView, files?: MemcachedClientTls): Record<string, string> {
  if (pool.tls === undefined || files === undefined) return { memcached_servers: pool.servers };
  return {
    memcached_servers: pool.servers,
    memcache_tls_enabled: 'true',
    memcache_tls_cafile: files.caFile,
    ...(files.certificateFile !== undefined ? { memcache_tls_certfile: files.certificateFile, memcache_tls_keyfile: files.keyFile! } : {}),
  };
}
