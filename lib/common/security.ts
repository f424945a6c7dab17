import { k8s } from '../k8s';

/**
 * Security defaults. Every pod-network container meets Pod Security `restricted`: non-root, no privilege
 * escalation, every capability dropped, RuntimeDefault seccomp, read-only root filesystem (writable paths are
 * explicit emptyDirs). Host-level workloads (keepalived, host-network brokers) cannot meet `restricted`; they
 * ask for exactly the capabilities they need through `CapabilityGrant`s, each with the reason, which is also
 * written into a pod annotation so a reviewer reads the justification next to the YAML.
 */

/** One Linux capability a container adds, and why it needs it. */
export interface CapabilityGrant {
  /** Capability name without the CAP_ prefix, e.g. `NET_ADMIN`. */
  readonly capability: string;
  /** Why the workload cannot run without it. */
  readonly reason: string;
}

/** The pod-level context for a workload that runs as `uid` (and group `gid`, which also owns mounted volumes). */
export function restrictedPodSecurityContext(uid: number, gid: number = uid): k8s.PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    fsGroup: gid,
    fsGroupChangePolicy: 'OnRootMismatch',
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/**
 * The container-level context: `restricted` by default; with grants, every capability is still dropped and only
 * the granted ones are added back (the container stays unprivileged, with no privilege escalation).
 */
export function containerSecurityContext(grants: readonly CapabilityGrant[] = []): k8s.SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: {
      drop: ['ALL'],
      ...(grants.length > 0 ? { add: grants.map((g) => g.capability) } : {}),
    },
    seccompProfile: { type: 'RuntimeDefault' },
  };
}

/** The value of the capabilities annotation: `NET_ADMIN: reason; NET_RAW: reason`, in the order given. */
export function describeGrants(grants: readonly CapabilityGrant[]): string {
  return grants.map((g) => `${g.capability}: ${g.reason}`).join('; ');
}

/**
 * `containerSecurityContext(grants)` for a container that must run as root: Kubernetes gives added capabilities
 * to root processes only, and some host-level daemons need one (or need root's files). Still every capability
 * dropped but the grants, no privilege escalation, never privileged.
 */
export function rootContainerSecurityContext(grants: readonly CapabilityGrant[] = []): k8s.SecurityContext {
  return { ...containerSecurityContext(grants), runAsNonRoot: false, runAsUser: 0, runAsGroup: 0 };
}
