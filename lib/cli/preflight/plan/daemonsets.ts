/**
 * The plan's lines for the host DaemonSets of the inventory (keepalived, memcached) when nodes join, move or leave,
 * and the generic roll of any other workload.
 */
import { memcachedCacheFate } from '../../../memcached/warm-restart';
import { objectId, objectNamespace } from '../manifests';
import { CheckResult, KubeObject } from '../types';
import { COMPONENT, DAY2, line, mountedConfigKeys, PlanInput, Spec, summarizeFields, templateChanges } from './common';
import { inPlaceSecretLines } from './secrets';

/** The nodes a pod template is pinned to by name (a placement's required node affinity), in inventory order. */
function templateNodes(o: KubeObject): string[] {
  const affinity = (o.spec as Spec | undefined)?.template?.spec?.affinity?.nodeAffinity as Spec | undefined;
  const terms = (affinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as Spec[] | undefined) ?? [];
  return terms.flatMap((t) => (t.matchFields as Spec[] | undefined) ?? [])
    .filter((f) => f.key === 'metadata.name').flatMap((f) => (f.values as string[] | undefined) ?? []);
}

/** The label a pod template is placed by (a placement's required node affinity on a label), as `key=value`. */
function templateLabel(o: KubeObject): string | undefined {
  const affinity = (o.spec as Spec | undefined)?.template?.spec?.affinity?.nodeAffinity as Spec | undefined;
  const terms = (affinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms as Spec[] | undefined) ?? [];
  const e = terms.length === 1 ? ((terms[0].matchExpressions as Spec[] | undefined) ?? [])[0] : undefined;
  return e?.operator === 'In' && (e.values as string[] | undefined)?.length === 1 ? `${e.key}=${e.values[0]}` : undefined;
}

const and = (nodes: string[]) => nodes.join(', ');

/**
 * Nodes that join or leave a keepalived VIP (a controller replaced, added or removed). Its nodes are the keys of its
 * ConfigMap (`<node>.conf`, one file per node), whatever the placement.
 * - Placed by a node label, the pod template names no node (keepalived/start.ts reads everything node-specific from
 *   the node's file), so no pod rolls: each node's keepalived reloads its new file live once the kubelet has swapped
 *   the ConfigMap volume, keeping its state and the VIP (measured: test/integration/vip-inventory.test.ts).
 * - Placed by node name, the template names the nodes and the apply rolls every node that stays: each restart of the
 *   holder moves the VIP, and a load balancer placed the same way rolls at the same time, independently, so that one
 *   node's keepalived may restart while another's HAProxy drains: nobody holds the VIP for up to 4.4 s (measured in
 *   replace-controller.test.ts and vip-inventory.test.ts). A WARN says so, with the label placement as the fix.
 * - A new node's keepalived does not bid for the VIP a peer holds until a peer sends it an advert (start.ts): it
 *   waits for the holder's reload (label) or roll (name). Before that script it took the VIP too: two holders for
 *   7.2-7.6 s (replace-controller.test.ts, REPLACE_NAIVE=1); with it, none (keepalived-join.test.ts).
 */
function vipMemberLines(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const keys = mountedConfigKeys(input, o, 'config');
  const nodesOf = (k: string[] | undefined) => (k ?? []).filter((x) => x.endsWith('.conf')).map((x) => x.slice(0, -'.conf'.length));
  const [from, to] = [nodesOf(keys.live), nodesOf(keys.next)];
  const added = to.filter((n) => !from.includes(n));
  const kept = to.filter((n) => from.includes(n));
  const removed = from.filter((n) => !to.includes(n));
  if (keys.live === undefined || kept.length === 0 || added.length + removed.length === 0) return [];
  const subject = objectId(o, input.defaultNamespace);
  const ns = objectNamespace(o, input.defaultNamespace);
  const rolls = templateChanges(o, live).length > 0;
  const one = added.length === 1;
  const s = kept.length === 1 ? 's' : '';
  const label = templateLabel(o);
  const change = [added.length > 0 ? `${and(added)} join${one ? 's' : ''} the VIP` : '', removed.length > 0 ? `${and(removed)} leave${removed.length === 1 ? 's' : ''} it` : '']
    .filter((x) => x !== '').join(', ');
  const waits = added.length === 0 ? '' : `; ${one ? 'its' : 'their'} keepalived does not bid for the VIP a peer holds until a peer sends ${one ? 'it' : 'them'} an advert `
    + `(once the holder ${rolls ? 'has rolled' : 'has reloaded its file'}; no taint needed), out of the election meanwhile (keepalived_vrrp_fault 1); a WARNING every 60 s in `
    + `${one ? 'its' : 'their'} log means the holder has not ${rolls ? `rolled (kubectl${ns ? ` -n ${ns}` : ''} rollout status daemonset/${o.metadata.name})` : 'reloaded (its log)'} `
    + `or IP protocol 112 does not reach ${one ? 'it' : 'them'}`;
  if (!rolls) {
    return [line('pass', 'members', subject, `${change}: no pod rolls (the pod template names no node): keepalived on ${and(kept)} reload${s} ${s ? 'its' : 'their'} new peer list `
      + `live once the kubelet has updated ${s ? 'its' : 'their'} ConfigMap volume (within about a minute; "changed: keepalived reloads it" in the log) and keep${s} `
      + `${s ? 'its' : 'their'} state and the VIP${waits}${added.length > 0 && label ? `; ${one ? 'its' : 'their'} pods start once ${one ? 'it carries' : 'they carry'} the label ${label}` : ''} `
      + `(${DAY2}: replacing a controller)`)];
  }
  const lb = input.objects.find((x) => x.kind === 'DaemonSet' && x.metadata.labels?.[COMPONENT] === 'haproxy'
    && objectNamespace(x, input.defaultNamespace) === ns && templateNodes(x).length > 0
    && rollsToo(input, x));
  return [
    ...(added.length > 0 ? [line('pass', 'members', subject, `${change}${waits} (${DAY2}: replacing a controller)`)] : []),
    line('warn', 'members', subject, `${and(kept)} restart${s} in the roll (the pod template names the nodes): each restart of the holder moves the VIP`
      + (lb ? `, and DaemonSet ${lb.metadata.name} (HAProxy, placed the same way) rolls at the same time, independently: while one node's keepalived restarts and another's `
        + 'HAProxy drains, no node may hold the VIP for seconds (up to 4.4 s measured)' : '')
      + '; place the VIP\'s DaemonSets by a node label (OpenStackControlPlane vip.nodeLabel, or Placement.onLabelledNodes with the nodes) and an inventory change '
      + `rolls neither: keepalived reloads its peers live (${DAY2}: replacing a controller)`),
  ];
}

