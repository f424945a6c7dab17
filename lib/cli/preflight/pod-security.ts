/**
 * The Pod Security Standards level a pod needs: the strictest of restricted, baseline, privileged that admits it.
 * The rules are those of the Kubernetes PodSecurity admission (latest policy version): a pod that breaks a
 * baseline rule needs `privileged`; one that meets baseline but breaks a restricted rule needs `baseline`.
 */
import { Container, ObjectMeta, PodSpec, SecurityContext } from './types';

export type PodSecurityLevel = 'restricted' | 'baseline' | 'privileged';

/** Strictest first: a namespace enforcing level L admits every pod whose needed level is at or before L. */
export const LEVELS: readonly PodSecurityLevel[] = ['restricted', 'baseline', 'privileged'];

export function isLevel(value: string): value is PodSecurityLevel {
  return (LEVELS as readonly string[]).includes(value);
}

/** Whether a namespace enforcing `enforced` admits pods that need `needed`. */
export function admits(enforced: PodSecurityLevel, needed: PodSecurityLevel): boolean {
  return LEVELS.indexOf(needed) <= LEVELS.indexOf(enforced);
}

/** The level a pod needs and every rule that forces it (empty for restricted). */
export interface PodSecurityNeed {
  readonly level: PodSecurityLevel;
  readonly reasons: string[];
}

/** Capabilities baseline lets a container add (the container runtime's default set). */
const BASELINE_CAPABILITIES = new Set([
  'AUDIT_WRITE', 'CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID', 'KILL', 'MKNOD', 'NET_BIND_SERVICE', 'SETFCAP', 'SETGID',
  'SETPCAP', 'SETUID', 'SYS_CHROOT',
]);
const RESTRICTED_CAPABILITIES = new Set(['NET_BIND_SERVICE']);
const BASELINE_SELINUX_TYPES = new Set(['', 'container_t', 'container_init_t', 'container_kvm_t', 'container_engine_t']);
const SAFE_SYSCTLS = new Set([
  'kernel.shm_rmid_forced', 'net.ipv4.ip_local_port_range', 'net.ipv4.ip_unprivileged_port_start', 'net.ipv4.tcp_syncookies',
  'net.ipv4.ping_group_range', 'net.ipv4.ip_local_reserved_ports', 'net.ipv4.tcp_keepalive_time', 'net.ipv4.tcp_fin_timeout',
  'net.ipv4.tcp_keepalive_intvl', 'net.ipv4.tcp_keepalive_probes',
]);
const RESTRICTED_VOLUME_SOURCES = new Set(['configMap', 'csi', 'downwardAPI', 'emptyDir', 'ephemeral', 'persistentVolumeClaim', 'projected', 'secret']);
const APPARMOR_ANNOTATION = 'container.apparmor.security.beta.kubernetes.io/';

/** Without a capability prefix, as the PodSecurity admission compares them. */
const bare = (cap: string) => cap.toUpperCase().replace(/^CAP_/, '');

export function podSecurityNeed(pod: PodSpec, meta?: ObjectMeta): PodSecurityNeed {
  const containers = [...(pod.initContainers ?? []), ...pod.containers, ...(pod.ephemeralContainers ?? [])];
  const baseline = baselineViolations(pod, containers, meta);
  if (baseline.length > 0) return { level: 'privileged', reasons: baseline };
  const restricted = restrictedViolations(pod, containers);
  return restricted.length > 0 ? { level: 'baseline', reasons: restricted } : { level: 'restricted', reasons: [] };
}

function baselineViolations(pod: PodSpec, containers: Container[], meta: ObjectMeta | undefined): string[] {
  const v: string[] = [];
  for (const field of ['hostNetwork', 'hostPID', 'hostIPC'] as const) if (pod[field]) v.push(field);
  for (const vol of pod.volumes ?? []) if (vol.hostPath) v.push(`hostPath volume ${vol.name}`);
  const contexts: [string, SecurityContext | undefined][] = [['pod', pod.securityContext], ...containers.map((c): [string, SecurityContext | undefined] => [`container ${c.name}`, c.securityContext])];
  for (const [where, sc] of contexts) {
    if (!sc) continue;
    if (sc.privileged) v.push(`${where} privileged`);
    const added = (sc.capabilities?.add ?? []).filter((c) => !BASELINE_CAPABILITIES.has(bare(c)));
    if (added.length > 0) v.push(`${where} adds ${added.join(', ')}`);
    if (sc.seccompProfile?.type === 'Unconfined') v.push(`${where} seccomp Unconfined`);
    if (sc.appArmorProfile?.type === 'Unconfined') v.push(`${where} AppArmor Unconfined`);
    const se = sc.seLinuxOptions;
    if (se && (!BASELINE_SELINUX_TYPES.has(se.type ?? '') || se.user || se.role)) v.push(`${where} custom SELinux options`);
    if (sc.procMount !== undefined && sc.procMount !== 'Default') v.push(`${where} procMount ${sc.procMount}`);
    if (sc.windowsOptions?.hostProcess) v.push(`${where} Windows hostProcess`);
    const unsafe = (sc.sysctls ?? []).map((s) => s.name).filter((n) => !SAFE_SYSCTLS.has(n));
    if (unsafe.length > 0) v.push(`${where} sysctls ${unsafe.join(', ')}`);
  }
  for (const c of containers) {
    const hostPorts = (c.ports ?? []).map((p) => p.hostPort ?? 0).filter((p) => p !== 0);
    if (hostPorts.length > 0) v.push(`container ${c.name} hostPort ${hostPorts.join(', ')}`);
  }
  for (const [key, value] of Object.entries(meta?.annotations ?? {})) {
    if (key.startsWith(APPARMOR_ANNOTATION) && value !== 'runtime/default' && !value.startsWith('localhost/')) {
      v.push(`container ${key.slice(APPARMOR_ANNOTATION.length)} AppArmor ${value}`);
    }
  }
  return v;
}

function restrictedViolations(pod: PodSpec, containers: Container[]): string[] {
  const v: string[] = [];
  for (const vol of pod.volumes ?? []) {
    const source = Object.keys(vol).find((k) => k !== 'name');
    if (source !== undefined && !RESTRICTED_VOLUME_SOURCES.has(source)) v.push(`${source} volume ${vol.name}`);
  }
  const podSc = pod.securityContext ?? {};
  if (podSc.runAsUser === 0) v.push('pod runAsUser 0');
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const where = `container ${c.name}`;
    if (sc.allowPrivilegeEscalation !== false) v.push(`${where} allowPrivilegeEscalation not false`);
    if ((sc.runAsNonRoot ?? podSc.runAsNonRoot) !== true) v.push(`${where} runAsNonRoot not true`);
    if (sc.runAsUser === 0) v.push(`${where} runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSc.seccompProfile?.type;
    if (seccomp !== 'RuntimeDefault' && seccomp !== 'Localhost') v.push(`${where} seccomp not RuntimeDefault or Localhost`);
    if (!(sc.capabilities?.drop ?? []).some((d) => bare(d) === 'ALL')) v.push(`${where} does not drop ALL capabilities`);
    const added = (sc.capabilities?.add ?? []).filter((cap) => !RESTRICTED_CAPABILITIES.has(bare(cap)));
    if (added.length > 0) v.push(`${where} adds ${added.join(', ')}`);
  }
  return v;
}
