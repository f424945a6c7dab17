// memcached certificate reloader: a sidecar of every memcached pod with TLS, run by a stock Node.js image.
//
// memcached reads its certificate, key and CA at start only; its `refresh_certs` command makes it read them again
// (new connections get the new certificate, open ones keep their session). memcached cannot watch files and its
// image has no TLS client, so this sidecar does it: every RELOADER_INTERVAL_MS it hashes the three mounted files
// (TLS_CERT, TLS_KEY, TLS_CA); when the kubelet has swapped in a renewed Secret, it opens a TLS connection to
// memcached (verifying it with the CA; presenting the mounted certificate, which memcached asks for only when it
// verifies clients) and sends `refresh_certs`. memcached answers `OK`, or an error and keeps the old files (e.g. a
// key that does not match its certificate): retried at the next pass. After `OK` one more connection checks that
// memcached presents the new certificate; only then is the change recorded. The first pass refreshes once, in case
// the files changed between memcached's start and the sidecar's. Writes RELOADER_HEARTBEAT at every pass for the
// liveness probe. No capability, no write access to anything but the heartbeat; the files are only read.
//
// Env: MEMCACHED_HOST, MEMCACHED_PORT (where memcached listens), MEMCACHED_SERVER_NAME (the DNS name its certificate
// covers, when the host is a pod IP; otherwise the host itself is verified), TLS_CERT, TLS_KEY, TLS_CA,
// TLS_CLIENT_CERTIFICATE, RELOADER_INTERVAL_MS (5000), RELOADER_HEARTBEAT (optional).
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const net = require('net');
const tls = require('tls');

const host = process.env.MEMCACHED_HOST;
const port = Number(process.env.MEMCACHED_PORT || '11211');
const serverName = process.env.MEMCACHED_SERVER_NAME || host;
const files = { cert: process.env.TLS_CERT, key: process.env.TLS_KEY, ca: process.env.TLS_CA };
const clientCertificate = process.env.TLS_CLIENT_CERTIFICATE === 'true';
const intervalMs = Number(process.env.RELOADER_INTERVAL_MS || '5000');
const heartbeat = process.env.RELOADER_HEARTBEAT;
const TIMEOUT_MS = 10000;

function log(message) {
  console.log(`${new Date().toISOString()} ${message}`);
}

/** The three files, read once (a pass uses one consistent read), or undefined if one cannot be read. */
function readFiles() {
  try {
    return { cert: fs.readFileSync(files.cert), key: fs.readFileSync(files.key), ca: fs.readFileSync(files.ca) };
  } catch (error) {
    log(`cannot read the certificate files: ${error.message}`);
    return undefined;
  }
}

function digest(material) {
  return crypto.createHash('sha256').update(material.cert).update(material.key).update(material.ca).digest('hex');
}

/**
 * One TLS connection to memcached: sends `command` (if any), resolves with the presented certificate (DER) and the
 * first line of the answer.
 */
function exchange(material, command) {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host, port, ca: material.ca, minVersion: 'TLSv1.2',
      ...(clientCertificate ? { cert: material.cert, key: material.key } : {}),
      // SNI must not be an IP (RFC 6066); the identity check still compares the host (an IP SAN) then.
      ...(net.isIP(serverName) ? {} : { servername: serverName }),
      checkServerIdentity: (_, certificate) => tls.checkServerIdentity(serverName, certificate),
    });
    let answer = '';
    socket.setTimeout(TIMEOUT_MS, () => socket.destroy(new Error(`no answer from ${host}:${port} within ${TIMEOUT_MS} ms`)));
    socket.on('error', reject);
    socket.on('secureConnect', () => {
      const presented = socket.getPeerCertificate().raw;
      if (!command) {
        socket.end();
        resolve({ presented, answer: '' });
        return;
      }
      socket.write(`${command}\r\n`);
      socket.on('data', (chunk) => {
        answer += chunk;
        const end = answer.indexOf('\r\n');
        if (end >= 0) {
          socket.end();
          resolve({ presented, answer: answer.slice(0, end) });
        }
      });
    });
  });
}

/** The certificates of a PEM bundle. */
function certificates(pem) {
  return (pem.toString('utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) || []).map((c) => new crypto.X509Certificate(c));
}

/** Why memcached must not be given these files, or undefined when they are usable. */
function unusable(material) {
  try {
    const [leaf, ...chain] = certificates(material.cert);
    if (!leaf) return 'the certificate file holds no certificate';
    if (!leaf.checkPrivateKey(crypto.createPrivateKey(material.key))) return 'the key does not match the certificate';
    const now = Date.now();
    if (now < Date.parse(leaf.validFrom) || now > Date.parse(leaf.validTo)) return `the certificate is not valid now (${leaf.validFrom} to ${leaf.validTo})`;
    const issuers = [...chain, ...certificates(material.ca)];
    if (!issuers.some((issuer) => leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey))) return 'the certificate is not signed by its chain or the CA bundle';
    return undefined;
  } catch (error) {
    return `the files cannot be parsed: ${error.message}`;
  }
}

/** The DER of the first certificate of a PEM chain. */
function leafDer(pem) {
  return new crypto.X509Certificate(pem).raw;
}

let applied;
let refused;

async function pass() {
  if (heartbeat) fs.writeFileSync(heartbeat, String(Date.now()));
  const material = readFiles();
  if (!material) return;
  const current = digest(material);
  if (current === applied) return;
  const problem = unusable(material);
  if (problem) {
    // Logged once per content; the next swap (a fixed Secret) is picked up as usual.
    if (current !== refused) log(`not applied (memcached keeps serving its current certificate): ${problem}`);
    refused = current;
    return;
  }
  try {
    const { answer } = await exchange(material, 'refresh_certs');
    if (answer !== 'OK') throw new Error(`memcached answered "${answer}" to refresh_certs`);
    const { presented } = await exchange(material);
    const expected = leafDer(material.cert);
    if (!presented.equals(expected)) throw new Error('memcached still presents another certificate after refresh_certs');
    applied = current;
    log(`memcached serves certificate serial ${new crypto.X509Certificate(material.cert).serialNumber}`);
  } catch (error) {
    log(`refresh failed, retrying in ${intervalMs} ms: ${error.message}`);
  }
}

async function loop() {
  for (;;) {
    await pass();
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

process.on('SIGTERM', () => process.exit(0));
loop();