function rollsToo(input: PlanInput, o: KubeObject): boolean {
  const l = input.live[objectId(o, input.defaultNamespace)];
  return l?.state === 'found' && templateChanges(o, l.value).length > 0;
}

/**
 * Nodes that join, move or leave a keepalived VIP (above) or a memcached pool (a controller replaced or added).
 * memcached is a DaemonSet pinned to the inventory by name, so the apply rolls every old pod (the node list is in the
 * template) and starts the new nodes' pods at once. The survivors keep their items through the roll with warm restart
 * (lib/memcached/warm-restart.ts; the line says when they do not and why). python-memcached (oslo.cache's
 * memcache_pool, keystonemiddleware) places a key by its hash modulo the number of servers, in list order, and the
 * list is the inventory's order: a node that stays but changes position sends most keys elsewhere, and services still
 * on the old list (until they roll) and those on the new one read and write different servers (one's invalidation
 * misses the other's copy) until the last service has rolled.
 */
export function joiningNodeLines(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const component = o.metadata.labels?.[COMPONENT];
  if (o.kind === 'DaemonSet' && component === 'keepalived') return vipMemberLines(input, o, live);
  if (o.kind !== 'DaemonSet' || component !== 'memcached') return [];
  const [from, to] = [templateNodes(live), templateNodes(o)];
  const added = to.filter((n) => !from.includes(n));
  const kept = to.filter((n) => from.includes(n));
  const removed = from.filter((n) => !to.includes(n));
  const subject = objectId(o, input.defaultNamespace);
  const fate = memcachedCacheFate((live.spec as Spec | undefined)?.template?.spec, (o.spec as Spec | undefined)?.template?.spec);
  if (kept.length === 0 || (added.length === 0 && removed.length === 0 && from.join() === to.join())) {
    // Any other roll of memcached (memory, TLS, image): what it does to each node's cache.
    if (templateChanges(o, live).length === 0) return [];
    return [line('pass', 'members', subject, `memcached restarts in the roll, one node at a time, and ${fate.kept ? 'keeps its items' : 'comes back empty'}: ${fate.reason}`)];
  }
  const lines: CheckResult[] = [];
  const moved = kept.filter((n) => from.indexOf(n) !== to.indexOf(n));
  if (moved.length > 0) {
    lines.push(line('warn', 'members', subject, `memcached servers ${from.join(', ')} -> ${to.join(', ')}: ${moved.join(', ')} change${moved.length === 1 ? 's' : ''} `
      + 'position in the server list, and python-memcached (oslo.cache, keystonemiddleware) places keys by position: most cached keys move, and '
      + 'services on the old and the new list use different servers for one key until every service has rolled; keep the nodes that stay in their '
      + `positions (a new node in the place of the one it replaces) (${DAY2}: replacing a controller)`));
  }
  const s = kept.length === 1 ? 's' : '';
  lines.push(line('pass', 'members', subject, `memcached on ${kept.join(', ')} restart${s} in the roll (the node list is in the pod template), one node at a time, `
    + (fate.kept ? `and keep${s} ${s ? 'its' : 'their'} items: ${fate.reason}` : `and come${s} back empty (${fate.reason}): cached tokens and oslo.cache entries are fetched again`)
    + `${added.length > 0 ? `; ${added.join(', ')} start${added.length === 1 ? 's' : ''} empty` : ''}; the services' memcache_servers change: roll them after`
    + (removed.length > 0 && fate.savedIn ? `; ${removed.join(', ')} keep${removed.length === 1 ? 's' : ''} the saved cache in ${fate.savedIn} (RAM, up to the item memory) `
      + `until a reboot: remove it there (rm -rf ${fate.savedIn})` : '')));
  return lines;
}

export function genericRoll(input: PlanInput, o: KubeObject, live: KubeObject): CheckResult[] {
  const changed = templateChanges(o, live);
  const roll = changed.length === 0 ? [] : [line('pass', 'roll', objectId(o, input.defaultNamespace), `pods roll (${o.kind} RollingUpdate); changed: ${summarizeFields(changed)}`)];
  return [...roll, ...inPlaceSecretLines(input, o, live, changed.length > 0)];
}
