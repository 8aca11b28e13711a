// Tests lib/sluice.js in Node, without building a component: decodeBatch and
// BatchBuilder over the word layout of wit/types.wit, for the fields that the
// mask and filter examples never read or change (timestamps, partitions, topics,
// new headers), with words as componentize-qjs passes them (an Array in which
// words of 2^31 and more are negative) and as a Uint32Array.
//
//   node test/helper.mjs
//
// Prints "N passed, M failed" and exits non-zero on any failure.

import { register } from 'node:module';

// lib/sluice.js imports the host's log interface; here it goes nowhere.
const stub = 'data:text/javascript,export function emit() {}';
register('data:text/javascript,' + encodeURIComponent(
  `export async function resolve(specifier, context, next) {
     if (specifier === 'sluice:plugin/log@0.2.0') return { url: '${stub}', shortCircuit: true };
     return next(specifier, context);
   }`));
const { BatchBuilder, Record, decodeBatch, encodeBatch, reject, text, validateBatch } = await import('../lib/sluice.js');
const { readFileSync } = await import('node:fs');

const RECORD_WORDS = 12;
const HEADER_WORDS = 4;
const enc = new TextEncoder();
const dec = new TextDecoder();

let passed = 0;
let failed = 0;
function check(what, got, want) {
  const g = JSON.stringify(got, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
  const w = JSON.stringify(want, (_, v) => (typeof v === 'bigint' ? `${v}n` : v));
  if (g === w) passed++;
  else { failed++; console.log(`FAIL ${what}\n  got:  ${g}\n  want: ${w}`); }
}
function throws(what, f) {
  try { f(); failed++; console.log(`FAIL ${what}: no exception`); } catch (e) {
    if (e instanceof TypeError) passed++;
    else { failed++; console.log(`FAIL ${what}: ${e}`); }
  }
}

// Plain records: bytes as strings, absent fields omitted.
const plain = [
  { key: 'k', value: 'v', headers: [['a', '1']], timestamp: -1700000000123, topic: 'tópico', partition: -2147483648 },
  {},
  { key: '', value: '', headers: [['x', ''], ['y', 'z']], timestamp: 1700000000123, partition: 2147483647 },
];

/** A batch of `records` (plain), built here independently of the helper. */
function encode(records) {
  const parts = [];
  let size = 0;
  const append = (s) => { const b = enc.encode(s); parts.push(b); size += b.length; return [size - b.length, b.length]; };
  const words = new Uint32Array(records.length * RECORD_WORDS);
  const headers = [];
  records.forEach((r, i) => {
    const w = i * RECORD_WORDS;
    let flags = 0;
    if (r.key !== undefined) { flags |= 1; [words[w + 1], words[w + 2]] = append(r.key); }
    if (r.value !== undefined) { flags |= 2; [words[w + 3], words[w + 4]] = append(r.value); }
    words[w + 5] = headers.length / HEADER_WORDS;
    words[w + 6] = (r.headers ?? []).length;
    for (const [n, v] of r.headers ?? []) headers.push(...append(n), ...append(v));
    if (r.timestamp !== undefined) {
      flags |= 4;
      const u = BigInt.asUintN(64, BigInt(r.timestamp));
      words[w + 7] = Number(u & 0xffffffffn);
      words[w + 8] = Number(u >> 32n);
    }
    if (r.topic !== undefined) { flags |= 8; [words[w + 9], words[w + 10]] = append(r.topic); }
    if (r.partition !== undefined) { flags |= 16; words[w + 11] = r.partition; }
    words[w] = flags;
  });
  const arena = new Uint8Array(size);
  let pos = 0;
  for (const p of parts) { arena.set(p, pos); pos += p.length; }
  return { arena, records: words, headers: Uint32Array.from(headers) };
}

/** The plain records of `batch`, read here independently of the helper. */
function decode(batch) {
  const { arena, records: words, headers } = batch;
  const str = (o, l) => dec.decode(arena.subarray(o, o + l));
  const out = [];
  for (let w = 0; w < words.length; w += RECORD_WORDS) {
    const f = words[w];
    const r = {};
    if (f & 1) r.key = str(words[w + 1], words[w + 2]);
    if (f & 2) r.value = str(words[w + 3], words[w + 4]);
    if (words[w + 6] > 0) {
      r.headers = [];
      for (let h = words[w + 5] * HEADER_WORDS; h < (words[w + 5] + words[w + 6]) * HEADER_WORDS; h += HEADER_WORDS) {
        r.headers.push([str(headers[h], headers[h + 1]), str(headers[h + 2], headers[h + 3])]);
      }
    }
    if (f & 4) r.timestamp = Number(BigInt.asIntN(64, (BigInt(words[w + 8]) << 32n) | BigInt(words[w + 7])));
    if (f & 8) r.topic = str(words[w + 9], words[w + 10]);
    if (f & 16) r.partition = words[w + 11] | 0;
    out.push(r);
  }
  return out;
}

/** A helper Record as a plain record. */
function plainOf(r) {
  const o = {};
  if (r.key !== null) o.key = text(r.key);
  if (r.value !== null) o.value = text(r.value);
  if (r.headers.length > 0) o.headers = r.headers.map(([n, v]) => [n, text(v)]);
  if (r.timestamp !== null) o.timestamp = r.timestamp;
  if (r.topic !== null) o.topic = r.topic;
  if (r.partition !== null) o.partition = r.partition;
  return o;
}

const asUint32 = (b) => b;
// componentize-qjs: Arrays of numbers, words of 2^31 and more negative.
const asQuickJs = (b) => ({ arena: b.arena, records: Array.from(b.records, (x) => x | 0), headers: Array.from(b.headers, (x) => x | 0) });

for (const [form, shape] of [['Uint32Array', asUint32], ['QuickJS Array', asQuickJs]]) {
  const input = shape(encode(plain));
  const records = decodeBatch(input);
  check(`${form}: decodeBatch`, records.map(plainOf), plain);

  const b = new BatchBuilder(input);
  const changed = records[0].clone();
  changed.key = 'new key';
  changed.headers = [...changed.headers, ['b', '2']];
  changed.timestamp = -1;
  changed.topic = 'other';
  changed.partition = 7;
  b.emit(records[0], changed);
  b.reject('bad');
  records[2].value = 'w';
  records[2].timestamp = -5n;
  b.emit(records[2]);
  const out = b.finish();
  check(`${form}: output records`, decode(out.output), [
    plain[0],
    { key: 'new key', value: 'v', headers: [['a', '1'], ['b', '2']], timestamp: -1, topic: 'other', partition: 7 },
    { ...plain[2], value: 'w', timestamp: -5 },
  ]);
  check(`${form}: emitted`, Array.from(out.emitted), [2, 0, 1]);
  check(`${form}: failures`, out.failures, [{ input: 1, kind: 'reject', reason: 'bad' }]);
  check(`${form}: word lists are Uint32Arrays`,
    [out.output.records, out.output.headers, out.emitted].map((x) => x instanceof Uint32Array), [true, true, true]);
  // Each record's headers start where the previous record's end.
  check(`${form}: headers in record order`, [5, 17, 29].map((i) => out.output.records[i]), [0, 1, 3]);
  // A decoded header kept in a new header list keeps its words: only new bytes are appended.
  check(`${form}: kept header words`, Array.from(out.output.headers.subarray(4, 8)), Array.from(input.headers.slice(0, 4), (x) => x >>> 0));
  check(`${form}: appended bytes`, dec.decode(out.output.arena.subarray(input.arena.length)), 'new keyb2otherw');

  throws(`${form}: finish before every input is accounted for`, () => new BatchBuilder(input).emit(records[0]).finish());
}

// Timestamps written by the helper: exact, negative ones too; Numbers truncated toward zero.
const stamps = [[0, 0], [-1, -1], [1, 1], [-(2 ** 53) + 1, -(2 ** 53) + 1], [2 ** 53 - 1, 2 ** 53 - 1],
  [-4294967296, -4294967296], [4294967295, 4294967295], [4294967296, 4294967296], [-4294967297, -4294967297],
  [1.9, 1], [-1.9, -1], [new Date(5), 5], [-(2n ** 63n), -(2 ** 63)], [2n ** 63n - 1n, 2 ** 63]];
for (const [ts, want] of stamps) {
  check(`timestamp ${ts}`, decode(encodeBatch([new Record(null, null, [], ts)]))[0].timestamp, want);
}
const i64 = (b) => BigInt.asIntN(64, (BigInt(b.records[8]) << 32n) | BigInt(b.records[7]));
check('timestamp -2^63 words', i64(encodeBatch([{ timestamp: -(2n ** 63n) }])), -(2n ** 63n));
check('timestamp 2^63-1 words', i64(encodeBatch([{ timestamp: 2n ** 63n - 1n }])), 2n ** 63n - 1n);
for (const ts of [NaN, Infinity, 2 ** 63, 2n ** 63n, 'soon']) throws(`timestamp ${ts}`, () => encodeBatch([{ timestamp: ts }]));
for (const p of [2 ** 31, -(2 ** 31) - 1, 1.5, '2']) throws(`partition ${p}`, () => encodeBatch([{ partition: p }]));

// Null header values: decoded as null, written as the null-value length, distinct from empty.
{
  const b = encodeBatch([{ value: 'v', headers: [['gone', null], ['empty', new Uint8Array(0)]] }]);
  check('null header value words', Array.from(b.headers), [1, 4, 0, 0xffffffff, 5, 5, 10, 0]);
  const [r] = decodeBatch(b);
  check('null header value decoded', r.headers.map(([n, v]) => [n, v === null ? null : text(v)]), [['gone', null], ['empty', '']]);
  const again = new BatchBuilder(b);
  again.emit({ ...r, headers: [...r.headers, ['added', null]] });
  const [back] = decodeBatch(again.finish().output);
  check('null header value kept through the builder', back.headers.map(([n, v]) => [n, v === null ? null : text(v)]),
    [['gone', null], ['empty', ''], ['added', null]]);
}

// The shared golden vectors (batch/vectors/batches.json): the same decoding and the
// same refusals as the host, the Rust SDK and the other helpers.
{
  const vectors = JSON.parse(readFileSync(new URL('../../../batch/vectors/batches.json', import.meta.url), 'utf8'));
  const bytesOf = (v) => (v === null ? null : typeof v === 'string' ? enc.encode(v) : Uint8Array.from(Buffer.from(v.hex, 'hex')));
  const show = (b) => (b === null ? null : Buffer.from(b).toString('hex'));
  const batchOf = (v, shape) => shape({ arena: bytesOf(v.arena) ?? new Uint8Array(0), records: Uint32Array.from(v.records), headers: Uint32Array.from(v.headers) });
  const want = (r) => ({
    key: show(bytesOf(r.key)), value: show(bytesOf(r.value)),
    headers: r.headers.map(([n, v]) => [n, show(bytesOf(v))]),
    timestamp: r.timestamp, topic: r.topic, partition: r.partition,
  });
  const got = (r) => ({
    key: show(r.key), value: show(r.value), headers: r.headers.map(([n, v]) => [n, show(v)]),
    timestamp: r.timestamp, topic: r.topic, partition: r.partition,
  });
  let cases = 0;
  for (const [form, shape] of [['Uint32Array', asUint32], ['QuickJS Array', asQuickJs]]) {
    for (const c of vectors.valid) {
      const b = batchOf(c.batch, shape);
      check(`${form}: vector "${c.name}" is valid`, validateBatch(b), null);
      const records = decodeBatch(b);
      check(`${form}: vector "${c.name}" decodes`, records.map(got), c.records.map(want));
      const copy = new BatchBuilder();
      copy.add(...records);
      check(`${form}: vector "${c.name}" round trip`, decodeBatch(copy.batch()).map(got), c.records.map(want));
      const fresh = encodeBatch(c.records.map((r) => ({ ...r, key: bytesOf(r.key), value: bytesOf(r.value), headers: r.headers.map(([n, v]) => [n, bytesOf(v)]) })));
      check(`${form}: vector "${c.name}" from plain records`, decodeBatch(fresh).map(got), c.records.map(want));
      cases++;
    }
    for (const c of vectors.invalid) {
      const e = validateBatch(batchOf(c.batch, shape));
      check(`${form}: vector "${c.name}" is refused`, e && { record: e.record, field: e.field, header: e.header }, c.error);
      if (e !== null && !e.message.startsWith(`record ${e.record}: `)) { failed++; console.log(`FAIL ${c.name}: message ${e.message}`); }
      throws(`${form}: vector "${c.name}" is not decoded`, () => decodeBatch(batchOf(c.batch, shape)));
      cases++;
    }
  }
  check('golden vectors run', cases > 50, true);
}

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
