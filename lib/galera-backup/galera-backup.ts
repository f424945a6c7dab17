import { Chart, JsonPatch } from 'cdk8s';
import { Construct } from 'constructs';
import { configHash } from '../common/config-hash';
import { clientIngressPolicy, hostCidr } from '../common/network';
import { basePodSpec } from '../common/pod';
import { restrictedPodSecurityContext } from '../common/security';
import { selectorLabels, standardLabels } from '../common/labels';
import { Validator, isIpAddress } from '../common/validation';
import { k8s } from '../k8s';
import { GaleraPetSet } from '../galera/galera-petset';
import { GaleraMember } from '../galera/model';
import { MYSQL_UID } from '../galera/pod';
import { galeraBackupScripts } from './assets';
import { BACKUP_SIDECAR_PORT, GaleraBackupModel, resolveBackup } from './model';
import { GaleraBackupProps } from './props';
import { TlsMaterial } from '../tls/model';
import { TlsMount } from '../tls/pod';
import { BackupJobKind, backupJobPod, backupJobTlsMount, backupScriptsConfigMapName, backupSidecar } from './pod';
import { validateBackup } from './validation';

const COMPONENT = 'galera-backup';
const tcp = (port: number): k8s.NetworkPolicyPort => ({ protocol: 'TCP', port: k8s.IntOrString.fromNumber(port) });
/** Annotation on the members' pod template: the backup scripts' hash (a change rolls the sidecars). */
const BACKUP_HASH_ANNOTATION = 'openstack-ha.cdk8s.io/backup-hash';

/**
 * Scheduled physical backups of a GaleraPetSet with mariadb-backup (`--galera-info`), streamed and compressed to a
 * volume or an S3 bucket, from a Synced member that is not the writer (so the write path never waits on it).
 *
 * Every member's pod gets a `backup` sidecar (the MariaDB image, socat): it runs mariadb-backup on the member's
 * data in place, desyncing the member for the copy. A CronJob (concurrencyPolicy Forbid) asks every sidecar for
 * its state, picks the source, stores the stream with rclone, checks it end to end (sha256), writes the manifest
 * last and applies the retention. A second CronJob, the restore drill, restores the latest backup into a scratch
 * server and checks it every day; suspended CronJobs, one per member, are the restore's templates. See the README.
 *
 * With TLS on the GaleraPetSet, the member -> job stream is TLS: the sidecars present the members' certificate and
 * admit only the job's own client certificate (a cert-manager Certificate `<name>-client-tls` from the cluster's
 * `TlsCertificates`, or the user's Secret listed for this backup's `name`), which verifies the member's DNS name.
 */
export class GaleraBackup extends Construct {
  /** The stock rclone image, pinned: the job copies its static binary (S3 and local destinations alike). */
  public static readonly DEFAULT_RCLONE_IMAGE = 'docker.io/rclone/rclone:1.68.2';

  /** Base name of the objects. */
  public readonly name: string;
  /** The cron schedule. */
  public readonly schedule: string;
  /** Where backups go, as the scripts name it (`dest:<bucket>/<prefix>` or `dest:/backups/<prefix>`). */
  public readonly remote: string;
  /** Labels of the backup job's pods. */
  public readonly podSelector: Record<string, string>;
  /** The backup CronJob (escape hatch: every construct of this library names its workload `workload`). */
  public readonly workload: k8s.KubeCronJob;
  /** The restore drill's CronJob. */
  public readonly drill: k8s.KubeCronJob;
  /** The binary log archiver's CronJob (every minute), when `binlogArchive` is on. */
  public readonly binlogArchive?: k8s.KubeCronJob;
  /** Labels of the restore drill's pods (they reach no member). */
  public readonly drillPodSelector: Record<string, string>;
  /**
   * Whether the member -> job stream is TLS (the cluster has TLS): the sidecars present the members' certificate
   * and admit only the job's client certificate (`<name>-client-tls` with cert-manager).
   */
  public readonly tls: boolean;

  private readonly jobTls?: TlsMount;

