/**
 * Secrets changed in place under running pods: seen from their metadata (never their values), judged per use (a
 * password file that rotates live, an env var read at start, the Erlang cookie).
 */
import { objectId, objectNamespace, secretReferences, workloads } from '../manifests';
import { CheckResult, CheckStatus, KubeObject, LivePod } from '../types';
import { COMPONENT, line, PlanInput, RABBIT_ROTATION, secretRefsByUse, Spec } from './common';

/** Galera's monitor password file: its clients (ProxySQL's sidecars, the mysqld-exporter) follow it by themselves. */
export const MONITOR_FILE = 'GALERA_MONITOR_PASSWORD';
export const MONITOR_FOLLOWS = 'ProxySQL\'s credentials sidecars switch once every ONLINE member accepts it and each member\'s mysqld-exporter once its member does: '
  + 'no client to roll';

/**
 * Who follows a Galera credentials file once the members rotate it (the clause after the grace): the monitor's and the
 * SST password's clients follow by themselves, root has none but the operators, a user's clients must be rolled.
 */
export function galeraFileFollows(use: string): string {
  const file = /^volume credentials file (\S+)$/.exec(use)?.[1];
  if (file === MONITOR_FILE) return MONITOR_FOLLOWS;
  if (file === 'GALERA_SST_PASSWORD') {
    return 'each member\'s mariadbd donates with it once its account accepts it (SET GLOBAL wsrep_sst_auth, no restart), and GaleraBackup\'s sidecars and '
      + 'jobs read it as their token at every request (either password passes within the grace): no client to roll';
  }
  if (file === 'MARIADB_ROOT_PASSWORD') return 'nothing automated logs in as root (everything uses the unix socket): hand the new one to the operators within it';
  return 'roll the clients within it';
}

/**
 * Secret uses that only repeat a Galera credentials file's Secret for another container (the mysqld-exporter's copy of
 * the monitor's, GaleraBackup's of the SST password's): that file's line covers them.
 */
export function galeraCopyOfCredentials(use: string): boolean {
  return /^volume (exporter-credentials|backup-token) /.test(use);
}

/** What a Secret changed in place means for each use the plan knows, and what to do. */
function inPlaceVerdict(component: string | undefined, use: string, rolls: boolean, stopped: boolean, restart: string): { status: CheckStatus; message: string } | undefined {
  if (component === 'galera' && use.startsWith('volume credentials')) {
    return { status: 'pass', message: 'rotates live: the kubelet updates the file within about a minute and each member applies it (ALTER USER), keeping the old '
      + `password for passwordRotationGraceMinutes; ${galeraFileFollows(use)} (README, "Day 2: rotating a database password")` };
  }
  if (component === 'rabbitmq' && use.startsWith('volume credentials')) {
    return { status: 'pass', message: `rotates live: the kubelet updates the file within about a minute and the first broker to see it changes the password for the `
      + 'whole cluster (rabbitmqctl change_password, no restart); RabbitMQ has no dual passwords: connections already open stay open, new ones with the old password '
      + `are refused, so this should be an account no client uses (README, "${RABBIT_ROTATION}")` };
  }
  if (component === 'proxysql' && use.startsWith('volume credentials')) {
    return { status: 'pass', message: 'rotates live: the kubelet updates the file within about a minute and the credentials sidecar loads it into ProxySQL '
      + '(LOAD MYSQL USERS or VARIABLES TO RUNTIME, no restart) once every ONLINE Galera member accepts it (the monitor\'s too: the members rotate it live); '
      + 'ProxySQL has one password per user: clients still on the old one are refused from then on, so this should be an account no client uses '
      + '(README, "Day 2: rotating a database password")' };
  }
  if (component === 'rabbitmq' && use.startsWith('volume cookie')) {
    return stopped
      ? { status: 'pass', message: 'no broker runs: every broker starts with the new cookie' }
      : { status: 'fail', message: `the brokers copy the cookie when they start, so the next one to restart${rolls ? ' (this apply rolls them)' : ' (a crash, a reboot, a roll)'} `
        + 'comes back with a cookie the others do not have and cannot rejoin; put the old value back, or change the cookie by the full restart procedure now '
        + '(README, "Day 2: changing the Erlang cookie")' };
  }
  if (!use.startsWith('env ')) return undefined;
  const picked = rolls ? 'this apply rolls the pods, which picks it up' : `roll them to pick it up (${restart})`;
  if (component === 'rabbitmq') {
    return { status: 'warn', message: `the brokers read it when they start: ${picked}; RabbitMQ has no dual passwords: the first restarted broker sets the new one `
      + 'for the whole cluster, and clients still on the old one fail until they have the new one' };
  }
  if (component === 'galera') {
    return { status: 'warn', message: `the members read it when they start: ${picked}; the first restarted member starts the rotation, keeping the old password `
      + 'for passwordRotationGraceMinutes, so roll every member (and the clients) within it (README, "Day 2: rotating a database password")' };
  }
  return { status: 'warn', message: `the pods read it when they start: ${picked}${component === 'proxysql' ? ', within the Galera password\'s rotation grace' : ''}` };
}

