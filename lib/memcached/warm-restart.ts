/**
 * memcached's warm restart (restartable cache, memcached >= 1.5.18): the item memory is a file on a RAM disk
 * (`-e <file>`); on SIGUSR1 memcached saves its metadata beside it (`<file>.meta`) and exits, and the next memcached
 * started with the same file and the same memory settings maps the items back. Pure: no cdk8s.
 *
 * Why this and not a placement that never changes the template: every DaemonSet roll empties each node's cache in
 * turn, whatever started it (an inventory change, a memory, TLS or connection change, an image upgrade). Keeping
 * the items across the pod's replacement covers all of these but a change of the memory settings (memcached refuses
 * the restore and starts clean) and a node reboot (the RAM disk is gone). A label placement would cover the
 * inventory change only, and one DaemonSet per node would restart every node at once on a config change.
 *
 * The file must outlive the pod (a DaemonSet roll deletes the pod, and an emptyDir with it): a hostPath on the node's
 * tmpfs, by default under `/dev/shm`. What runs in the container (`warmRestartScript`), as PID 1 around memcached:
 * - SIGTERM (the kubelet's stop: a roll, a drain, an eviction, a graceful node shutdown) becomes SIGUSR1. memcached
 *   itself treats SIGTERM as "exit without saving", and a SIGTERM during a SIGUSR1 save (what a preStop hook that
 *   sends SIGUSR1 would race with) turns the save off. The wrapper waits for memcached and exits with its status.
 * - A lock on the directory: a second memcached on the same file (a force-deleted pod whose container still runs, a
 *   patched maxSurge) would initialise the slabs of the running one's memory before failing to bind its port. The
 *   new one waits for the old one to exit instead.
 * - A restore by an older memcached than the one that saved is refused (the `.meta` file is removed, memcached
 *   starts clean and says so): memcached checks the memory settings, not its version, and supports upgrades only
 *   (its WarmRestart documentation). Upgrades restore.
 * - memcached refuses a restore within the wall-clock second of the save (its `stop_time` check, measured with
 *   1.6.18: "restart incompatible due to setting for [stop_time]"); a pod replacement is slower than that, a fast
 *   restart waits out the second.
 * - A directory that is not a RAM disk (a `warmRestartPath` on a real disk: every item write would go to the disk),
 *   or a RAM disk without room for the whole item memory (memcached would die of SIGBUS filling it: a crash loop),
 *   runs memcached without `-e`, cold, and says so.
 */

/** Where the node's directory is mounted in the pod. */
export const WARM_RESTART_DIR = '/var/lib/memcached';
/** The item memory file (memcached writes `<file>.meta` beside it at SIGUSR1). */
export const WARM_RESTART_FILE = `${WARM_RESTART_DIR}/memory`;
/** The node directory's default parent: the node's /dev/shm, a tmpfs on every systemd Linux (half the RAM by default). */
export const DEFAULT_WARM_RESTART_PARENT = '/dev/shm/openstack-ha-memcached';

/** The default directory on the node for a pool: one per namespace and pool, so two pools never share a file. */
export function defaultWarmRestartPath(namespace: string | undefined, name: string): string {
  return `${DEFAULT_WARM_RESTART_PARENT}/${namespace ?? 'default'}-${name}`;
}

/**
 * The container's command: `sh -c <script> memcached <args...>`; the args stay memcached's own (without `-e`, which
 * the script adds when the directory is a RAM disk). The script's log lines start with `warm restart:` (memcached's
 * own about its restart with `[restart]`).
 */
export function warmRestartCommand(): string[] {
  return ['sh', '-c', warmRestartScript(WARM_RESTART_FILE), 'memcached'];
}

/**
 * `le A B`: success when version A is older than or the same as B, compared number by number (1.6.9 < 1.6.10).
 * Dotted numbers only: anything else (empty, a suffix such as `-rc1`) is not "older or equal", so the restore is
 * refused: the safe side.
 */
export const VERSION_LE_SH = [
  'le() { [ -n "$1" ] && [ -n "$2" ] || return 1; a=$1. b=$2.',
  '  while [ -n "$a$b" ]; do x=${a%%.*} y=${b%%.*}; a=${a#*.} b=${b#*.}',
  '    case "$x$y" in *[!0-9]*) return 1;; esac',
  '    [ "${x:-0}" -lt "${y:-0}" ] && return 0; [ "${x:-0}" -gt "${y:-0}" ] && return 1; done; return 0; }',
].join('\n');

