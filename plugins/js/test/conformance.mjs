// Runs built transform components (any guest language) over test/vectors.json without
// the Sluice host: each component is transpiled to JS with jco and run in Node.
//
//   node test/conformance.mjs ../dist/mask-js.wasm ../dist/filter-py.wasm ...
//   node test/conformance.mjs --bench 20000 ../dist/mask-js.wasm
//
// The plugin kind (mask / filter) comes from the file name. Prints
// "N passed, M failed" and exits non-zero on any failure.

import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const jco = join(here, '..', 'node_modules', '.bin', 'jco');
const vectors = JSON.parse(readFileSync(join(here, 'vectors.json'), 'utf8'));
const enc = new TextEncoder();
const dec = new TextDecoder();
const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

const args = process.argv.slice(2);
let bench = 0;
if (args[0] === '--bench') { bench = Number(args[1]); args.splice(0, 2); }

const logs = [];
globalThis.__sluiceLog = (level, message) => logs.push(`[${level}] ${message}`);

async function load(wasm) {
  // Inside this package so that the transpiled code finds preview2-shim in node_modules.
  mkdirSync(join(here, '..', '.build'), { recursive: true });
  const out = mkdtempSync(join(here, '..', '.build', 'conformance-'));
  writeFileSync(join(out, 'log.js'),
    'export function emit(level, message) { globalThis.__sluiceLog(level, message); }\n');
  execFileSync(jco, ['transpile', resolve(wasm), '-o', out, '-q', '--name', 'component',
    '--map', 'sluice:plugin/log@0.1.0=./log.js', '--map', 'sluice:plugin/types@0.1.0=./log.js'],
  { stdio: ['ignore', 'ignore', 'inherit'] });
  const m = await import(pathToFileURL(join(out, 'component.js')).href);
  return m.transformer ?? m['sluice:plugin/transformer@0.1.0'];
}

// The batch layout of wit/types.wit.
const RECORD_WORDS = 12;
const HEADER_WORDS = 4;
const HAS_KEY = 1, HAS_VALUE = 2, HAS_TIMESTAMP = 4, HAS_TOPIC = 8, HAS_PARTITION = 16;

function valueBytes(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return enc.encode(v);
  return Uint8Array.from(Buffer.from(v.hex, 'hex'));
}

function encodeBatch(records) {
  const parts = [];
  let size = 0;
  const append = (b) => { const offset = size; parts.push(b); size += b.length; return offset; };
  const words = new Uint32Array(records.length * RECORD_WORDS);
  const headers = [];
  records.forEach((r, i) => {
    const w = i * RECORD_WORDS;
    let flags = 0;
    const key = valueBytes(r.key);
    if (key !== null) { flags |= HAS_KEY; words[w + 1] = append(key); words[w + 2] = key.length; }
    const value = valueBytes(r.value);
    if (value !== null) { flags |= HAS_VALUE; words[w + 3] = append(value); words[w + 4] = value.length; }
    words[w + 5] = headers.length / HEADER_WORDS;
    words[w + 6] = (r.headers ?? []).length;
    for (const [n, v] of r.headers ?? []) {
      const nb = enc.encode(n), vb = valueBytes(v) ?? new Uint8Array(0);
      headers.push(append(nb), nb.length, append(vb), vb.length);
    }
    if (!none(r.timestamp)) {
      flags |= HAS_TIMESTAMP;
      const u = BigInt.asUintN(64, BigInt(r.timestamp));
      words[w + 7] = Number(u & 0xffffffffn);
      words[w + 8] = Number(u >> 32n);
    }
    if (!none(r.topic)) {
      flags |= HAS_TOPIC;
      const t = enc.encode(r.topic);
      words[w + 9] = append(t); words[w + 10] = t.length;
    }
    if (!none(r.partition)) { flags |= HAS_PARTITION; words[w + 11] = r.partition; }
    words[w] = flags;
  });
  const arena = new Uint8Array(size);
  let pos = 0;
  for (const p of parts) { arena.set(p, pos); pos += p.length; }
  return { arena, records: words, headers: Uint32Array.from(headers) };
}

const none = (v) => v === undefined || v === null;
function show(arena, offset, len) {
  const b = arena.subarray(offset, offset + len);
  const t = dec.decode(b);
  return enc.encode(t).length === b.length && Buffer.from(enc.encode(t)).equals(Buffer.from(b)) ? t : { hex: Buffer.from(b).toString('hex') };
}

