/**
 * Invariants over every example app: every object is schema-valid, meets the API rules (with every namespaced
 * object in a namespace, as `cdk8s synth` requires) and the invariants, and the same input gives the same bytes.
 */
import { App } from 'cdk8s';
import { EXAMPLES } from '../examples';
import { expectValidManifests, newApp, synthApp } from './support/harness';

describe.each(Object.entries(EXAMPLES))('example %s', (_name, build) => {
  function objects() {
    const app: App = newApp();
    build(app);
    return synthApp(app);
  }

  test('every object is schema-valid and meets every API rule and invariant', () => {
    expectValidManifests(objects(), { requireNamespace: true });
  });

  test('same input, same bytes', () => {
    expect(JSON.stringify(objects())).toBe(JSON.stringify(objects()));
  });

  test('metadata names are unique per kind and namespace', () => {
    const keys = objects().map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
