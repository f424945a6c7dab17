// HAProxy config reloader: a sidecar of every HAProxy pod, run by a stock Node.js image.
//
// `node reloader.js watch`: every RELOADER_INTERVAL_MS, hash the mounted haproxy.cfg; when the kubelet has swapped
// in a new ConfigMap version, send `reload` to the HAProxy master socket. The master starts new workers that take
// the listening sockets over (expose-fd listeners) while old workers finish their connections: no connection is
// refused and the VIP stays where it is. A config the new workers cannot load leaves the old workers serving; the
// hash is retried at the next change. Writes RELOADER_HEARTBEAT at every pass for the liveness probe.
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

function digest() {
  try {
    return crypto.createHash('sha256').update(fs.readFileSync(config)).digest('hex');
  } catch (error) {
    console.error(`cannot read ${config}: ${error.message}`);
    return undefined;
  }
}

/** Sends one command to the master CLI; resolves with its answer when the master closes the connection. */
function master(command) {
  return new Promise((resolve, reject) => {
    const connection = net.connect(socket);
    let answer = '';
    connection.setTimeout(10000, () => connection.destroy(new Error(`no answer to "${command}" within 10 s`)));
    connection.on('data', (chunk) => { answer += chunk; });
    connection.on('error', reject);
    connection.on('close', () => resolve(answer.trim()));
    // Half-close after the command: the master answers, then closes a non-interactive session.
    connection.end(`${command}\n`);
  });
}

async function watch() {
  let applied = digest();
  console.log(`watching ${config} (${applied ? applied.slice(0, 12) : 'unreadable'})`);
  for (;;) {
    fs.writeFileSync(heartbeat, `${Date.now()}\n`);
    const current = digest();
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
