import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseExpertParallel,
  parsePositiveInt,
  validateExpertParallel,
  validateMultipleOf128,
  validatePositiveInt,
  validateSkew,
  validateTopk,
} from '../../../extension/inspect/validate';

test('positive integers: accepted and refused', () => {
  assert.equal(parsePositiveInt(' 128 '), 128);
  for (const bad of ['', '0', '-3', '1.5', '1e3', 'abc', '12x', '99999999999999999999']) assert.equal(parsePositiveInt(bad), undefined, bad);
  assert.equal(validatePositiveInt('tokens', '32'), undefined);
  assert.match(validatePositiveInt('tokens', 'x')!, /tokens must be a positive integer, got "x"/);
  assert.match(validatePositiveInt('tokens', '70000', 65536)!, /at most 65536, got 70000/);
});

test('N and K must be multiples of 128', () => {
  assert.equal(validateMultipleOf128('hidden K', '7168'), undefined);
  assert.match(validateMultipleOf128('hidden K', '100')!, /hidden K must be a multiple of 128 .*got 100/);
  assert.match(validateMultipleOf128('intermediate N', '0')!, /positive integer/);
});

test('top-k at most the experts', () => {
  assert.equal(validateTopk('8', 128), undefined);
  assert.match(validateTopk('9', 8)!, /at most the number of experts \(8\), got 9/);
  assert.match(validateTopk('0', 8)!, /positive integer/);
});

test('expert parallel size/rank', () => {
  assert.deepEqual(parseExpertParallel(' 8 / 3 '), { size: 8, rank: 3 });
  assert.equal(parseExpertParallel('8'), undefined);
  assert.equal(validateExpertParallel('1/0', 128), undefined);
  assert.equal(validateExpertParallel('8/7', 128), undefined);
  assert.match(validateExpertParallel('8/8', 128)!, /rank must be in 0…7, got 8/);
  assert.match(validateExpertParallel('3/0', 128)!, /must divide the 128 experts, got 3/);
  assert.match(validateExpertParallel('0/0', 128)!, /at least 1/);
  assert.match(validateExpertParallel('eight', 128)!, /"size\/rank"/);
});

test('router skew', () => {
  assert.equal(validateSkew('0'), undefined);
  assert.equal(validateSkew('1.2'), undefined);
  assert.match(validateSkew('')!, /must be a number/);
  assert.match(validateSkew('NaN')!, /must be a number/);
  assert.match(validateSkew('-1')!, /between 0 and 4/);
});