/**
 * Secrets changed in place (same name and key) since the running containers that use them started: the Secret's last
 * write (its metadata: creation and managedFields times) is later than the container's start. Their values are never
 * read, so "changed" means written: a write that kept the value reads the same. Only a reference the manifests keep is
 * judged (a new reference is the credentials line's business).
 */
export function inPlaceSecretLines(input: PlanInput, o: KubeObject, live: KubeObject, rolls: boolean): CheckResult[] {
  const subject = objectId(o, input.defaultNamespace);
  const pods = input.pods?.[subject];
  if (pods?.state === 'error') return [line('warn', 'secret', subject, `cannot list the pods (${pods.message}): Secrets changed in place since they started are not checked`)];
  if (!input.secretWrites || pods?.state !== 'found') return [];
  const component = o.metadata.labels?.[COMPONENT];
  const namespace = objectNamespace(o, input.defaultNamespace) ?? input.defaultNamespace;
  const next = secretRefsByUse(o, input.defaultNamespace);
  const stopped = o.kind === 'DaemonSet' && Number((live.status as Spec | undefined)?.currentNumberScheduled ?? 1) === 0;
  const stale = new Map<string, { secret: string; key: string; pods: string[]; written: string; version: string }>();
  const unreadable = new Set<string>();
  for (const pod of pods.value) {
    for (const ref of secretReferences(workloads([{ apiVersion: 'v1', kind: 'Pod', metadata: { name: pod.name, namespace }, spec: pod.spec }], namespace))) {
      const use = ref.from.slice(`Pod ${pod.name} `.length);
      const described = `Secret ${ref.name}${ref.key ? ` key ${ref.key}` : ''}`;
      if (next.get(use) !== described) continue;
      const write = input.secretWrites[`${ref.namespace}/${ref.name}`];
      if (write?.state === 'error') unreadable.add(`Secret ${ref.name} (${write.message})`);
      if (write?.state !== 'found') continue;
      const started = consumerStarts(pod, use);
      if (started.length === 0 || !started.some((t) => Date.parse(write.value.lastWrite) > Date.parse(t))) continue;
      const entry = stale.get(use) ?? { secret: ref.name, key: ref.key ?? '', pods: [], written: write.value.lastWrite, version: write.value.resourceVersion };
      entry.pods.push(pod.name);
      stale.set(use, entry);
    }
  }
  const restart = `kubectl -n ${namespace} rollout restart ${o.kind.toLowerCase()}/${o.metadata.name}`;
  const lines: CheckResult[] = unreadable.size === 0 ? []
    : [line('warn', 'secret', subject, `cannot read the metadata of ${[...unreadable].join(', ')}: whether it changed in place is not checked`)];
  for (const [use, s] of stale) {
    const verdict = inPlaceVerdict(component, use, rolls, stopped, restart);
    if (!verdict) continue;
    lines.push(line(verdict.status, 'secret', `${subject} ${use}`, `Secret ${s.secret}${s.key ? ` key ${s.key}` : ''} was written at ${s.written}`
      + `${s.version ? ` (resourceVersion ${s.version})` : ''}, after `
      + `${s.pods.sort().join(', ')} started (changed in place; its value is not read): ${verdict.message}`));
  }
  return lines;
}

/** When the containers of POD that consume USE (an env var of one container, or a volume they mount) started. */
function consumerStarts(pod: LivePod, use: string): string[] {
  const containers = [...(pod.spec.initContainers ?? []), ...pod.spec.containers] as Spec[];
  const env = /^env (\S+)$/.exec(use)?.[1];
  const volume = /^volume (\S+)/.exec(use)?.[1];
  const users = containers.filter((c) => (env !== undefined ? (c.env as Spec[] | undefined)?.some((e) => e.name === env)
    : volume !== undefined ? (c.volumeMounts as Spec[] | undefined)?.some((m) => m.name === volume) : false));
  return users.map((c) => pod.startedAt[c.name]).filter((t): t is string => t !== undefined);
}
