/**
 * The plain data the preflight checks work on: Kubernetes objects as JSON (the synthesized manifests, and what the
 * API server returns), the topology the manifests were made for, and a snapshot of the cluster. Only the fields the
 * checks read are typed; everything else passes through untouched (the dry run sends the objects as they are).
 */

export interface ObjectMeta {
  readonly name: string;
  readonly namespace?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}

/** Any Kubernetes object. */
export interface KubeObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: ObjectMeta;
  readonly [field: string]: unknown;
}

export interface Taint {
  readonly key: string;
  readonly value?: string;
  readonly effect: string;
}

export interface Toleration {
  readonly key?: string;
  readonly operator?: string;
  readonly value?: string;
  readonly effect?: string;
}

export interface NodeSelectorRequirement {
  readonly key: string;
  readonly operator: string;
  readonly values?: string[];
}

export interface NodeSelectorTerm {
  readonly matchExpressions?: NodeSelectorRequirement[];
  readonly matchFields?: NodeSelectorRequirement[];
}

export interface NodeSelector {
  readonly nodeSelectorTerms: NodeSelectorTerm[];
}

export interface SecurityContext {
  readonly privileged?: boolean;
  readonly allowPrivilegeEscalation?: boolean;
  readonly runAsNonRoot?: boolean;
  readonly runAsUser?: number;
  readonly capabilities?: { readonly add?: string[]; readonly drop?: string[] };
  readonly seccompProfile?: { readonly type: string };
  readonly seLinuxOptions?: { readonly type?: string; readonly user?: string; readonly role?: string };
  readonly procMount?: string;
  readonly appArmorProfile?: { readonly type: string };
  readonly windowsOptions?: { readonly hostProcess?: boolean };
  readonly sysctls?: { readonly name: string; readonly value: string }[];
}

export interface EnvVar {
  readonly name: string;
  readonly valueFrom?: { readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean } };
}

export interface Container {
  readonly name: string;
  readonly env?: EnvVar[];
  readonly envFrom?: { readonly secretRef?: { readonly name: string; readonly optional?: boolean } }[];
  readonly ports?: { readonly containerPort: number; readonly hostPort?: number }[];
  readonly securityContext?: SecurityContext;
}

export interface KeyToPath {
  readonly key: string;
}

export interface Volume {
  readonly name: string;
  readonly hostPath?: { readonly path: string };
  readonly secret?: { readonly secretName?: string; readonly items?: KeyToPath[]; readonly optional?: boolean };
  readonly projected?: {
    readonly sources?: { readonly secret?: { readonly name: string; readonly items?: KeyToPath[]; readonly optional?: boolean } }[];
  };
  readonly [source: string]: unknown;
}

export interface PodAffinityTerm {
  readonly topologyKey: string;
}

export interface PodSpec {
  readonly containers: Container[];
  readonly initContainers?: Container[];
  readonly ephemeralContainers?: Container[];
  readonly volumes?: Volume[];
  readonly hostNetwork?: boolean;
  readonly hostPID?: boolean;
  readonly hostIPC?: boolean;
  readonly securityContext?: SecurityContext;
  readonly nodeSelector?: Record<string, string>;
  readonly affinity?: {
    readonly nodeAffinity?: { readonly requiredDuringSchedulingIgnoredDuringExecution?: NodeSelector };
    readonly podAntiAffinity?: { readonly requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] };
  };
  readonly tolerations?: Toleration[];
  readonly imagePullSecrets?: { readonly name: string }[];
}

/** A cluster node as `GET /api/v1/nodes` returns it. */
export interface Node {
  readonly metadata: ObjectMeta;
  readonly spec?: { readonly taints?: Taint[]; readonly unschedulable?: boolean };
  readonly status?: {
    readonly addresses?: { readonly type: string; readonly address: string }[];
    readonly conditions?: { readonly type: string; readonly status: string; readonly reason?: string; readonly message?: string }[];
  };
}

/** What the API server said about one object, name or collection. */
export type Lookup<T> =
  | { readonly state: 'found'; readonly value: T }
  | { readonly state: 'absent' }
  | { readonly state: 'error'; readonly message: string };

/** The result of the server-side dry run of one manifest object. */
export interface DryRunOutcome {
  /** `Kind namespace/name` (see `objectId`). */
  readonly object: string;
  readonly ok: boolean;
  /** The API server's message when it refused the object. */
  readonly message?: string;
  /**
   * What the API server warned about an accepted object: for example that its pods would violate the namespace's
   * Pod Security `warn` level (the controller would then fail to create them), or a deprecated API.
   */
  readonly warnings?: string[];
}

/**
 * What the checks need to know about the cluster. Secrets are reduced to their key names by the I/O layer: no
 * secret value is kept in memory longer than one response, and none reaches the checks.
 */
export interface ClusterSnapshot {
  /** The server's `gitVersion` from `GET /version`, e.g. `v1.33.1`. */
  readonly version: Lookup<string>;
  readonly nodes: Lookup<Node[]>;
  /** By namespace name. */
  readonly namespaces: Record<string, Lookup<ObjectMeta>>;
  /** By `namespace/name`: the key names of the Secret. */
  readonly secrets: Record<string, Lookup<string[]>>;
  readonly dryRuns: DryRunOutcome[];
}

/** One node the manifests were made for. */
export interface TopologyNode {
  readonly name: string;
  /** Unknown when the inventory is read from the manifests rather than a topology file. */
  readonly ip?: string;
  /** Labels the node must carry (for label placements). */
  readonly labels?: Record<string, string>;
}

/** A virtual IP that keepalived will hold. */
export interface TopologyVip {
  readonly address: string;
  readonly interface?: string;
}

/** The topology file: what the manifests assume about the cluster that the API cannot be asked for. */
export interface Topology {
  readonly namespace?: string;
  readonly nodes: TopologyNode[];
  readonly vips: TopologyVip[];
}

export type CheckStatus = 'pass' | 'warn' | 'fail';

/** One printed line: `FAIL  node ctl-2: not Ready (KubeletNotReady)`. */
export interface CheckResult {
  readonly status: CheckStatus;
  /** What kind of check: version, node, placement, taints, namespace, vip, secret, dry-run, api-rules. */
  readonly check: string;
  /** What was checked: a node, workload, namespace, address, Secret or object; empty for the check as a whole. */
  readonly subject: string;
  readonly message: string;
}

/** What the members say about the Galera writer (the replicated row galera_ha.writer), for one StatefulSet. */
export interface GaleraWriterReading {
  /** The pod the writer row names. */
  readonly member: string;
  /** The member whose agent answered (`GET /writer`), Primary and Synced, so its copy of the row is current. */
  readonly answeredBy: string;
}

/** A pod of a live workload, as the plan needs it: its Secret references and when its containers started. */
export interface LivePod {
  readonly name: string;
  readonly spec: PodSpec;
  /** Container name -> `status.containerStatuses[].state.running.startedAt` (RFC 3339), for running containers. */
  readonly startedAt: Readonly<Record<string, string>>;
}

/** When a Secret was last written, from its metadata alone: the plan never reads a Secret's data. */
export interface SecretWrite {
  readonly resourceVersion: string;
  /** The latest of `creationTimestamp` and every `managedFields[].time` (RFC 3339). */
  readonly lastWrite: string;
}
