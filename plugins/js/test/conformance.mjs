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

function valueBytes(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return enc.encode(v);
  return Uint8Array.from(Buffer.from(v.hex, 'hex'));
}

function encodeBatch(records) {
  const parts = [];
  let size = 0;
  const span = (b) => { const s = { offset: size, len: b.length }; parts.push(b); size += b.length; return s; };
  const headers = [];
  const entries = records.map((r) => {
    const key = valueBytes(r.key);
    const value = valueBytes(r.value);
    const e = {
      key: key === null ? undefined : span(key),
      value: value === null ? undefined : span(value),
      headersStart: headers.length,
      headersLen: (r.headers ?? []).length,
      timestampMs: r.timestamp === undefined || r.timestamp === null ? undefined : BigInt(r.timestamp),
      topic: r.topic === undefined || r.topic === null ? undefined : span(enc.encode(r.topic)),
      partition: r.partition ?? undefined,
    };
    for (const [n, v] of r.headers ?? []) headers.push({ name: span(enc.encode(n)), value: span(enc.encode(v)) });
    return e;
  });
  const arena = new Uint8Array(size);
  let pos = 0;
  for (const p of parts) { arena.set(p, pos); pos += p.length; }
  return { arena, headers, records: entries };
}

const none = (v) => v === undefined || v === null;
function show(arena, s) {
  if (none(s)) return null;
  const b = arena.subarray(s.offset, s.offset + s.len);
  const t = dec.decode(b);
  return enc.encode(t).length === b.length && Buffer.from(enc.encode(t)).equals(Buffer.from(b)) ? t : { hex: Buffer.from(b).toString('hex') };
}

function decodeRecords(batch) {
  const a = batch.arena;
  return batch.records.map((r) => {
    const o = { value: show(a, r.value) };
    if (!none(r.key)) o.key = show(a, r.key);
    if (r.headersLen > 0) {
      o.headers = [];
      for (let i = 0; i < r.headersLen; i++) {
        const h = batch.headers[r.headersStart + i];
        o.headers.push([show(a, h.name), show(a, h.value)]);
      }
    }
    if (!none(r.timestampMs)) o.timestamp = Number(r.timestampMs);
    if (!none(r.topic)) o.topic = show(a, r.topic);
    if (!none(r.partition)) o.partition = r.partition;
    return o;
  });
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
    // One batch with every case, so that outcome indexing is exercised too.
    const out = t.process(encodeBatch(suite.cases.map((c) => c.input)));
    const recs = decodeRecords(out.output);
    if (out.outcomes.length !== suite.cases.length) {
      fail(`${wasm} outcome count`, out.outcomes.length, suite.cases.length);
      continue;
    }
    suite.cases.forEach((c, i) => {
      const o = out.outcomes[i];
      let got;
      if (o.tag === 'emit') got = JSON.stringify({ emit: recs.slice(o.val.start, o.val.start + o.val.count).map(normalize) });
      else got = JSON.stringify({ [o.tag]: o.val });
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
