// HAProxy config reloader: a sidecar of every HAProxy pod, run by a stock Node.js image.
//
// `node reloader.js watch`: every RELOADER_INTERVAL_MS, hash the mounted haproxy.cfg; when the kubelet has swapped
// in a new ConfigMap version, send `reload` to the HAProxy master socket. The master starts new workers that take
// the listening sockets over (expose-fd listeners) while old workers finish their connections: no connection is
// refused and the VIP stays where it is. A config the new workers cannot load leaves the old workers serving; the
// hash is retried at the next change. Writes RELOADER_HEARTBEAT at every pass for the liveness probe.
//
// With TLS (HAPROXY_TLS_CERT/KEY, HAPROXY_TLS_CA when the backends are verified): every pass also hashes the
// certificate files; when the kubelet has swapped in a renewed Secret, the new certificate and key go to the running
// worker through its admin socket (`set ssl cert` + `commit ssl cert`, the CA by `set/commit ssl ca-file`). No reload:
// no new worker, no listener handover, no keep-alive connection closed; connections opened after the commit get the
// new certificate. HAProxy refuses a key that does not match the certificate (a pass that read the files across a
// swap): the transaction is aborted and retried at the next pass. The first pass pushes the files once, in case they
// changed between HAProxy's start and the reloader's. A reload or restart reads the same files from disk.
//
// `node reloader.js drain`: the preStop hook. Disables HAProxy's stats frontend, so its /healthz (keepalived's
// track check) fails and the VIP moves to another node before this HAProxy stops.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');

const config = process.env.HAPROXY_CONFIG;
const socket = process.env.HAPROXY_MASTER_SOCKET;
const heartbeat = process.env.RELOADER_HEARTBEAT;
const intervalMs = Number(process.env.RELOADER_INTERVAL_MS || '5000');
const adminSocket = process.env.HAPROXY_ADMIN_SOCKET;
const tlsCert = process.env.HAPROXY_TLS_CERT;
const tlsKey = process.env.HAPROXY_TLS_KEY;
const tlsCa = process.env.HAPROXY_TLS_CA;

function digest(...files) {
  try {
    const hash = crypto.createHash('sha256');
    for (const file of files) hash.update(fs.readFileSync(file));
    return hash.digest('hex');
  } catch (error) {
    console.error(`cannot read ${files.join(', ')}: ${error.message}`);
    return undefined;
  }
}

/** Sends one command to the master CLI; resolves with its answer when the master closes the connection. */
function master(command) {
  return cli(socket, command);
}

/** One command (with its payload, if any) on a HAProxy CLI socket; resolves with the answer. */
function cli(path, command) {
  return new Promise((resolve, reject) => {
    const connection = net.connect(path);
    let answer = '';
    connection.setTimeout(10000, () => connection.destroy(new Error(`no answer to "${command}" within 10 s`)));
    connection.on('data', (chunk) => { answer += chunk; });
    connection.on('error', reject);
    connection.on('close', () => resolve(answer.trim()));
    // Half-close after the command: the master answers, then closes a non-interactive session.
    connection.end(`${command}\n`);
  });
}

/**
 * Hands one file to the running worker in one transaction; throws unless HAProxy committed it. `kind` is `cert` (the
 * payload is the certificate followed by its key) or `ca-file`.
 */
async function pushTls(kind, target, payload) {
  // `<<` starts a multi-line payload, ended by an empty line (PEM has none).
  const set = await cli(adminSocket, `set ssl ${kind} ${target} <<\n${payload.trim()}\n`);
  if (!/Transaction (created|updated)/.test(set)) throw new Error(`set ssl ${kind}: ${set}`);
  const commit = await cli(adminSocket, `commit ssl ${kind} ${target}`);
  if (!/Success!/.test(commit)) {
    await cli(adminSocket, `abort ssl ${kind} ${target}`).catch(() => undefined);
    throw new Error(`commit ssl ${kind}: ${commit.replace(/\s+/g, ' ')}`);
  }
}

/** Pushes the mounted certificate (and CA) to HAProxy; the files are read once, here, as one version. */
async function reloadTls() {
  const certificate = fs.readFileSync(tlsCert, 'utf8');
  const key = fs.readFileSync(tlsKey, 'utf8');
  const ca = tlsCa ? fs.readFileSync(tlsCa, 'utf8') : undefined;
  if (ca !== undefined) await pushTls('ca-file', tlsCa, ca);
  await pushTls('cert', tlsCert, `${certificate.trim()}\n${key}`);
}

function tlsFiles() {
  return [tlsCert, tlsKey, ...(tlsCa ? [tlsCa] : [])];
}

async function watch() {
  let applied = digest(config);
  console.log(`watching ${config} (${applied ? applied.slice(0, 12) : 'unreadable'})${tlsCert ? ` and ${tlsFiles().join(', ')}` : ''}`);
  // undefined: push the certificate at the first pass (see the header).
  let appliedTls;
  for (;;) {
    fs.writeFileSync(heartbeat, `${Date.now()}\n`);
    if (tlsCert) {
      const currentTls = digest(...tlsFiles());
      if (currentTls && currentTls !== appliedTls) {
        try {
          await reloadTls();
          console.log(`certificate ${appliedTls ? 'renewed' : 'loaded'} (${currentTls.slice(0, 12)}): committed to the running worker`);
          appliedTls = currentTls;
        } catch (error) {
          console.error(`certificate update failed: ${error.message}; retrying`);
        }
      }
    }
    const current = digest(config);
    if (current && current !== applied) {
      console.log(`haproxy.cfg changed (${applied ? applied.slice(0, 12) : 'none'} -> ${current.slice(0, 12)}): reload`);
      try {
        const answer = await master('reload');
        if (answer) console.log(answer);
        applied = current;
      } catch (error) {
        console.error(`reload failed: ${error.message}; retrying`);
      }
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

async function drain() {
  const answer = await master('@1 disable frontend stats');
  console.log(`stats frontend disabled${answer ? `: ${answer}` : ''}`);
}

const mode = process.argv[2];
(mode === 'drain' ? drain() : watch()).catch((error) => {
  console.error(error.message);
  process.exit(1);
});