  public constructor(scope: Construct, id: string, props: GaleraBackupProps) {
    super(scope, id);
    if (!(props.galera instanceof GaleraPetSet)) {
      const v = new Validator(`GaleraBackup '${id}'`);
      v.add('galera', props.galera === undefined ? undefined : typeof props.galera, 'must be the GaleraPetSet to back up');
      v.throwIfInvalid();
    }
    // The scripts' ConfigMap must be in the members' namespace: the sidecar mounts it.
    if (Chart.of(this).namespace !== Chart.of(props.galera).namespace) {
      throw new Error(`GaleraBackup '${id}' must be in the same chart namespace as GaleraPetSet '${props.galera.node.id}'`);
    }
    const model = resolveBackup(props, props.galera._model, GaleraBackup.DEFAULT_RCLONE_IMAGE);
    // With TLS on the cluster the stream is TLS too: the job's own client certificate, from the same source as the
    // members' (a cert-manager Certificate, or the user's Secret listed for this backup's name).
    let clientCertificate: TlsMaterial | undefined;
    const galera = props.galera;
    validateBackup(id, props, model, (v) => {
      clientCertificate = galera._tlsCertificates!._clientCertificateFor(this, {
        component: model.name, namespace: galera._model.namespace, clientName: model.tls!.clientName,
        purpose: `the backup job's certificate, which the members' backup sidecars require (GaleraPetSet '${galera.node.id}' has TLS)`,
      }, v);
    });
    this.tls = model.tls !== undefined;
    this.jobTls = clientCertificate && backupJobTlsMount(clientCertificate);
    this.name = model.name;
    this.schedule = model.schedule;
    this.remote = model.remote;
    const labels = standardLabels(model.name, COMPONENT);
    const selector = selectorLabels(model.name, COMPONENT);
    this.podSelector = selector;

    const scripts = galeraBackupScripts(this.tls);
    new k8s.KubeConfigMap(this, 'Scripts', { metadata: { name: backupScriptsConfigMapName(model), labels }, data: scripts });
    this.addSidecar(props.galera, model, configHash(scripts));
    this.workload = this.cronJob('Resource', 'backup', model.name, model.schedule, model, labels);
    const drillName = `${model.name}-drill`;
    const drillLabels = standardLabels(drillName, COMPONENT);
    this.drill = this.cronJob('Drill', 'drill', drillName, model.drillSchedule, model, drillLabels);
    this.drillPodSelector = selectorLabels(drillName, COMPONENT);
    if (model.binlogArchive) {
      props.galera._enableBinlog(model.binlogArchive.server);
      // The backup job's labels: the same NetworkPolicies let it ask the sidecars and reach the destination.
      this.binlogArchive = this.cronJob('Archive', 'archive', `${model.name}-binlog`, '* * * * *', model, labels);
    }
    this.restoreTemplates(model, labels);
    this.networkPolicies(props.galera, model, labels, selector);
    this.jobNetworkPolicy('DrillNetworkPolicy', drillName, model, drillLabels, this.drillPodSelector, []);
  }

  /** Adds the sidecar, its volumes (scripts, token) and the scripts' hash to the members' pod template. */
  private addSidecar(galera: GaleraPetSet, model: GaleraBackupModel, hash: string): void {
    const sidecar = backupSidecar(model);
    galera.workload.addJsonPatch(
      JsonPatch.add('/spec/template/spec/containers/-', sidecar.container),
      ...sidecar.volumes.map((volume) => JsonPatch.add('/spec/template/spec/volumes/-', volume)),
      JsonPatch.add(`/spec/template/metadata/annotations/${BACKUP_HASH_ANNOTATION.replace(/\//g, '~1')}`, hash),
    );
  }

  /**
   * The restore as templates, one per member, never scheduled (suspended): `kubectl create job --from=cronjob/...`.
   * Member 0's restores the backup named in the `<name>-restore` ConfigMap; the others' empty their volumes. Only
   * for claims (localVolume, storageClass): a hostPath member has no claim to mount and no fixed node.
   */
  private restoreTemplates(model: GaleraBackupModel, labels: Record<string, string>): void {
    if (model.galera.storage?.mode === 'hostPath') return;
    for (const member of model.galera.members) {
      this.cronJob(`Restore${member.ordinal}`, 'restore', `${model.name}-restore-${member.ordinal}`, '@yearly', model, labels, member);
    }
  }

