/**
 * `preflight`: checks a live cluster before the synthesized manifests are applied.
 *
 *   preflight --manifests manifests/ [--kubeconfig path] [--context name] [--topology file.json]
 *   preflight --plan --manifests manifests/ [--kubeconfig path] [--context name]
 *
 * With --plan it prints instead what the apply would change, in order, and exits 1 when a change is refused (plan.ts).
 *
 * Prints one line per check and exits 0 when none failed, 1 when one did, 2 when the checks could not run (bad
 * arguments, unreadable manifests or topology, no answer from the API server). The only module that does I/O and
 * the only one that uses @kubernetes/client-node (for the kubeconfig: contexts, certificates, tokens, exec and
 * auth-provider plugins); scripts/build-cli.js bundles it into one file, so the package does not depend on it.
 */
import * as fs from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as path from 'path';
import * as os from 'os';
import { parseArgs } from 'util';
// The kubeconfig module alone: the package index would also pull in every generated API model (~1.5 MB).
import { KubeConfig } from '@kubernetes/client-node/dist/config.js';
import { exitCode, formatResult, runChecks, summary } from './checks';
import { ApiRequest, ApiResponse, readGaleraWriters, readLiveObjects, readRunningCredentials, takeSnapshot, warningTexts } from './cluster';
import { locateKubeconfig, noKubeconfigMessage } from './kubeconfig';
import { parseManifests } from './manifests';
import { formatPlanLine, planChanges, planSummary } from './plan';
import { parseTopology } from './topology';
import { KubeObject } from './types';

const USAGE = `usage: preflight --manifests <dir or file> [--kubeconfig <path>] [--context <name>] [--topology <file.json>]
       preflight --plan --manifests <dir or file> [--kubeconfig <path>] [--context <name>]

Checks a live cluster before applying the synthesized manifests: the Kubernetes version, nodes, placement,
taints, namespace Pod Security level, VIPs, referenced Secrets, a server-side dry run of every object, and
what the controllers would refuse that a dry run cannot show (the API-rules check).
With --plan: compares the manifests with the live objects and prints what the apply would change and in what
order (pods that roll, the Galera member that rolls last and the writer the members name, settings, versions,
member counts, credentials, Secrets changed in place since the pods started), and refuses the transitions that
are unsafe (a MariaDB downgrade or skipped series, an upgrade that would not roll the writer last, a skipped
RabbitMQ line, a shrink by a majority, a cluster-wide Galera setting or the Erlang cookie changed by a roll, an
Erlang cookie Secret changed in place under running brokers). It reads Secrets' metadata only, never their data.
Exit status: 0 no check failed (or nothing refused), 1 a check failed (or a change is refused), 2 the checks could not run.`;

/** Per request: a dry run of a large StatefulSet through a busy API server stays well below this. */
const REQUEST_TIMEOUT_MS = 30_000;

/** The objects of a manifest file, or of every *.yaml / *.yml file of a directory (sorted by name). */
function readManifests(location: string): KubeObject[] {
  let files: string[];
  try {
    files = fs.statSync(location).isDirectory()
      ? fs.readdirSync(location).filter((f) => /\.ya?ml$/.test(f)).sort().map((f) => path.join(location, f))
      : [location];
  } catch (e) {
    throw new Error(`cannot read --manifests ${location}: ${(e as Error).message}`);
  }
  if (files.length === 0) throw new Error(`--manifests ${location} has no .yaml file; run \`npm run synth\` first`);
  const objects = files.flatMap((f) => parseManifests(fs.readFileSync(f, 'utf8'), f));
  if (objects.length === 0) throw new Error(`--manifests ${location} holds no Kubernetes object`);
  return objects;
}

