/**
 * A real Prometheus (Debian `prometheus`) for the monitoring end-to-end tests: started on a 127.0.19.x address with
 * the scrape config and rules taken from the synthesized PodMonitors and PrometheusRule, and read through its HTTP
 * API (alerts by state, instant queries).
 */
import { ChildProcess, spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { stringify } from 'yaml';
import { K8sObject, ofKind } from '../../support/harness';
import { durationSeconds, ruleFileOf } from '../../support/monitoring';

export type Alert = { labels: Record<string, string>; state: 'pending' | 'firing' };

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export class TestPrometheus {
  public readonly process: ChildProcess;

  /**
   * Starts Prometheus at `address` (host:port) with its files in `dir`: scrapes and rule evaluations every second,
   * every rule's `for` divided by `forScale`, and at least `minForSeconds`.
   */
  public constructor(private readonly address: string, dir: string, objects: K8sObject[], scrapeConfigs: unknown[], forScale: number, minForSeconds = 1) {
    fs.writeFileSync(path.join(dir, 'rules.yaml'), stringify(scaledRules(objects, forScale, minForSeconds)));
    fs.writeFileSync(path.join(dir, 'prometheus.yml'), stringify({
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: ['rules.yaml'],
      scrape_configs: scrapeConfigs,
    }));
    this.process = spawn('prometheus', [
      `--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=${address}`,
    ], { stdio: ['ignore', 'ignore', fs.openSync(path.join(dir, 'prometheus.log'), 'a')] });
  }

  /** Waits until Prometheus answers ready (it replays its TSDB first) and every one of `targets` scrape targets is up. */
  public async ready(targets: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const up = await this.query('up').catch(() => [] as any[]);
      if (up.length === targets && up.every((s) => s.value[1] === '1')) return;
      if (this.process.exitCode !== null) throw new Error(`prometheus exited with ${this.process.exitCode}`);
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${targets} targets up: ${JSON.stringify(up.map((s) => s.metric.instance))}`);
      await sleep(250);
    }
  }

  public async api(pathAndQuery: string): Promise<any> {
    const response = await fetch(`http://${this.address}${pathAndQuery}`, { signal: AbortSignal.timeout(5000) });
    const body = await response.json() as any;
    if (body.status !== 'success') throw new Error(`${pathAndQuery}: ${JSON.stringify(body)}`);
    return body.data;
  }

  /** Pending and firing alerts. */
  public async activeAlerts(): Promise<Alert[]> {
    return (await this.api('/api/v1/alerts')).alerts;
  }

  /** An instant query; throws on a parse error (HTTP 400). */
  public async query(expr: string): Promise<any[]> {
    return (await this.api(`/api/v1/query?query=${encodeURIComponent(expr)}`)).result;
  }

  public watch(): AlertWatch {
    return new AlertWatch(this);
  }

  /** SIGTERM, then SIGKILL after 5 s; resolves when it has exited. */
  public async stop(): Promise<void> {
    await stopProcess(this.process);
  }
}

/** Stops a process the test started: SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
export async function stopProcess(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** The synthesized rules, evaluated every second, with every `for` divided by `forScale` (at least `minForSeconds`). */
export function scaledRules(objects: K8sObject[], forScale: number, minForSeconds = 1): { groups: any[] } {
  return {
    groups: ruleFileOf(objects).groups.map((g) => ({
      ...g,
      interval: '1s',
      rules: g.rules.map((r: any) => ({ ...r, for: `${Math.max(minForSeconds, Math.round(durationSeconds(r.for) / forScale))}s` })),
    })),
  };
}

/**
 * The scrape config of the PodMonitors whose workload runs here (`pods`, by workload name): per endpoint, its job
 * (the relabeling), its path, its params and metric relabelings, and the selected pods' named container port at each
 * pod's address, with the labels prometheus-operator adds (namespace, pod).
 */
export function scrapeConfigs(objects: K8sObject[], pods: Record<string, Array<{ name: string; ip: string }>>): any[] {
  return ofKind(objects, 'PodMonitor').flatMap((monitor) => {
    const workload = objects.find((o) => ['StatefulSet', 'DaemonSet', 'Deployment'].includes(o.kind) &&
      Object.entries(monitor.spec.selector.matchLabels).every(([k, v]) => o.spec.template.metadata.labels[k] === v))!;
    const running = pods[workload.metadata.name];
    if (!running) return [];
    return monitor.spec.podMetricsEndpoints.map((e: any) => {
      const port = workload.spec.template.spec.containers.flatMap((c: any) => c.ports ?? []).find((p: any) => p.name === e.port).containerPort;
      return {
        job_name: e.relabelings.find((r: any) => r.targetLabel === 'job').replacement,
        metrics_path: e.path,
        ...(e.params ? { params: e.params } : {}),
        ...(e.metricRelabelings ? {
          metric_relabel_configs: e.metricRelabelings.map((r: any) => ({ action: r.action, source_labels: r.sourceLabels, regex: r.regex })),
        } : {}),
        static_configs: running.map((pod) => ({ targets: [`${pod.ip}:${port}`], labels: { namespace: monitor.metadata.namespace, pod: pod.name } })),
      };
    });
  });
}

/**
 * Every alert state seen by polling Prometheus every 250 ms: when each alert was first pending, first firing, and
 * last seen active.
 */
export class AlertWatch {
  public readonly seen = new Map<string, { pending?: number; firing?: number; lastActive?: number; labels?: Record<string, string> }>();
  private running = true;
  private readonly loop: Promise<void>;

  public constructor(prometheus: TestPrometheus) {
    this.loop = (async () => {
      while (this.running) {
        const now = Date.now();
        for (const a of await prometheus.activeAlerts().catch(() => [] as Alert[])) {
          const entry = this.seen.get(a.labels.alertname) ?? {};
          entry[a.state] ??= now;
          entry.lastActive = now;
          // The first active series' labels (which peer, queue, member): what a failure message needs.
          entry.labels ??= a.labels;
          this.seen.set(a.labels.alertname, entry);
        }
        await sleep(250);
      }
    })();
  }

  /** Waits until `alertname` went pending, then firing; returns both moments. */
  public async pendingThenFiring(alertname: string, timeoutMs: number): Promise<{ pending: number; firing: number }> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.seen.get(alertname);
      if (s?.pending !== undefined && s.firing !== undefined) return { pending: s.pending, firing: s.firing };
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${alertname} pending then firing; seen ${JSON.stringify([...this.seen])}`);
      await sleep(200);
    }
  }

  public async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  /** What was seen of `alertname`, its moments in seconds from `t0`, for a failure message (undefined: never active). */
  public describe(alertname: string, t0: number): { pendingS?: number; firingS?: number; lastActiveS?: number; labels?: Record<string, string> } | undefined {
    const s = this.seen.get(alertname);
    const rel = (t?: number) => (t === undefined ? undefined : (t - t0) / 1000);
    return s === undefined ? undefined : { pendingS: rel(s.pending), firingS: rel(s.firing), lastActiveS: rel(s.lastActive), labels: s.labels };
  }
}

/** Waits until none of `alertnames` is pending or firing. */
export async function resolved(prometheus: TestPrometheus, alertnames: string[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const active = (await prometheus.activeAlerts()).map((a) => a.labels.alertname);
    if (!alertnames.some((a) => active.includes(a))) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${alertnames.join(', ')} to resolve; active: ${active.join(', ')}`);
    await sleep(200);
  }
}
