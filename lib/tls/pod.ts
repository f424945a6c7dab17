/**
 * How a component's certificate reaches its daemon, as plain data: a Secret volume (never a subPath mount, which
 * the kubelet never updates: a renewed certificate must appear in the running pod) with the three files under
 * fixed names, mounted read-only.
 */
import { k8s } from '../k8s';
import { TLS_FILES, TlsMaterial } from './model';

/** The paths a daemon's config names, inside the mount. */
export interface TlsPaths {
  readonly directory: string;
  readonly certificate: string;
  readonly privateKey: string;
  readonly ca: string;
}

/** A component's TLS volume and mount. */
export interface TlsMount {
  readonly volume: k8s.Volume;
  readonly mount: k8s.VolumeMount;
  readonly paths: TlsPaths;
}

/**
 * The private key is readable by the owner and the pod's fsGroup only (0440): the kubelet gives the files to
 * root and the fsGroup, and every daemon here runs as a non-root uid in that group. 0400 would lock them out; a
 * daemon that runs as root passes `keyMode: 0o400`. Certificates and CA are public (0444).
 */
export const TLS_KEY_MODE = 0o440;
export const TLS_PUBLIC_MODE = 0o444;

export function tlsMount(material: TlsMaterial, volumeName: string, directory: string, keyMode: number = TLS_KEY_MODE): TlsMount {
  return {
    volume: {
      name: volumeName,
      secret: {
        secretName: material.secretName,
        // Not optional: a pod without its certificate must not start (and serve in plaintext).
        items: [
          { key: material.certificateKey, path: TLS_FILES.certificate, mode: TLS_PUBLIC_MODE },
          { key: material.privateKeyKey, path: TLS_FILES.privateKey, mode: keyMode },
          { key: material.caKey, path: TLS_FILES.ca, mode: TLS_PUBLIC_MODE },
        ],
        defaultMode: TLS_PUBLIC_MODE,
      },
    },
    mount: { name: volumeName, mountPath: directory, readOnly: true },
    paths: tlsPaths(directory),
  };
}

export function tlsPaths(directory: string): TlsPaths {
  return {
    directory,
    certificate: `${directory}/${TLS_FILES.certificate}`,
    privateKey: `${directory}/${TLS_FILES.privateKey}`,
    ca: `${directory}/${TLS_FILES.ca}`,
  };
}
