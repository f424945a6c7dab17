/**
 * Galera recovery agent: the sidecar entry point, bundled into one file (`scripts/build-agent.js` →
 * `assets/galera/agent.bundle.js`) and run by a stock `node:20` image from a ConfigMap. Node built-ins only.
 *
 * Contract (README.md in this folder has the details and the mariadb container's side):
 *
 * Environment
 *   POD_NAME                      required, `<statefulset>-<ordinal>` (downward API metadata.name)
 *   GALERA_CLUSTER_SIZE           required, the StatefulSet's replicas
 *   GALERA_PEER_URLS              required, comma-separated base URLs of every member's agent, one per ordinal
 *   GALERA_STATEFULSET            default: POD_NAME without `-<ordinal>`
 *   GALERA_AGENT_PORT             default 9200 (0: any free port, logged in the `listening` line)
 *   GALERA_AGENT_HOST             default: every address
 *   GALERA_RUN_DIR                default /run/galera (memory-backed emptyDir shared with the mariadb container)
 *   GALERA_OVERRIDE_FILE          default /etc/galera-recovery/bootstrap-from (optional ConfigMap key)
 *   GALERA_POLL_SECONDS           default 1      GALERA_PEER_TIMEOUT_SECONDS  default 1
 *   GALERA_WSREP_STALE_SECONDS    default 5      GALERA_BLOCK_AFTER_SECONDS   default 120
 *   GALERA_PC_RECOVERY_SECONDS    default 60     GALERA_WAIT_PRIMARY_SECONDS  default PC + 30
 *   GALERA_RESTART_RETRY_SECONDS  default 30
 *
 * Files in GALERA_RUN_DIR
 *   state.json       written by the mariadb container before mariadbd starts (LocalState, with a fresh stateId)
 *   wsrep.json       rewritten every second while mariadbd runs: {"running": bool, "wsrep": {status and variables}}
 *                    older than GALERA_WSREP_STALE_SECONDS (by mtime) means not running
 *   decision.json    written by the agent (atomically), once per stateId; the container deletes it before exec
 *   restart-request  written by the agent: stop mariadbd (SIGTERM, then SIGKILL), publish a new state.json, wait for a
 *                    decision; written again when the same state still runs GALERA_RESTART_RETRY_SECONDS later
 *   writer-claim     written by the agent: take the writer row over for this member (writer.ts)
 *
 * HTTP
 *   GET /state    this member's MemberReport (503 before state.json exists)
 *   GET /status   everything: self, peers and when they were seen, the decision, its inputs, the blocked reason
 *   GET /synced   200 only when Primary and Synced, else 503 (readiness)
 *   GET /writer   200 only on the member the replicated writer row names, while Primary and Synced (HAProxy)
 *   GET /metrics  Prometheus metrics: member state, entrypoint phase, decision, blocked, awaited peers (metrics.ts)
 *   GET /healthz  200 while the agent runs
 *
 * Logs: one JSON object per line on stdout (`event`: listening, decision, decision-written, restart-requested,
 * error, stopping).
 */
import { GaleraAgent, logJsonLine } from './agent';
import { configFromEnv } from './config';

async function main(): Promise<void> {
  let agent: GaleraAgent;
  try {
    agent = new GaleraAgent(configFromEnv(process.env));
  } catch (e) {
    logJsonLine('error', { error: (e as Error).message });
    process.exit(2);
  }
  const shutdown = (signal: string) => {
    logJsonLine('stopping', { signal });
    agent.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  await agent.start();
}

main().catch((e: Error) => {
  logJsonLine('error', { error: e.stack ?? String(e) });
  process.exit(1);
});
