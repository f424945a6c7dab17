import type { CapabilityGrant } from '../common/security';

/**
 * Plain data model of one keepalived VRRP virtual IP shared by an inventory of nodes. The `KeepalivedVip`
 * construct builds it from its props; the renderer and the validators below know nothing of cdk8s.
 */

/** One node of the inventory that may hold the VIP. */
export interface VrrpNode {
  /** Kubernetes node name: it selects this node's config file at container start (see `keepalivedConfigKey`). */
  readonly name: string;
  /** The node's own address on the VRRP interface: its unicast source, and a unicast peer of every other node. */
  readonly address: string;
  /**
   * 1..254, distinct per node. With every node BACKUP + nopreempt, priority only orders who takes over first
   * when the holder goes away; it never pulls the VIP back to a recovered node.
   */
  readonly priority: number;
  /** Interface carrying the VIP on this node, when it differs from the VIP's `interface`. */
  readonly interface?: string;
}

/** What the VIP serves, checked on each node: the node only bids for the VIP while this check passes. */
export interface VrrpTrackCheck {
  /** `tcp`: a TCP connect; `http`: a GET that must answer 2xx/3xx. */
  readonly kind: 'tcp' | 'http';
  /** Address the check connects to from the node (the proxy binds 0.0.0.0, so loopback reaches it). */
  readonly host: string;
  readonly port: number;
  /** HTTP path for `http` checks, e.g. `/healthz`. */
  readonly path?: string;
  /** Whole seconds between checks: keepalived 2.2.7 rounds `vrrp_script interval` to seconds. */
  readonly intervalSeconds: number;
  /** Whole seconds after which a running check counts as failed. */
  readonly timeoutSeconds: number;
  /** Consecutive successes before the node may bid for the VIP. */
  readonly rise: number;
  /** Consecutive failures before the node gives the VIP up. */
  readonly fall: number;
}

export interface KeepalivedVipModel {
  /** Short name of the VIP (`[A-Za-z0-9_-]`), used in the instance and script names, e.g. `api`. */
  readonly name: string;
  /** The virtual IP (v4 or v6), without prefix. */
  readonly address: string;
  /** Prefix length the VIP is added with, usually the interface subnet's. */
  readonly prefixLength: number;
  /** Interface carrying the VIP on every node unless the node says otherwise. */
  readonly interface: string;
  /** 1..255, unique among the VRRP routers of the layer-2 segment. */
  readonly virtualRouterId: number;
  /** VRRPv3 advertisement interval in seconds (0.01..40.95, 10 ms steps). */
  readonly advertIntervalSeconds: number;
  /** Every node that may hold the VIP (at least two). */
  readonly nodes: readonly VrrpNode[];
  readonly trackCheck: VrrpTrackCheck;
  /** The interface subnet in CIDR form (e.g. `10.0.0.0/24`), when known: the VIP and nodes must be in it. */
  readonly subnet?: string;
  /** keepalived writes its VRRP state as Prometheus text into KEEPALIVED_METRICS_DIR (a sidecar serves it). */
  readonly stateMetrics?: boolean;
}

/**
 * Default advert interval: 0.2 s. Measured here (real-daemon-findings.md): a silent death of the holder is seen
 * after ~3 adverts + skew, 0.3 s at 0.1 s and 2.8 s at 1 s. 0.2 s keeps that under a second while leaving a
 * 600 ms master-down window, i.e. six 100 ms CFS quota periods, so one throttled period or a short scheduling
 * stall on a busy controller does not trigger a false takeover as it could at 0.1 s. A failed track check costs
 * >= 1 s anyway (script interval is whole seconds), so a shorter advert would only speed up the rarer silent
 * node death.
 */
export const DEFAULT_ADVERT_INTERVAL_SECONDS = 0.2;

/**
 * Default priorities for `count` nodes, spread evenly over 254..2 (254, 128, 2 for three nodes). When the holder
 * gives the VIP up (priority-0 advert) or dies, each backup waits its skew, (256 - priority) / 256 x advert
 * interval; the gap between two backups' skews is the time the first new master's advert has to reach the next
 * backup before that one also takes over. Close priorities (150/140/130 gave 39 ms at a 1 s advert) let a busy
 * node miss it, and two nodes held the VIP for 79 ms in one of 20 measured handovers; spreading them widens it.
 */
export function spreadPriorities(count: number): number[] {
  if (count <= 1) return [254].slice(0, count);
  return Array.from({ length: count }, (_, i) => 254 - Math.round((i * 252) / (count - 1)));
}

/** Where the per-node config files are mounted, and where keepalived keeps its PID files. */
/**
 * Capabilities the keepalived container adds (drop ALL; it runs as uid 0, since Kubernetes gives added
 * capabilities to root processes only, but not privileged). Not needed: SETUID (scripts run as root), KILL,
 * NET_BROADCAST, SYS_MODULE (no IPVS).
 */
export const KEEPALIVED_CAPABILITIES: readonly CapabilityGrant[] = [
  { capability: 'NET_ADMIN', reason: 'adds and removes the VIP on the node interface' },
  { capability: 'NET_RAW', reason: 'raw sockets for VRRP (IP protocol 112) and gratuitous ARP' },
  {
    capability: 'SETGID',
    reason: 'keepalived 2.2.7 calls setgroups() before every track check, even as root; without it the check ' +
      'child fails and is counted as a success, so a node whose proxy is down takes the VIP (measured)',
  },
  { capability: 'SYS_NICE', reason: 'realtime scheduling so sub-second VRRP adverts are not missed under load' },
];

export const KEEPALIVED_CONFIG_DIR = '/etc/keepalived';
export const KEEPALIVED_RUN_DIR = '/run/keepalived';
/** Where keepalived's notify command writes `vrrp.prom` (in the run emptyDir, so it dies with the pod). */
export const KEEPALIVED_METRICS_DIR = `${KEEPALIVED_RUN_DIR}/metrics`;
/** The VRRP state exporter's port on the node (not node-exporter's 9100, which a node-exporter DaemonSet holds). */
export const KEEPALIVED_METRICS_PORT = 9650;
/** A stock node-exporter release; only its textfile collector runs. */
export const VRRP_STATE_EXPORTER_IMAGE = 'quay.io/prometheus/node-exporter:v1.8.2';