/**
 * Why `out` (a `transformed` for `inputs` input records) breaks the contract of
 * wit/types.wit and wit/transform.wit, or null when it does not.
 */
function layoutError(out, inputs) {
  const { arena, records, headers } = out.output;
  if (records.length % RECORD_WORDS !== 0) return `${records.length} record words: not a multiple of ${RECORD_WORDS}`;
  if (headers.length % HEADER_WORDS !== 0) return `${headers.length} header words: not a multiple of ${HEADER_WORDS}`;
  const count = records.length / RECORD_WORDS;
  const headerCount = headers.length / HEADER_WORDS;
  const inside = (o, l) => o + l <= arena.length;
  const utf8 = (o, l) => { try { strict.decode(arena.subarray(o, o + l)); return true; } catch { return false; } };
  let headersEnd = 0;
  for (let i = 0; i < count; i++) {
    const w = i * RECORD_WORDS;
    const flags = records[w];
    if (flags & ~31) return `record ${i}: flags ${flags} set bits other than 0-4`;
    const spans = [[HAS_KEY, 1, 'key'], [HAS_VALUE, 3, 'value'], [HAS_TIMESTAMP, 7, 'timestamp'], [HAS_TOPIC, 9, 'topic']];
    for (const [bit, at, what] of spans) {
      if (flags & bit) {
        if (what !== 'timestamp' && !inside(records[w + at], records[w + at + 1])) return `record ${i}: ${what} outside the arena`;
      } else if (records[w + at] !== 0 || records[w + at + 1] !== 0) {
        return `record ${i}: absent ${what} with words ${records[w + at]}, ${records[w + at + 1]} (want 0, 0)`;
      }
    }
    if (!(flags & HAS_PARTITION) && records[w + 11] !== 0) return `record ${i}: absent partition with word ${records[w + 11]} (want 0)`;
    if ((flags & HAS_TOPIC) && !utf8(records[w + 9], records[w + 10])) return `record ${i}: topic is not UTF-8`;
    const start = records[w + 5], n = records[w + 6];
    if (start + n > headerCount) return `record ${i}: headers ${start}..${start + n} outside the ${headerCount} headers`;
    if (n > 0 && start < headersEnd) return `record ${i}: headers from ${start}, before the previous record's end ${headersEnd} (not grouped in record order)`;
    for (let h = start * HEADER_WORDS; h < (start + n) * HEADER_WORDS; h += HEADER_WORDS) {
      if (!inside(headers[h], headers[h + 1]) || !inside(headers[h + 2], headers[h + 3])) return `record ${i}: a header outside the arena`;
      if (!utf8(headers[h], headers[h + 1])) return `record ${i}: a header name is not UTF-8`;
    }
    if (n > 0) headersEnd = start + n;
  }
  if (out.emitted.length !== inputs) return `${out.emitted.length} emitted entries for ${inputs} inputs`;
  const sum = out.emitted.reduce((a, b) => a + b, 0);
  if (sum !== count) return `emitted entries add up to ${sum}, the output has ${count} records`;
  let last = -1;
  for (const f of out.failures) {
    if (!(f.input > last && f.input < inputs)) return `failure for input ${f.input}: not in input order or out of range`;
    if (f.kind !== 'reject' && f.kind !== 'retry') return `failure for input ${f.input}: kind ${f.kind}`;
    if (out.emitted[f.input] !== 0) return `failure for input ${f.input}: emitted ${out.emitted[f.input]}, want 0`;
    last = f.input;
  }
  return null;
}

function decodeRecords(batch) {
  const { arena, records: words, headers } = batch;
  const out = [];
  for (let w = 0; w < words.length; w += RECORD_WORDS) {
    const flags = words[w];
    const o = { value: flags & HAS_VALUE ? show(arena, words[w + 3], words[w + 4]) : null };
    if (flags & HAS_KEY) o.key = show(arena, words[w + 1], words[w + 2]);
    const n = words[w + 6];
    if (n > 0) {
      o.headers = [];
      for (let h = words[w + 5] * HEADER_WORDS; h < (words[w + 5] + n) * HEADER_WORDS; h += HEADER_WORDS) {
        o.headers.push([show(arena, headers[h], headers[h + 1]), show(arena, headers[h + 2], headers[h + 3])]);
      }
    }
    if (flags & HAS_TIMESTAMP) o.timestamp = Number(BigInt.asIntN(64, (BigInt(words[w + 8]) << 32n) | BigInt(words[w + 7])));
    if (flags & HAS_TOPIC) o.topic = show(arena, words[w + 9], words[w + 10]);
    if (flags & HAS_PARTITION) o.partition = words[w + 11] | 0;
    out.push(o);
  }
  return out;
}

