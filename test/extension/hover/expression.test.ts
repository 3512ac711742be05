/** Expression extraction: names, attribute chains, literal subscripts; calls, operators and the rest refused. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { extractExpression } from '../../../extension/hover/expression';

/** the expression found with the cursor on the first occurrence of `at` (plus `offset` characters) */
function at(line: string, marker: string, offset = 0): string | undefined {
  const i = line.indexOf(marker);
  assert.ok(i >= 0, `${marker} not in ${line}`);
  return extractExpression(line, i + offset)?.text;
}

describe('extractExpression', () => {
  it('takes a plain name', () => {
    assert.equal(at('y = x + 1', 'x'), 'x');
    assert.equal(at('hidden_states', 'hidden', 3), 'hidden_states');
    assert.equal(extractExpression('foo', 3)?.text, 'foo', 'cursor just after the word');
  });

  it('takes an attribute chain up to the hovered part', () => {
    const line = 'out = layer.experts.w13_weight_scale_inv.shape';
    assert.equal(at(line, 'w13', 5), 'layer.experts.w13_weight_scale_inv');
    assert.equal(at(line, 'layer'), 'layer');
    assert.equal(at(line, 'experts'), 'layer.experts');
    assert.equal(at('a . b', 'b'), 'a.b', 'spaces around the dot are dropped');
  });

  it('takes literal subscripts and what follows them', () => {
    assert.equal(at('v = x[0]', '0'), 'x[0]');
    assert.equal(at('v = x[0]', ']'), 'x[0]');
    assert.equal(at('v = x[0]', '['), 'x[0]');
    assert.equal(at('d["k"].weight', 'weight'), 'd["k"].weight');
    assert.equal(at("d['k']", "'k'"), "d['k']");
    assert.equal(at('w[0, -1]', '-'), 'w[0, -1]');
    assert.equal(at('w[1][2]', '2'), 'w[1][2]');
    assert.equal(at('layers[3].mlp.experts', 'experts'), 'layers[3].mlp.experts');
    assert.equal(at('x[i]', 'i]'), 'i', 'a name inside a subscript is itself');
    assert.equal(at('x[i]', ']'), 'x[i]');
  });

  it('reports the leaf name used for classification and the range', () => {
    const line = '    s = layer.w13_weight_scale_inv  # scales';
    const e = extractExpression(line, line.indexOf('w13'))!;
    assert.equal(e.leafName, 'w13_weight_scale_inv');
    assert.equal(line.slice(e.start, e.end), 'layer.w13_weight_scale_inv');
    assert.equal(extractExpression('d["a1q_scale"]', 3)?.leafName, 'a1q_scale');
    assert.equal(extractExpression('x[0]', 2)?.leafName, '');
  });

  it('refuses calls, operators and other expressions with side effects', () => {
    assert.equal(at('f(x).y', 'y'), undefined, 'attribute of a call result');
    assert.equal(at('x[f(1)]', '1'), undefined, 'call inside a subscript');
    assert.equal(at('x[i + 1]', '1'), undefined, 'operator inside a subscript');
    assert.equal(at('x[1:3]', '1'), undefined, 'slice');
    assert.equal(at('x[::2]', '2'), undefined, 'slice');
    assert.equal(at('d[f"{k}"]', '{'), undefined, 'f-string');
    assert.equal(at('d[f"k"]', '"k"'), undefined, 'prefixed string');
    assert.equal(at('d["a\\"b"]', 'a'), undefined, 'escapes in the key');
    assert.equal(at('"abc".upper', 'upper'), undefined, 'attribute of a literal');
    assert.equal(at('(a).b', 'b'), undefined, 'attribute of a parenthesised expression');
    assert.equal(at('[1, 2][0]', '0'), undefined, 'subscript of a list literal');
    assert.equal(at('x[0x1]', '0x1'), undefined, 'non-decimal integer');
    assert.equal(at('a + b', '+'), undefined, 'operator');
    assert.equal(at('lambda: x', 'lambda'), undefined, 'keyword');
    assert.equal(at('import torch', 'import'), undefined, 'keyword');
    assert.equal(at('x = 1  # see w', 'w'), undefined, 'inside a comment');
    assert.equal(at('x[-y]', 'y'), 'y', 'the name alone is fine');
    assert.equal(at('x[-y]', ']'), undefined, 'negated name is an operator');
    assert.equal(at('x[0', '0'), undefined, 'unclosed bracket');
    assert.equal(at('x[]', ']'), undefined, 'empty subscript');
    assert.equal(at('x[0,]', ']'), undefined, 'trailing comma');
    assert.equal(extractExpression('', 0), undefined);
    assert.equal(extractExpression('x', 5), undefined);
  });

  it('refuses over-long chains', () => {
    const long = Array.from({ length: 40 }, (_, i) => `a${i}`).join('.');
    assert.equal(extractExpression(long, long.length - 1), undefined);
  });
});
