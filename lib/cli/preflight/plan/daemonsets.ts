/**
 * The plan's lines for the host DaemonSets pinned to the inventory (keepalived, memcached) when nodes join, move or
 * leave, and the generic roll of any other workload.
 */
import { memcachedCacheFate } from '../../../memcached/warm-restart';
import { objectId, objectNamespace } from '../manifests';
import { CheckResult, KubeObject } from '../types';
import { COMPONENT, DAY2, line, PlanInput, Spec, summarizeFields, templateChanges } from './common';
import { inPlaceSecretLines } from './secrets';

/** The nodes a pod template is pinned to by name (a placement's required node affinity), in inventory order. */
function templateNodes(o: KubeObject): string[] {
  const affinity = (o.spec as Spec | undefined)?.template?.spec?.affinity?.nodeAffinity as Spec | undefined;
  const terms = (affinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as Spec[] | undefined) ?? [];
  return terms.flatMap((t) => (t.matchFields as Spec[] | undefined) ?? [])
    .filter((f) => f.key === 'metadata.name').flatMap((f) => (f.values as string[] | undefined) ?? []);
}

/**
 * Nodes that join or move in a keepalived VIP or a memcached pool (a controller replaced or added). Both are
 * DaemonSets pinned to the inventory by name, so the apply rolls every old pod (the node list is in the template)
 * and starts the new nodes' pods at once.
 * - keepalived: peers are unicast, and a node's list is in its own rendered file. A new node's pod starts at the
 *   apply, while the holder still runs the old file, which does not list it. Its start script (keepalived/start.ts)
 *   sees that a peer holds the VIP and does not bid until a peer sends it an advert, i.e. until the holder's pod has
 *   rolled (the DaemonSet rolls the old pods once the new one is Ready, which it is while it waits). Before that
 *   script the new node took the VIP too: two holders for 7.2-7.6 s (replace-controller.test.ts, REPLACE_NAIVE=1);
 *   with it, none (keepalived-join.test.ts). So no taint procedure is needed; the line says what to watch.
 * - memcached: the survivors keep their items through the roll with warm restart (lib/memcached/warm-restart.ts;
 *   the line says when they do not and why). python-memcached (oslo.cache's memcache_pool, keystonemiddleware) places a key by its hash modulo the
 *   number of servers, in list order, and the list is the inventory's order: a node that stays but changes position
 *   sends most keys elsewhere, and services still on the old list (until they roll) and those on the new one read
 *   and write different servers (one's invalidation misses the other's copy) until the last service has rolled.
 */
export function joiningNodeLines(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const component = o.metadata.labels?.[COMPONENT];
  if (o.kind !== 'DaemonSet' || (component !== 'keepalived' && component !== 'memcached')) return [];
  const [from, to] = [templateNodes(live), templateNodes(o)];
  const added = to.filter((n) => !from.includes(n));
  const kept = to.filter((n) => from.includes(n));
  const removed = from.filter((n) => !to.includes(n));
  const subject = objectId(o, input.defaultNamespace);
  const fate = component === 'memcached' ? memcachedCacheFate((live.spec as Spec | undefined)?.template?.spec, (o.spec as Spec | undefined)?.template?.spec) : undefined;
  if (kept.length === 0 || (added.length === 0 && removed.length === 0 && from.join() === to.join())) {
    // Any other roll of memcached (memory, TLS, image): what it does to each node's cache.
    if (!fate || templateChanges(o, live).length === 0) return [];
    return [line('pass', 'members', subject, `memcached restarts in the roll, one node at a time, and ${fate.kept ? 'keeps its items' : 'comes back empty'}: ${fate.reason}`)];
  }
  const ns = objectNamespace(o, input.defaultNamespace);
  const lines: CheckResult[] = [];
  if (component === 'keepalived' && added.length > 0) {
    const one = added.length === 1;
    lines.push(line('pass', 'members', subject, `${added.join(', ')} join${one ? 's' : ''} the VIP: while ${kept.join(', ')} still run${kept.length === 1 ? 's' : ''} `
      + `a peer list without ${one ? 'it' : 'them'}, ${one ? 'its' : 'their'} keepalived does not bid for the VIP a peer holds until a peer sends ${one ? 'it' : 'them'} an advert `
      + `(after the holder's pod has rolled; no taint needed); meanwhile out of the election (keepalived_vrrp_fault 1). A WARNING every 60 s in ${one ? 'its' : 'their'} `
      + `log means the roll has not reached the holder (kubectl${ns ? ` -n ${ns}` : ''} rollout status daemonset/${o.metadata.name}) or IP protocol 112 does not `
      + `reach ${one ? 'it' : 'them'} (${DAY2}: replacing a controller)`));
  }
  if (component === 'memcached') {
    const moved = kept.filter((n) => from.indexOf(n) !== to.indexOf(n));
    if (moved.length > 0) {
      lines.push(line('warn', 'members', subject, `memcached servers ${from.join(', ')} -> ${to.join(', ')}: ${moved.join(', ')} change${moved.length === 1 ? 's' : ''} `
        + 'position in the server list, and python-memcached (oslo.cache, keystonemiddleware) places keys by position: most cached keys move, and '
        + 'services on the old and the new list use different servers for one key until every service has rolled; keep the nodes that stay in their '
        + `positions (a new node in the place of the one it replaces) (${DAY2}: replacing a controller)`));
    }
    const s = kept.length === 1 ? 's' : '';
    lines.push(line('pass', 'members', subject, `memcached on ${kept.join(', ')} restart${s} in the roll (the node list is in the pod template), one node at a time, `
      + (fate?.kept ? `and keep${s} ${s ? 'its' : 'their'} items: ${fate.reason}` : `and come${s} back empty (${fate?.reason}): cached tokens and oslo.cache entries are fetched again`)
      + `${added.length > 0 ? `; ${added.join(', ')} start${added.length === 1 ? 's' : ''} empty` : ''}; the services' memcache_servers change: roll them after`
      + (removed.length > 0 && fate?.savedIn ? `; ${removed.join(', ')} keep${removed.length === 1 ? 's' : ''} the saved cache in ${fate.savedIn} (RAM, up to the item memory) `
        + `until a reboot: remove it there (rm -rf ${fate.savedIn})` : '')));
  }
  return lines;
}

export function genericRoll(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const changed = templateChanges(o, live);
  const roll = changed.length === 0 ? [] : [line('pass', 'roll', objectId(o, input.defaultNamespace), `pods roll (${o.kind} RollingUpdate); changed: ${summarizeFields(changed)}`)];
  return [...roll, ...inPlaceSecretLines(input, o, live, changed.length > 0)];
}
