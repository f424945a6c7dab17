/**
 * memcached's command line, derived from the container's limits. Pure: no cdk8s.
 *
 * The research (shared/research/rabbitmq-anchors.md section 11) and openstack-helm/kolla agree on: UDP off
 * (`-U 0`: the UDP protocol has been used for amplification attacks and OpenStack never uses it), cachedump off
 * (`-X`), listen on one address only (memcached has no authentication).
 */
export interface MemcachedArgsModel {
  /** The address to listen on: a literal IP, or a `$(VAR)` reference that Kubernetes expands from env. */
  readonly listenAddress: string;
  readonly port: number;
  readonly maxConnections: number;
  /** Container memory limit, MiB. */
  readonly memoryLimitMiB: number;
  /** Container CPU limit, millicores. */
  readonly cpuLimitMillis: number;
}

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
  ];
}
