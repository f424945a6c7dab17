'use strict';
/**
 * Schema validation of synthesized Kubernetes objects against the Kubernetes 1.33 OpenAPI schema
 * (kubernetes-models 4.x, precompiled ajv validators; works offline).
 *
 * Used twice, so that the tests and `cdk8s synth` apply the very same rules:
 * - as a local cdk8s validation plugin (cdk8s.yaml `validations`), which fails synth on a violation;
 * - by the test harness (test/support/harness.ts), on every object of every test chart and example.
 *
 * Beyond the schema it rejects API versions that Kubernetes 1.33 no longer serves (kubernetes-models keeps
 * removed beta groups, so its schema alone would accept e.g. policy/v1beta1).
 *
 * The custom resources the library emits (cert-manager's Certificate, prometheus-operator's PodMonitor and
 * PrometheusRule) are validated against their CRDs' own openAPIV3Schema, pinned in crds.json (scripts/import-crds.sh
 * writes it together with the typed imports in lib/imports, from the same CRD files), with ajv, which
 * kubernetes-models' validators use too.
 */

/** The API versions this library may emit, all GA and served by Kubernetes 1.25 through 1.33+. */
const SERVED_API_VERSIONS = new Set([
  'v1',
  'apps/v1',
  'batch/v1',
  'policy/v1',
  'networking.k8s.io/v1',
  'storage.k8s.io/v1',
  'rbac.authorization.k8s.io/v1',
  // Custom resources (validated against crds.json, not kubernetes-models): cert-manager's Certificate (opt-in TLS),
  // prometheus-operator's PodMonitor and PrometheusRule (opt-in monitoring).
  'cert-manager.io/v1',
  'monitoring.coreos.com/v1',
]);

let crdValidators;
/** ajv validators of the pinned CRD schemas, by `group/version/kind`, compiled on first use. */
function crdValidator(apiVersion, kind) {
  if (crdValidators === undefined) {
    const Ajv = require('ajv');
    // strict off: CRD schemas carry Kubernetes' x-kubernetes-* keywords, which are not JSON Schema. Their patterns
    // are Go regular expressions: a leading `(?i)` is Go's case-insensitive flag, which JavaScript writes as `i`.
    const goRegExp = (pattern, flags) => (pattern.startsWith('^(?i)')
      ? new RegExp(`^${pattern.slice(5)}`, `${flags}i`)
      : new RegExp(pattern, flags));
    const ajv = new Ajv({ strict: false, allErrors: true, code: { regExp: goRegExp } });
    const within = (bits) => ({ type: 'number', validate: (n) => Number.isInteger(n) && Math.abs(n) <= 2 ** (bits - 1) });
    ajv.addFormat('int32', within(32));
    ajv.addFormat('int64', within(64));
    // Only in `status`, which the library never writes.
    ajv.addFormat('date-time', true);
    const { kinds } = require('./crds.json');
    crdValidators = new Map(Object.entries(kinds).map(([key, schema]) => [key, ajv.compile(schema)]));
  }
  return crdValidators.get(`${apiVersion}/${kind}`);
}

/** The API versions whose kinds are custom resources, validated against the pinned CRD schemas in crds.json. */
const CUSTOM_RESOURCE_VERSIONS = new Set(['cert-manager.io/v1', 'monitoring.coreos.com/v1']);

/**
 * Problems with one object (empty when valid).
 * @param {any} obj a Kubernetes object as plain JSON
 * @returns {string[]}
 */
function validateObject(obj) {
  const id = `${obj && obj.kind}/${obj && obj.metadata && obj.metadata.name}`;
  if (!obj || typeof obj.apiVersion !== 'string' || typeof obj.kind !== 'string') {
    return [`${id}: not a Kubernetes object (apiVersion and kind are required)`];
  }
  if (!SERVED_API_VERSIONS.has(obj.apiVersion)) {
    return [`${id}: apiVersion ${obj.apiVersion} is not one this library may emit (${[...SERVED_API_VERSIONS].join(', ')})`];
  }
  if (CUSTOM_RESOURCE_VERSIONS.has(obj.apiVersion)) {
    const validate = crdValidator(obj.apiVersion, obj.kind);
    if (!validate) return [`${id}: no schema for ${obj.apiVersion} ${obj.kind}`];
    if (validate(obj)) return [];
    return validate.errors.map((e) => `${id}: ${e.instancePath || '/'} ${e.message}`);
  }
  let Model;
  try {
    Model = require(`kubernetes-models/${obj.apiVersion}`)[obj.kind];
  } catch {
    Model = undefined;
  }
  if (!Model) return [`${id}: no schema for ${obj.apiVersion} ${obj.kind}`];
  try {
    new Model(obj).validate();
    return [];
  } catch (err) {
    return [`${id}: ${err.message}`];
  }
}

/** The cdk8s CLI validation plugin. */
class K8sSchemaValidation {
  async validate(context) {
    let failed = false;
    for (const manifestPath of context.manifests) {
      for (const obj of context.parseManifest(manifestPath)) {
        if (!obj) continue;
        const problems = validateObject(obj);
        if (problems.length === 0) continue;
        failed = true;
        context.report.addViolation({
          ruleName: 'kubernetes-1.33-schema',
          recommendation: problems.join('\n'),
          fix: 'Fix the construct or props that produced this object; every object must be valid for the Kubernetes API.',
          violatingResources: [{ manifestPath, resourceName: `${obj.kind}/${obj.metadata && obj.metadata.name}`, locations: [] }],
        });
      }
    }
    context.report.submit(failed ? 'failure' : 'success');
  }
}

module.exports = { K8sSchemaValidation, validateObject, SERVED_API_VERSIONS };
