/**
 * Reading the probe's answers: Python str reprs (as the debug adapter returns them), the marked stdout line, the
 * JSON checked field by field (malformed answers are E_FORMAT errors naming the field, never a wrong hover), and
 * the sample decoders for the dtypes the engine has no codec of its own for (float16, float8_e5m2).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { MoeError } from '../../../kernels/errors';
import {
  debugProbeExpression,
  findMarkedLine,
  notebookProbeCode,
  parseProbeJson,
  parsePythonStrRepr,
  pythonStr,
  toProbedTensor,
} from '../../../extension/hover/probeCode';
import { decodeE5M2, decodeF16, decodeSample } from '../../../extension/hover/sample';
import { layoutThumbnail } from '../../../extension/hover/thumbnail';

const WIRE = {
  library: 'numpy', type: 'numpy.ndarray', dtype: 'float32', item_bytes: 4, shape: [5, 2], strides: [1, 8], strides_bytes: [4, 32],
  storage: { bytes: 52, offset_bytes: 0 }, device: 'cpu', requires_grad: false,
  sample: { lead: [], rows: 1, cols: 2, hex: '0000803f00000040' }, sample_error: null,
  c_contiguous: false, f_contiguous: false, major: 'MN', tma_aligned: true,
};

function formatError(text: string, field: RegExp): void {
  assert.throws(() => parseProbeJson(text), (e: unknown) => e instanceof MoeError && e.code === 'E_FORMAT' && field.test(e.message));
}

describe('probe code and answers', () => {
  it('embeds source and expression as Python string literals', () => {
    assert.equal(pythonStr('a"b\\c\n\u00e9'), '"a\\"b\\\\c\\n\u00e9"');
    const e = debugProbeExpression('SRC', 'd["k"]');
    assert.equal(e, `(lambda n, g, l: (exec("SRC", n), n['_p']("d[\\"k\\"]", g, l))[1])({}, globals(), locals())`);
    assert.match(notebookProbeCode('SRC', 'x'), /n\['_emit'\]\(n\['_p'\]\("x", g, l\)\)/);
  });

  it('parses Python str reprs and refuses anything else', () => {
    assert.equal(parsePythonStrRepr(`'{"a": 1}'`), '{"a": 1}');
    assert.equal(parsePythonStrRepr(`"it's"`), "it's");
    assert.equal(parsePythonStrRepr(`'a\\\\u00e9\\'\\x41\\u00e9\\n'`), "a\\u00e9'A\u00e9\n");
    assert.equal(parsePythonStrRepr(`'{"a": 1...`), undefined, 'truncated');
    assert.equal(parsePythonStrRepr('None'), undefined);
    assert.equal(parsePythonStrRepr(`'a'b'`), undefined, 'unescaped quote inside');
    assert.equal(parsePythonStrRepr(`'\\q'`), undefined, 'unknown escape');
    assert.equal(parsePythonStrRepr(`'\\x4'`), undefined, 'short hex escape');
    assert.equal(parsePythonStrRepr(''), undefined);
  });

  it('finds the marked line in stdout', () => {
    assert.equal(findMarkedLine('noise\n\u001eMOE-PROBE {"x":1}\nmore'), '{"x":1}');
    assert.equal(findMarkedLine('\u001eMOE-PROBE null'), 'null');
    assert.equal(findMarkedLine('print output only\n'), undefined);
  });

  it('accepts a well-formed answer and converts it', () => {
    const t = toProbedTensor(parseProbeJson(JSON.stringify(WIRE))!, 'sf', 'debug');
    assert.deepEqual(t.sample?.values, [1, 2]);
    assert.equal(t.storageElems, 13);
    assert.equal(t.storageOffset, 0);
    assert.equal(parseProbeJson('null'), null);
  });

  it('rejects malformed answers with an error naming the field', () => {
    formatError('{not json', /expected JSON text/);
    formatError('[1]', /expected a JSON object or null/);
    formatError(JSON.stringify({ ...WIRE, library: 'jax' }), /library/);
    formatError(JSON.stringify({ ...WIRE, dtype: 3 }), /dtype as a string/);
    formatError(JSON.stringify({ ...WIRE, shape: [5, -2] }), /shape as a list of non-negative integers/);
    formatError(JSON.stringify({ ...WIRE, shape: [5, 2.5] }), /shape/);
    formatError(JSON.stringify({ ...WIRE, strides: [1] }), /strides as 2 integers or null/);
    formatError(JSON.stringify({ ...WIRE, strides_bytes: null }), /strides_bytes/);
    formatError(JSON.stringify({ ...WIRE, storage: { bytes: -1, offset_bytes: 0 } }), /storage/);
    formatError(JSON.stringify({ ...WIRE, major: 'row' }), /major/);
    formatError(JSON.stringify({ ...WIRE, tma_aligned: 'yes' }), /tma_aligned/);
    formatError(JSON.stringify({ ...WIRE, sample: { lead: [], rows: 100, cols: 100, hex: '' } }), /at most 4096 values/);
    formatError(JSON.stringify({ ...WIRE, sample: { rows: 1 } }), /sample as/);
  });

  it('keeps the metadata but drops a sample whose bytes do not fit its dtype', () => {
    const short = toProbedTensor(parseProbeJson(JSON.stringify({ ...WIRE, sample: { lead: [], rows: 1, cols: 2, hex: '0000803f' } }))!, 'x', 'debug');
    assert.equal(short.sample, null);
    assert.match(short.sampleNote!, /not decodable/);
    const odd = toProbedTensor(parseProbeJson(JSON.stringify({ ...WIRE, dtype: 'complex64', item_bytes: 8, sample: { lead: [], rows: 1, cols: 1, hex: '00'.repeat(8) } }))!, 'x', 'debug');
    assert.equal(odd.sample, null);
  });

  it('decodes float16 and float8_e5m2 exactly, and refuses bad hex', () => {
    assert.equal(decodeF16(0x3c00), 1);
    assert.equal(decodeF16(0xc000), -2);
    assert.equal(decodeF16(0x7bff), 65504);
    assert.equal(decodeF16(0x0001), 2 ** -24);
    assert.equal(decodeF16(0x7c00), Infinity);
    assert.ok(Number.isNaN(decodeF16(0x7e00)));
    assert.ok(Object.is(decodeF16(0x8000), -0));
    assert.equal(decodeE5M2(0x3c), 1);
    assert.equal(decodeE5M2(0x7b), 57344);
    assert.equal(decodeE5M2(0x7c), Infinity);
    assert.deepEqual(decodeSample('int16', 2, 'ffff0080', 2), [-1, -32768]);
    assert.deepEqual(decodeSample('uint64', 8, 'ffffffffffffffff', 1), [2 ** 64]);
    assert.deepEqual(decodeSample('half', 2, '003c', 1), [1], 'torch alias');
    assert.equal(decodeSample('float32', 4, 'zz00803f', 1), undefined);
    assert.equal(decodeSample('float32', 2, '0000', 1), undefined, 'item size disagrees with the dtype');
  });

  it('thumbnails of scalars, vectors and empty tensors', () => {
    assert.equal(layoutThumbnail([], []).cells, 1);
    assert.equal(layoutThumbnail([100], [1]).cells, 32);
    assert.equal(layoutThumbnail([0, 5], [5, 1]).cells, 0);
    assert.equal(layoutThumbnail([5, 2], null).padCells, 0, 'unknown strides: no padding claimed');
    const big = layoutThumbnail([130, 2], [1, 132]);
    assert.equal(big.cells, 12 * 2);
    assert.equal(big.padCells, 0, 'padding is past the clipped rows');
  });
});
