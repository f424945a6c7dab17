/**
 * The one module that imports the Kubernetes L1 classes. Every construct builds its objects from these
 * `Kube*` classes rather than from cdk8s-plus-25's L2 workloads: the L2 StatefulSet drops port names and cannot
 * express volumeClaimTemplates, `publishNotReadyAddresses` or capabilities, and the L2 objects add silent
 * defaults (resources, `imagePullPolicy: Always`) that would make our output depend on the plus version.
 * Moving to a newer cdk8s-plus (or to a committed `cdk8s import k8s@1.3x`) is a change to this file only.
 */
export { k8s } from 'cdk8s-plus-25';
