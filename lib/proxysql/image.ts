/**
 * What the pinned ProxySQL image contains, as read from its build files, and therefore what the pod's scripts,
 * probes and preStop may run in it. A unit test (test/proxysql-image.test.ts) checks every command they run
 * against these lists, and that ProxySqlLayer.DEFAULT_IMAGE still names the tag verified here: bumping the image
 * means re-reading its build files and updating this file.
 *
 * `docker.io/proxysql/proxysql:2.7.3`, read from ProxySQL/docker-images at tag v2.7.3
 * (commit b6be1da9a37eec4ef0804b4fc9c9191a94094ef2), `proxysql-images/`. Which build the plain tag names is not
 * certain: that Makefile's build line tags BOTH `proxysql-centos` and `proxysql-debian` `proxysql/proxysql:${VERS}`
 * (and `${VERS}-${DIST}`); its default target builds them in `$(wildcard proxysql-*)` order, which GNU make >= 4.3
 * sorts, so the Debian build is pushed last and holds `2.7.3` if the release was pushed that way (commit 249b336,
 * 2025-11-10, later gave the plain tag to the Debian build only). Hence the list below holds for both builds.
 *
 * `proxysql-debian/Dockerfile`:
 * - base `FROM debian:12` (bookworm, not slim, not distroless). The official Debian image is a debootstrap
 *   `--variant=minbase` (debuerreotype/debuerreotype `scripts/debuerreotype-init`, commit da4bf94): Essential
 *   packages and their dependencies, among them bash 5.2 (`/bin/bash`, with `/dev/tcp` redirections) and coreutils
 *   (`sleep`), both `Essential: yes` in bookworm.
 * - `apt-get install default-mysql-client wget lsb-release gnupg apt-transport-https ca-certificates`, then
 *   `proxysql=2.7.3` from repo.proxysql.com. In bookworm default-mysql-client -> mariadb-client ->
 *   mariadb-client-core 10.11, which ships `/usr/bin/mariadb` (and `mysql` -> mariadb).
 * - The package (sysown/proxysql `docker/images/proxysql/deb-compliant/latest-package/ctl/proxysql.ctl`, the
 *   control file of the debian12 build in docker-compose.yml; identical at tag 2.7.2, commit d7529496, and at
 *   afaf6424): `/usr/bin/proxysql`, `/etc/proxysql.cnf` (mode 0640, root:proxysql), postinst
 *   `useradd -r -U ... -d /var/lib/proxysql proxysql` and `chown -R proxysql: /var/lib/proxysql`. Replayed with
 *   bookworm's useradd (passwd 1:4.13+dfsg1-1+deb12u1) on base-passwd's master files: uid and gid 999 (the same
 *   number as the pod's PROXYSQL_UID; nothing depends on it, the pod writes only to emptyDirs).
 * - Checked on this repository's Debian 12 host with the same packages (bash 5.2.15-2+b8, mariadb-client-core
 *   1:10.11.x): `/bin/bash` opens `/dev/tcp/HOST/PORT` (connects, and fails on a refused port); the client-core
 *   package ships `/usr/bin/mariadb`.
 * - No `USER` (the image runs as root unless told otherwise), no `ENTRYPOINT`, `CMD ["proxysql", "-f",
 *   "--idle-threads", "-D", "/var/lib/proxysql"]`. The pod sets `command`, so Kubernetes ignores that CMD and
 *   start.sh passes its own `-c` and `-D` (the datadir is the same path, an emptyDir here).
 *
 * `proxysql-centos/Dockerfile`: `FROM quay.io/centos/centos:stream9` (bash and coreutils' `sleep` in the base; its
 * package list was not read), `yum -y install mysql` (MySQL's client: `mysql`, no `mariadb`), `proxysql-2.7.3`
 * (`/usr/bin/proxysql`), the same CMD, no USER, no ENTRYPOINT.
 */
export const VERIFIED_PROXYSQL_IMAGE_TAG = '2.7.3';

/**
 * The programs outside bash's builtins that the proxysql container may run: those both builds of the tag have
 * (see above), each with what installs it. Everything else a script needs must be a bash builtin. The client is
 * deliberately absent: `mariadb` is only in the Debian build (`mysql` in both, but different clients).
 */
export const PROXYSQL_IMAGE_COMMANDS: Readonly<Record<string, string>> = {
  bash: 'Essential in debian:12 (bash 5.2, /bin/bash, /dev/tcp enabled); in the CentOS Stream 9 base',
  sleep: 'coreutils: Essential in debian:12; in the CentOS Stream 9 base',
  proxysql: '/usr/bin/proxysql, from the proxysql 2.7.3 package (deb or rpm)',
};

/**
 * The same for the admin sidecar, which runs GaleraPetSet's MariaDB image. MariaDB/mariadb-docker `11.4/Dockerfile`
 * (the stored versions are 11.4.0/11.4.1, commit 0c710468; the 11.4.7 file itself was not read): an Ubuntu base, then
 * `mariadb-server`, whose dependency mariadb-client ships `/usr/bin/mariadb`; its first step creates the `mysql`
 * user with `useradd -r` (999). The Galera containers already run bash, sleep and mariadb in that image.
 */
export const ADMIN_IMAGE_COMMANDS: Readonly<Record<string, string>> = {
  bash: 'bash, Essential in the Ubuntu base',
  sleep: 'coreutils, Essential in the Ubuntu base',
  mariadb: '/usr/bin/mariadb, mariadb-client (a dependency of mariadb-server)',
  // tls.sh and the tls-pair-check.sh it runs (with `tls` only): the renewal's checks and the move into the datadir.
  openssl: '/usr/bin/openssl, the openssl package: a dependency of ca-certificates, which the Dockerfile installs',
  mv: 'coreutils, Essential in the Ubuntu base',
  // credentials.sh: one hash of every password file per pass.
  sha256sum: 'coreutils, Essential in the Ubuntu base',
};
