import { Validator } from './validation';

/**
 * Directories of the node that a hostPath of this library must never be, be inside, or contain. The data-owner
 * init container chowns and chmods its directory, and a daemon writes under it as its own user: on one of these
 * that breaks the node (kubelet, container runtime, the OS) or exposes other tenants' data.
 *
 * - the OS itself: `/bin`, `/boot`, `/dev`, `/etc`, `/lib*`, `/proc`, `/sbin`, `/sys`, `/usr`, `/opt` (packages),
 *   `/snap`;
 * - run time and scratch space shared by everything, wiped at boot or by tmpfiles: `/run`, `/var/run`, `/tmp`,
 *   `/var/tmp`, `/var/lock`, `/var/cache`;
 * - users: `/root`, `/home`;
 * - Kubernetes and its runtimes: `/var/lib/kubelet` (pod volumes), `/var/lib/containerd`, `/var/lib/docker`,
 *   `/var/lib/cri-o` (`/var/lib/containers`), `/var/lib/etcd`, `/var/lib/cni`, `/etc/cni` and `/opt/cni`
 *   (under `/etc` and `/opt`);
 * - the package managers' and the system's state and logs: `/var/lib/dpkg`, `/var/lib/apt`, `/var/lib/rpm`,
 *   `/var/lib/dnf`, `/var/lib/systemd`, `/var/log`, `/var/spool`, `/var/mail`, `/lost+found`.
 *
 * A path that *contains* one of them (`/var`, `/var/lib`) is refused too: chowning it hands them over.
 */
export const SYSTEM_DIRECTORIES: readonly string[] = [
  '/bin', '/boot', '/dev', '/etc', '/lib', '/lib32', '/lib64', '/libx32', '/lost+found', '/opt', '/proc', '/root',
  '/home', '/run', '/sbin', '/snap', '/sys', '/tmp', '/usr',
  '/var/cache', '/var/lib/apt', '/var/lib/cni', '/var/lib/containerd', '/var/lib/containers', '/var/lib/cri-o',
  '/var/lib/dnf', '/var/lib/docker', '/var/lib/dpkg', '/var/lib/etcd', '/var/lib/kubelet', '/var/lib/rpm',
  '/var/lib/systemd', '/var/lock', '/var/log', '/var/mail', '/var/run', '/var/spool', '/var/tmp',
];

/** At most this many characters: far below PATH_MAX, and long enough for any real layout. */
const MAX_HOST_PATH = 1024;

/** `a` is `b` or inside it. */
function within(a: string, b: string): boolean {
  return a === b || a.startsWith(`${b}/`);
}

/** Whether two normalized absolute paths are the same directory or one contains the other. */
export function hostPathsOverlap(a: string, b: string): boolean {
  return within(a, b) || within(b, a);
}

/**
 * Every problem of a directory on the node that one workload of this library owns (a hostPath volume, a local
 * PersistentVolume's path): absolute and normalized (no `.` or `..` component, no `//`, no trailing `/`), of
 * plain characters (it is shown in shell commands and YAML), at least two components deep (a top-level directory
 * is shared by whatever else uses the node), and neither a system directory, inside one, nor containing one.
 * Two workloads of one app on one node must not share or nest their paths either: the app-wide check
 * (`registerAppChecks`) compares them.
 */
export function validateHostPath(v: Validator, prop: string, path: unknown): void {
  const fix = 'use a directory dedicated to this workload, e.g. "/var/lib/openstack-ha/<name>"';
  if (typeof path !== 'string' || path === '') {
    v.add(prop, path, `must be an absolute path; ${fix}`);
    return;
  }
  const parts = path.split('/').slice(1);
  if (!path.startsWith('/')) {
    v.add(prop, path, `is not absolute (a hostPath must start with "/"); ${fix}`);
  } else if (path.length > MAX_HOST_PATH || !/^[A-Za-z0-9._/+-]+$/.test(path)) {
    v.add(prop, path, `must be at most ${MAX_HOST_PATH} letters, digits, ".", "_", "+", "-" and "/"; ${fix}`);
  } else if (parts.some((x) => x === '' || x === '.' || x === '..')) {
    v.add(prop, path, `is not normalized (no "//", "." or ".." component, no trailing "/"); write it as ${JSON.stringify(normalize(path))}`);
  } else {
    const system = SYSTEM_DIRECTORIES.find((d) => hostPathsOverlap(path, d));
    if (system !== undefined) {
      v.add(prop, path, `${within(path, system) ? 'is inside' : 'contains'} the system directory ${system}, ` +
        `which the data-owner step would chown to the daemon; ${fix}`);
    } else if (parts.length < 2) {
      v.add(prop, path, `is a top-level directory, shared by everything on the node; ${fix}`);
    }
  }
}

/** The path with empty, `.` and `..` components resolved (for the message's suggestion only). */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return `/${out.join('/')}`;
}