function normalize(r) {
  const o = { value: r.value ?? null };
  if (!none(r.key)) o.key = r.key;
  if (r.headers && r.headers.length) o.headers = r.headers;
  if (!none(r.timestamp)) o.timestamp = r.timestamp;
  if (!none(r.topic)) o.topic = r.topic;
  if (!none(r.partition)) o.partition = r.partition;
  return JSON.stringify(o);
}

let passed = 0;
let failed = 0;
const fail = (what, got, want) => { failed++; console.log(`FAIL ${what}\n  got:  ${got}\n  want: ${want}`); };

for (const wasm of args) {
  const kind = basename(wasm).includes('mask') ? 'mask' : 'filter';
  const t = await load(wasm);
  console.log(`# ${wasm} (${kind})`);
  for (const ce of vectors.config_errors.filter((c) => c.plugin === kind)) {
    try {
      t.open(ce.config);
      fail(`${wasm} config ${JSON.stringify(ce.config)}`, 'accepted', `config-error key ${ce.key}`);
    } catch (e) {
      const p = e.payload ?? e;
      if (p.key === ce.key && (ce.message === undefined || p.message === ce.message)) passed++;
      else fail(`${wasm} config ${JSON.stringify(ce.config)}`, JSON.stringify(p), JSON.stringify({ key: ce.key, message: ce.message }));
    }
  }
  for (const suite of vectors.suites.filter((s) => s.plugin === kind)) {
    t.open(suite.config);
    // One batch with every case, so that the emitted counts and failure indices are exercised too.
    const out = t.process(encodeBatch(suite.cases.map((c) => c.input)));
    const bad = layoutError(out, suite.cases.length);
    if (bad !== null) {
      fail(`${wasm} ${JSON.stringify(suite.config)} batch layout`, bad, 'a batch as wit/types.wit and wit/transform.wit lay it out');
      continue;
    }
    const recs = decodeRecords(out.output);
    const failures = new Map(out.failures.map((f) => [f.input, f]));
    let start = 0;
    suite.cases.forEach((c, i) => {
      const f = failures.get(i);
      const count = out.emitted[i];
      let got;
      if (f === undefined) got = JSON.stringify({ emit: recs.slice(start, start + count).map(normalize) });
      else got = JSON.stringify({ [f.kind]: f.reason });
      start += count;
      const want = c.expect.emit ? JSON.stringify({ emit: c.expect.emit.map(normalize) }) : JSON.stringify(c.expect);
      if (got === want) passed++;
      else fail(`${wasm} ${JSON.stringify(suite.config)} ${c.name}`, got, want);
    });
  }
  if (bench > 0) {
    const sample = '{"id":1,"customer":"ana","email":"ana@example.com","amount_cents":1234,"country":"DE"}';
    t.open(kind === 'mask' ? [['field', 'email']] : [['field', 'country'], ['equals', 'FR']]);
    const batch = encodeBatch(Array.from({ length: 500 }, (_, i) => ({ key: `k${i}`, value: sample, timestamp: 1700000000000 + i })));
    for (let i = 0; i < 5; i++) t.process(batch); // warm up
    const rounds = Math.max(1, Math.round(bench / 500));
    const t0 = process.hrtime.bigint();
    const c0 = process.cpuUsage();
    for (let i = 0; i < rounds; i++) t.process(batch);
    const ns = Number(process.hrtime.bigint() - t0) / (rounds * 500);
    const c = process.cpuUsage(c0);
    const cpu = (c.user + c.system) / (rounds * 500);
    console.log(`BENCH ${basename(wasm)}: ${(ns / 1000).toFixed(2)} µs/record wall, ${cpu.toFixed(2)} µs/record CPU (batches of 500, ${rounds * 500} records, Node ${process.version}, jco glue included)`);
  }
}
if (logs.length) console.log(logs.slice(0, 20).join('\n'));
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
