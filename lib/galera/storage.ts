
/** A `local` PersistentVolume per member, on a disk or directory that already exists on every node. */
export interface LocalVolumeStorageOptions {
  /** Absolute path of the disk's mount point (or a directory) on every node; it must exist. */
  readonly path: string;
  /** Capacity of each member's volume, as a Kubernetes quantity, e.g. `100Gi`. */
  readonly size: string;
  /**
   * Name of the no-provisioner StorageClass created for these volumes.
   *
   * @default - `<name>-local`
   */
  readonly storageClassName?: string;
}

/** A host directory on each node, with one sub-directory per member. */
export interface HostPathStorageOptions {
  /** Absolute path of the parent directory on every node; created if missing. */
  readonly path: string;
  /**
   * Space available under `path`, as a Kubernetes quantity, to check that gcache fits.
   *
   * @default - unknown: not checked
   */
  readonly size?: string;
}

/** A claim from a StorageClass that provisions volumes (network or cloud storage). */
export interface StorageClassStorageOptions {
  /** The existing StorageClass to claim from. */
  readonly storageClassName: string;
  /** Size of each member's claim, e.g. `100Gi`. */
  readonly size: string;
}

/** Where each Galera member keeps its data. */
export class GaleraStorage {
  /**
   * One `local` PersistentVolume per member, pinned to that member's node by node affinity and pre-bound to its
   * claim (`claimRef`), with a no-provisioner `WaitForFirstConsumer` StorageClass: member N always comes back on
   * the same node and disk. The recommended mode for bare metal. Needs the placement's inventory (member N runs
   * on node N) and a chart namespace (for the claim reference).
   */
  public static localVolume(options: LocalVolumeStorageOptions): GaleraStorage {
    return new GaleraStorage('localVolume', options.path, options.size, options.storageClassName);
  }

  /**
   * A host directory, `<path>/<pod name>` on whichever node the member runs. No PersistentVolume objects, but the
   * namespace must allow hostPath volumes (Pod Security `privileged`). A member scheduled on another node than
   * before finds an empty directory there: it joins by SST (an empty member is never a bootstrap source), so data
   * is safe but the transfer costs time; prefer `localVolume`.
   */
  public static hostPath(options: HostPathStorageOptions): GaleraStorage {
    return new GaleraStorage('hostPath', options.path, options.size, undefined);
  }

  /** Claims from a provisioning StorageClass (network storage): members may move between nodes with their data. */
  public static storageClass(options: StorageClassStorageOptions): GaleraStorage {
    return new GaleraStorage('storageClass', undefined, options.size, options.storageClassName);
  }

  private constructor(
    /** `localVolume`, `hostPath` or `storageClass`. */
    public readonly mode: string,
    /** The host path, for `localVolume` and `hostPath`. */
    public readonly path: string | undefined,
    /** The size of each member's volume, when known. */
    public readonly size: string | undefined,
    /** The StorageClass name, when given. */
    public readonly storageClassName: string | undefined,
  ) {}
}
