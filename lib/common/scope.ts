import { ApiObject, Chart, JsonPatch } from 'cdk8s';
import { IConstruct } from 'constructs';

/**
 * Marks a cluster-scoped object (Namespace, PersistentVolume, StorageClass): cdk8s gives every object its chart's
 * namespace, but a cluster-scoped object has none, and `metadata.namespace` on it is at best ignored by the API
 * server and confuses tools that key objects by namespace. @internal
 */
export function clusterScoped(obj: IConstruct): void {
  if (Chart.of(obj).namespace) ApiObject.of(obj).addJsonPatch(JsonPatch.remove('/metadata/namespace'));
}
