import { readAssets } from '../common/assets';

/**
 * The certificate reloader sidecar's script (assets/memcached). It checks a renewed pair itself, in Node (`unusable`:
 * the key matches, valid now, signed by its chain or the CA), rather than with the shared bash + openssl check
 * (assets/common/tls-pair-check.sh) because neither image it could run in has the openssl CLI (read from their build
 * files, session 28): the reloader's default image, node:22.12.0-bookworm-slim (nodejs/docker-node
 * `22/bookworm-slim/Dockerfile`, the stored 22.1.0 version of that file), installs ca-certificates/curl/gnupg only to
 * fetch Node, then marks every package automatic, keeps only what binaries under /usr/local link against (Node bundles
 * OpenSSL: no libssl, no openssl) and purges the rest with `--auto-remove`, so openssl (pulled in by ca-certificates)
 * goes too; and `reloaderImage` may be any stock Node image, Alpine ones without bash. The memcached image
 * (docker-library/memcached `1/debian/Dockerfile`, stored at 1.6.25) does the same purge, keeping libssl3 for memcached
 * but not the CLI, and runs memcached as PID 1. The sidecar also needs a TLS client to send `refresh_certs`, which Node
 * has.
 */
export const CERT_RELOADER_SCRIPT = 'cert-reloader.js';

/** The reloader's files, by file name (the ConfigMap's data). */
export function memcachedReloaderScripts(): Record<string, string> {
  return readAssets('memcached', [CERT_RELOADER_SCRIPT]);
}