  private cronJob(id: string, kind: BackupJobKind, name: string, schedule: string, model: GaleraBackupModel, labels: Record<string, string>,
    member?: GaleraMember): k8s.KubeCronJob {
    const pod = backupJobPod(model, kind, member, this.jobTls);
    return new k8s.KubeCronJob(this, id, {
      metadata: { name, labels },
      spec: {
        schedule,
        ...(kind === 'restore' ? { suspend: true } : {}),
        // One at a time: a second backup would desync a second member (or the same one twice); a second drill
        // would double the scratch space.
        concurrencyPolicy: 'Forbid',
        // A run missed by more than an hour (controller down) is skipped: the next one comes on schedule.
        startingDeadlineSeconds: kind === 'archive' ? 50 : 3600,
        successfulJobsHistoryLimit: 3,
        failedJobsHistoryLimit: 3,
        jobTemplate: {
          metadata: { labels },
          spec: {
            // One retry: the script removes a failed attempt's leftovers, and a failure stays visible. A restore
            // is never retried on its own: its refusal is the answer.
            backoffLimit: kind === 'restore' || kind === 'archive' ? 0 : 1,
            // The archiver's run ends within its minute (a pass that hangs must not hold the next one off for long).
            activeDeadlineSeconds: kind === 'archive' ? 300 : model.timeoutSeconds,
            template: {
              metadata: { labels },
              spec: {
                ...basePodSpec(),
                restartPolicy: 'Never',
                securityContext: restrictedPodSecurityContext(MYSQL_UID),
                initContainers: pod.initContainers,
                containers: pod.containers,
                volumes: pod.volumes,
              },
            },
          },
        },
      },
    });
  }

  /**
   * The members admit the job's pods on the sidecar port only; the job's pods may reach the sidecars, DNS, and (S3)
   * the endpoint's port: at its address when the endpoint is an IP address, at any address otherwise (a
   * NetworkPolicy cannot name a host). Nothing may connect to the job's pods.
   */
  private networkPolicies(galera: GaleraPetSet, model: GaleraBackupModel, labels: Record<string, string>, selector: Record<string, string>): void {
    clientIngressPolicy(this, 'MemberIngress', {
      name: `${model.name}-sidecar`, labels, selector: galera.podSelector, clients: [{ podLabels: selector }], ports: [BACKUP_SIDECAR_PORT],
    });
    this.jobNetworkPolicy('NetworkPolicy', model.name, model, labels, selector,
      [{ to: [{ podSelector: { matchLabels: galera.podSelector } }], ports: [tcp(BACKUP_SIDECAR_PORT)] }]);
  }

  /** A job's pods: no ingress; egress to `extra`, DNS and (S3) the endpoint's port. */
  private jobNetworkPolicy(id: string, name: string, model: GaleraBackupModel, labels: Record<string, string>,
    selector: Record<string, string>, extra: k8s.NetworkPolicyEgressRule[]): void {
    const egress: k8s.NetworkPolicyEgressRule[] = [
      ...extra,
      { ports: [{ protocol: 'UDP', port: k8s.IntOrString.fromNumber(53) }, tcp(53)] },
    ];
    const s3 = model.destination?.s3Options;
    if (s3) {
      const url = new URL(s3.endpoint);
      const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
      const host = url.hostname.replace(/^\[|\]$/g, '');
      egress.push({
        ...(isIpAddress(host) ? { to: [{ ipBlock: { cidr: hostCidr(host) } }] } : {}),
        ports: [tcp(port)],
      });
    }
    new k8s.KubeNetworkPolicy(this, id, {
      metadata: { name, labels },
      spec: { podSelector: { matchLabels: selector }, policyTypes: ['Ingress', 'Egress'], ingress: [], egress },
    });
  }
}
