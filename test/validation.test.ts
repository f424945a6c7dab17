import { MemcachedPool, Placement } from '../lib';
import { show, Validator } from '../lib/common/validation';
import { errorOf, newChart } from './support/harness';

describe('Validator messages show the value the user passed', () => {
  test.each([
    [NaN, 'NaN'],
    [Infinity, 'Infinity'],
    [-Infinity, '-Infinity'],
    [undefined, '(not set)'],
    [null, 'null'],
    ['a"b', '"a\\"b"'],
    [1.5, '1.5'],
    [[1, NaN, undefined], '[1,NaN,undefined]'],
    [{ port: Infinity, name: 'x', gone: undefined }, '{"port":Infinity,"name":"x","gone":undefined}'],
  ])('%p is shown as %s (JSON would say null for the non-finite numbers)', (value, shown) => {
    expect(show(value)).toBe(shown);
    const v = new Validator('Thing \'t\'');
    v.add('prop', value, 'fix it');
    expect(v.errors).toEqual([`prop: ${shown} fix it`]);
  });

  test('through a construct: a NaN port is reported as NaN, not null', () => {
    const message = errorOf(() => new MemcachedPool(newChart('openstack'), 'mc', {
      placement: Placement.onNodes([{ name: 'ctl-1', ip: '10.0.0.11' }]),
      port: NaN,
    }));
    expect(message).toMatch(/- port: NaN is not a TCP port/);
    expect(message).not.toMatch(/null/);
  });
});