/** The wrapper script (POSIX sh: dash in the official Debian image, busybox in the Alpine one). */
export function warmRestartScript(file: string): string {
  return [
    // PID 1 ignores a signal it has no handler for: until memcached runs, a stop ends the wrapper at once.
    'trap \'exit 143\' TERM INT',
    `f=${file}; d=\${f%/*}`,
    'say() { echo "warm restart: $*" >&2; }',
    VERSION_LE_SH,
    'v=$(memcached -V) && v=${v#memcached }',
    'fs=$(stat -f -c %T "$d") || fs="not readable"',
    'case "$fs" in tmpfs|ramfs) ;; *) say "$d is $fs, not a RAM disk: memcached starts without -e (cold, nothing kept)"; exec memcached "$@";; esac',
    'exec 9>>"$f.lock"',
    // In the background, so that a stop while waiting is not deferred until the lock comes (the lock is the open
    // file's, which the wrapper shares).
    'flock -n 9 || { say "waiting for the previous memcached on this node to exit"; flock 9 & wait $!; }',
    // Room for the whole item memory (the file's pages count): memcached touches its pages as it fills them and dies
    // of SIGBUS when the RAM disk is full (measured: a crash loop at start with 8 MiB free for -m 64).
    'm=; p=; for a in "$@"; do [ "$p" = -m ] && m=$a; p=$a; done',
    'free=$(df -Pk "$d" | { read -r _; read -r _ _ _ k _; echo "$k"; }); have=$(du -k "$f" 2>/dev/null | { read -r k _; echo "${k:-0}"; })',
    'if [ -n "$m" ] && [ -n "$free" ] && [ $((free + have)) -lt $((m * 1024)) ]; then',
    '  say "$d has $(((free + have) / 1024)) MiB for a $m MiB cache: memcached starts without -e (cold, nothing kept)"; exec memcached "$@"; fi',
    'if [ -e "$f.meta" ]; then',
    '  old=$(cat "$f.version" 2>/dev/null)',
    '  if le "$old" "$v"; then say "restoring the cache saved by memcached $old (this is $v)"',
    '    [ "$(date +%s)" -gt "$(stat -c %Y "$f.meta")" ] || sleep 1',
    '  else rm -f "$f.meta"; say "the cache was saved by memcached ${old:-of an unknown version}, this is $v: starting with a clean cache"; fi',
    'else say "no saved cache (first start, node reboot or a crash): starting with a clean cache"; fi',
    'echo "$v" > "$f.version"',
    'memcached -e "$f" "$@" & pid=$!',
    'trap \'say "stopping: saving the cache (SIGUSR1)"; kill -USR1 $pid\' TERM INT',
    // wait returns early when a trapped signal arrives: wait again until memcached has exited.
    'while wait $pid; rc=$?; kill -0 $pid 2>/dev/null; do :; done',
    'exit $rc',
  ].join('\n');
}

/** What a roll does to a memcached pod's cache, read from its live and its new pod template (for the preflight plan). */
export interface MemcachedCacheFate {
  /** The roll keeps the items (both templates warm-restart on one node directory, with the same item memory). */
  readonly kept: boolean;
  /** Why, in a few words, for the plan's line. */
  readonly reason: string;
  /** The node directory the running pods save into (it stays on a node the pool leaves), when they warm-restart. */
  readonly savedIn?: string;
}

interface PodSpecLike {
  readonly containers?: ReadonlyArray<{ readonly name?: string; readonly command?: readonly string[]; readonly args?: readonly string[] }>;
  readonly volumes?: ReadonlyArray<{ readonly name?: string; readonly hostPath?: { readonly path?: string } }>;
}

/** The warm-restart directory and item memory of a rendered memcached pod, or undefined without warm restart. */
function warmRestartOf(spec: PodSpecLike | undefined): { dir: string; memory: string; image?: string } | undefined {
  const c = spec?.containers?.find((x) => x.name === 'memcached');
  if (!c || c.command?.[0] !== 'sh' || !(c.command[2] ?? '').includes(`f=${WARM_RESTART_FILE}`)) return undefined;
  const dir = spec?.volumes?.find((x) => x.name === WARM_RESTART_VOLUME)?.hostPath?.path;
  if (dir === undefined) return undefined;
  const args = c.args ?? [];
  return { dir, memory: args[args.indexOf('-m') + 1] ?? '' };
}

/** The name of the pod's warm-restart volume. */
export const WARM_RESTART_VOLUME = 'warm-restart';

/**
 * Whether the roll from `live` to `next` (pod specs of the memcached DaemonSet) keeps each node's items, and why.
 * The image is not compared: memcached restores after an upgrade (a downgrade starts clean, said in its log).
 */
export function memcachedCacheFate(live: PodSpecLike | undefined, next: PodSpecLike | undefined): MemcachedCacheFate {
  const [from, to] = [warmRestartOf(live), warmRestartOf(next)];
  const saved = from ? { savedIn: from.dir } : {};
  if (!to) return { kept: false, reason: 'warm restart is off', ...saved };
  if (!from) return { kept: false, reason: 'warm restart turns on with this roll (the running pods have no saved cache); later rolls keep it' };
  if (from.dir !== to.dir) return { kept: false, reason: `the warm-restart directory changes (${from.dir} -> ${to.dir})`, ...saved };
  if (from.memory !== to.memory) {
    return { kept: false, reason: `the item memory changes (-m ${from.memory} -> ${to.memory} MiB): memcached refuses the restore and starts clean`, ...saved };
  }
  return { kept: true, reason: 'warm restart: each memcached saves its items on the node\'s RAM disk as it stops and the new pod restores them (a downgrade of the image starts clean)', ...saved };
}