function loadKubeConfig(file: string | undefined, context: string | undefined): KubeConfig {
  const source = locateKubeconfig({
    flag: file, kubeconfigEnv: process.env.KUBECONFIG, serviceHost: process.env.KUBERNETES_SERVICE_HOST,
    home: os.homedir() || undefined, exists: (f) => fs.existsSync(f),
  });
  if (source.kind === 'none') throw new Error(noKubeconfigMessage(source.tried));
  const kc = new KubeConfig();
  if (source.kind === 'in-cluster') {
    kc.loadFromCluster();
  } else {
    for (const [i, f] of source.files.entries()) {
      try {
        if (i === 0) {
          kc.loadFromFile(f);
        } else {
          const more = new KubeConfig();
          more.loadFromFile(f);
          kc.mergeConfig(more, Boolean(kc.getCurrentContext())); // as kubectl: the first current-context set wins
        }
      } catch (e) {
        throw new Error(`cannot load the kubeconfig ${f} (from ${source.from}): ${(e as Error).message}`);
      }
    }
  }
  if (context) {
    if (!kc.getContextObject(context)) {
      throw new Error(`--context ${context} is not in the kubeconfig; it has: ${kc.getContexts().map((c) => c.name).join(', ') || 'no context'}`);
    }
    kc.setCurrentContext(context);
  }
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current cluster; pass --context');
  return kc;
}

/** Requests to the API server with the kubeconfig's transport and credentials (refreshed per request). */
function apiRequest(kc: KubeConfig, server: string): ApiRequest {
  const base = server.replace(/\/+$/, '');
  return async (method, urlPath, body, requestOptions) => {
    const url = new URL(base + urlPath);
    const timeoutMs = requestOptions?.timeoutMs ?? REQUEST_TIMEOUT_MS;
    const options: https.RequestOptions = {
      method,
      headers: { Accept: requestOptions?.accept ?? 'application/json', ...(body ? { 'Content-Type': body.contentType } : {}) },
    };
    await kc.applyToHTTPSOptions(options);
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise<ApiResponse>((resolve, reject) => {
      const req = transport.request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = JSON.parse(text); } catch { /* not JSON: keep the text for the message */ }
          resolve({ status: res.statusCode ?? 0, body: parsed, warnings: warningTexts(res.rawHeaders) });
        });
        res.on('error', reject);
      });
      req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
      req.on('error', (e) => reject(new Error(`${method} ${url.href}: ${e.message}`)));
      req.end(body?.text);
    });
  };
}

async function main(argv: string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: argv,
      options: {
        manifests: { type: 'string' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        topology: { type: 'string' },
        plan: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    throw new Error(`${(e as Error).message}\n${USAGE}`);
  }
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (!args.manifests) throw new Error(`--manifests is required\n${USAGE}`);
  const objects = readManifests(args.manifests);
  let topology;
  if (args.topology) {
    let text: string;
    try {
      text = fs.readFileSync(args.topology, 'utf8');
    } catch (e) {
      throw new Error(`cannot read --topology ${args.topology}: ${(e as Error).message}`);
    }
    topology = parseTopology(text, args.topology);
  }
  const kc = loadKubeConfig(args.kubeconfig, args.context);
  const server = kc.getCurrentCluster()!.server;
  const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
  const defaultNamespace = topology?.namespace ?? contextNamespace ?? 'default';
  if (args.plan) {
    process.stdout.write(`plan: ${objects.length} objects from ${args.manifests} against ${server} (context ${kc.getCurrentContext()})\n`);
    const request = apiRequest(kc, server);
    const live = await readLiveObjects(request, objects, defaultNamespace);
    const writers = await readGaleraWriters(request, objects, live, defaultNamespace);
    const { pods, secretWrites } = await readRunningCredentials(request, objects, live, defaultNamespace);
    const changes = planChanges({ objects, live, defaultNamespace, writers, pods, secretWrites });
    process.stdout.write(`${changes.map(formatPlanLine).join('\n')}\n${planSummary(changes)}\n`);
    return exitCode(changes);
  }
  process.stdout.write(`preflight: ${objects.length} objects from ${args.manifests} against ${server} (context ${kc.getCurrentContext()})\n`);

  const snapshot = await takeSnapshot(apiRequest(kc, server), objects, defaultNamespace);
  const results = runChecks({ objects, topology, defaultNamespace, snapshot });
  process.stdout.write(`${results.map(formatResult).join('\n')}\n${summary(results)}\n`);
  return exitCode(results);
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (e: Error) => {
    // Every error that stops the run before the checks names its cause (the file and every problem in it, the
    // request that got no answer), so the message alone is printed.
    process.stderr.write(`preflight: ${e.message}\n`);
    process.exitCode = 2;
  },
);
