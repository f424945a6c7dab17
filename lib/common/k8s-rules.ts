/**
 * Kubernetes' own rules for the values props put into objects, checked at construct time so that the user sees
 * the prop they wrote instead of an API server's 422 (or a pod stuck in InvalidImageName) at apply. The predicates
 * are the API-rules check's (plugins/k8s-api-rules, which the synth plugin, the test harness and the fake API
 * server also use): one copy of each rule.
 *
 * The relative path is the same from lib/common (ts-jest, tsx) and from dist/common (the published package, which
 * ships plugins/k8s-api-rules/index.js), so the compiled library resolves it too.
 */
import { predicates } from '../../plugins/k8s-api-rules';
import { Validator } from './validation';

export const isQualifiedName = (s: unknown): boolean => predicates.isQualifiedName(s);
export const isLabelValue = (s: unknown): boolean => predicates.isLabelValue(s);
export const isImageReference = (s: unknown): boolean => predicates.isImageReference(s);
export const isQuantity = (q: unknown): boolean => predicates.isQuantity(q);
export const isPortName = (s: unknown): boolean => predicates.isPortName(s);
export const isDns1035Label = (s: unknown): boolean => predicates.isDns1035Label(s);

/** An image the kubelet can pull (an invalid one is accepted by the API and leaves the pod in InvalidImageName). */
export function validateImage(v: Validator, prop: string, image: unknown): void {
  v.check(!isImageReference(image), prop, image,
    'is not an image reference the kubelet can pull; use [registry[:port]/]repository[:tag][@sha256:<64 hex digits>] ' +
    'with a lower-case repository and no white space, e.g. "docker.io/library/memcached:1.6.39"');
}

/** Every key and value of a label map (a NetworkPolicy selector, pod labels), by ValidateLabels' rules. */
export function validateLabels(v: Validator, prop: string, labels: Record<string, string> | undefined): void {
  if (labels === null || typeof labels !== 'object') {
    if (labels !== undefined) v.add(prop, labels, 'must be a map of label keys to values, e.g. {"application": "keystone"}');
    return;
  }
  for (const [key, value] of Object.entries(labels)) {
    v.check(!isQualifiedName(key), `${prop} key`, key,
      'is not a valid label key; use an optional DNS prefix and "/", then at most 63 letters, digits, "-", "_" or "." ' +
      'starting and ending with a letter or digit, e.g. "application"');
    v.check(!isLabelValue(value), `${prop}[${JSON.stringify(key)}]`, value,
      'is not a valid label value; use at most 63 letters, digits, "-", "_" or ".", starting and ending with a letter or digit');
  }
}

/** A PriorityClass name (a DNS-1123 subdomain; the API server refuses anything else). */
export function validatePriorityClassName(v: Validator, prop: string, name: unknown): void {
  v.check(!predicates.isDns1123Subdomain(name), prop, name,
    'is not a PriorityClass name; use a lower-case DNS-1123 subdomain of an existing class, e.g. "system-node-critical"');
}

/** A Service or container port name (IANA_SVC_NAME). */
export function validatePortName(v: Validator, prop: string, name: unknown): void {
  v.check(!isPortName(name), prop, name,
    'is not a valid port name; use 1-15 lower-case letters, digits and "-" with at least one letter, no "--" and no "-" at either end, e.g. "mysql-rw"');
}
