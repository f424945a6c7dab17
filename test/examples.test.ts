/**
 * Invariants over every example app: every object is schema-valid and meets the invariants, and the same
 * input gives the same bytes.
 */
import { App } from 'cdk8s';
import { EXAMPLES } from '../examples/control-plane';
import { expectValidManifests, newApp, synthApp } from './support/harness';

describe.each(Object.entries(EXAMPLES))('example %s', (_name, build) => {
  function objects() {
    const app: App = newApp();
    build(app);
    return synthApp(app);
  }

  test('every object is schema-valid and meets every invariant', () => {
    expectValidManifests(objects());
  });

  test('same input, same bytes', () => {
    expect(JSON.stringify(objects())).toBe(JSON.stringify(objects()));
  });

  test('metadata names are unique per kind and namespace', () => {
    const keys = objects().map((o) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });
});
