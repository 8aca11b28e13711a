// Sluice plugin helper for JavaScript transforms.
//
// A batch crosses the WebAssembly boundary as one byte arena plus small span
// entries (see wit/types.wit). This module hides that layout: plugin code sees
// plain records and returns plain records, reject() or retry() per input.
//
// Works with both JavaScript backends:
//   - ComponentizeJS (StarlingMonkey / SpiderMonkey): TextDecoder exists, s64 is a BigInt,
//     an absent option is `undefined`.
//   - componentize-qjs (QuickJS): no TextDecoder/TextEncoder, s64 is a Number,
//     an absent option is `null`.
//
// Speed: decoding makes one small object per record and `subarray` views (no copies).
// Encoding reuses the input arena: a record whose key / value / headers / topic were
// not replaced keeps its original spans, so only new bytes are appended, and a record
// returned untouched costs nothing beyond pushing its entry.

import { emit as hostLog } from 'sluice:plugin/log@0.1.0';

// ---------------------------------------------------------------------------
// Logging

/** Logging into the host's structured log (the host adds pipeline/stage/plugin). */
export const log = {
  debug(message) { hostLog('debug', String(message)); },
  info(message) { hostLog('info', String(message)); },
  warn(message) { hostLog('warn', String(message)); },
  error(message) { hostLog('error', String(message)); },
};

// ---------------------------------------------------------------------------
// UTF-8 (native where the engine has it, otherwise built from native escapes)

const HAS_CODEC = typeof TextDecoder === 'function' && typeof TextEncoder === 'function';
// fatal: invalid UTF-8 throws; ignoreBOM: a leading U+FEFF is kept, not silently removed.
const DECODER = HAS_CODEC ? new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }) : null;
const ENCODER = HAS_CODEC ? new TextEncoder() : null;
const NON_ASCII = /[^\x00-\x7f]/;
const EMPTY_BYTES = new Uint8Array(0);
const HAS_BASE64 = typeof Uint8Array.fromBase64 === 'function' && typeof btoa === 'function';

/**
 * Decodes UTF-8 bytes into a string. Throws a TypeError on invalid UTF-8
 * (overlong forms, surrogates, truncated sequences).
 * @param {Uint8Array} bytes
 * @returns {string}
 */
export function text(bytes) {
  if (DECODER !== null) return DECODER.decode(bytes);
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  }
  if (!NON_ASCII.test(s)) return s;
  try {
    // escape() turns each byte 0x80-0xff into %XX; decodeURIComponent() then
    // decodes those as strict UTF-8 and throws URIError on anything invalid.
    return decodeURIComponent(escape(s));
  } catch (_) {
    throw new TypeError('invalid UTF-8');
  }
}

/**
 * Encodes a string as UTF-8 bytes (lone surrogates become U+FFFD).
 * @param {string} s
 * @returns {Uint8Array}
 */
export function bytes(s) {
  if (ENCODER !== null) return ENCODER.encode(s);
  // A "binary string" (one char per UTF-8 byte), then native base64 round trip:
  // much faster in QuickJS's interpreter than a per-byte loop.
  if (NON_ASCII.test(s)) s = unescape(encodeURIComponent(wellFormed(s)));
  if (HAS_BASE64) return Uint8Array.fromBase64(btoa(s));
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function wellFormed(s) {
  if (typeof s.toWellFormed === 'function') return s.toWellFormed();
  return s.replace(/[\ud800-\udbff](?![\udc00-\udfff])|(^|[^\ud800-\udbff])[\udc00-\udfff]/g,
    (m, pre) => (pre === undefined ? '\ufffd' : pre + '\ufffd'));
}

function toBytes(v, what) {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return bytes(v);
  if (ArrayBuffer.isView(v)) return new Uint8Array(v.buffer, v.byteOffset, v.byteLength);
  throw new TypeError(`${what} must be a Uint8Array, a string or null`);
}

// ---------------------------------------------------------------------------
// Records

const EMPTY_HEADERS = Object.freeze([]);

/**
 * A plain Kafka record.
 *  - key, value: Uint8Array or null (null value = tombstone). Decoded records hold
 *    views into the batch arena: valid during this call only; copy (`slice()`) to keep.
 *  - headers: array of [name: string, value: Uint8Array]. Arrays from decodeBatch are
 *    frozen: assign a new array to change them (`r.headers = [...r.headers, ['x', v]]`).
 *  - timestamp: milliseconds since the Unix epoch as a Number, or null.
 *  - topic: string or null (overrides the sink topic). partition: number or null.
 * A new record can be any object with these fields; missing fields mean null / none.
 */
export class Record {
  constructor(key = null, value = null, headers = EMPTY_HEADERS, timestamp = null, topic = null, partition = null) {
    this.key = key;
    this.value = value;
    this.headers = headers;
    this.timestamp = timestamp;
    this.topic = topic;
    this.partition = partition;
    // Where this record came from, to reuse its spans when it is emitted again.
    this._src = null;
    this._batch = null;
    this._key = null;
    this._value = null;
    this._headers = null;
    this._ts = null;
    this._topic = null;
    this._partition = null;
  }

  /** A copy of this record (same byte views) to change and emit as another record. */
  clone() {
    const r = new Record(this.key, this.value, this.headers, this.timestamp, this.topic, this.partition);
    r._src = this._src; r._batch = this._batch; r._key = this._key; r._value = this._value;
    r._headers = this._headers; r._ts = this._ts; r._topic = this._topic; r._partition = this._partition;
    return r;
  }
}

function isNone(v) { return v === undefined || v === null; }

/**
 * Turns a WIT `batch` into plain records, in order.
 * @returns {Record[]}
 */
export function decodeBatch(batch) {
  const arena = batch.arena;
  const entries = batch.records;
  const hdrs = batch.headers;
  const out = new Array(entries.length);
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i];
    const r = new Record();
    const k = e.key, v = e.value;
    r.key = isNone(k) ? null : arena.subarray(k.offset, k.offset + k.len);
    r.value = isNone(v) ? null : arena.subarray(v.offset, v.offset + v.len);
    const hl = e.headersLen;
    if (hl > 0) {
      const list = new Array(hl);
      for (let j = 0; j < hl; j++) {
        const h = hdrs[e.headersStart + j];
        const n = h.name, hv = h.value;
        list[j] = Object.freeze([text(arena.subarray(n.offset, n.offset + n.len)),
          arena.subarray(hv.offset, hv.offset + hv.len)]);
      }
      r.headers = Object.freeze(list);
    } else {
      r.headers = EMPTY_HEADERS;
    }
    const ts = e.timestampMs;
    r.timestamp = isNone(ts) ? null : Number(ts);
    const tp = e.topic;
    r.topic = isNone(tp) ? null : text(arena.subarray(tp.offset, tp.offset + tp.len));
    const p = e.partition;
    r.partition = isNone(p) ? null : p;
    r._src = e; r._batch = batch; r._key = r.key; r._value = r.value;
    r._headers = r.headers; r._ts = r.timestamp; r._topic = r.topic; r._partition = r.partition;
    out[i] = r;
  }
  return out;
}

// ---------------------------------------------------------------------------
// Building output

const REJECT = Symbol('reject');
const RETRY = Symbol('retry');

/** An outcome marker: this input record is bad for good; `reason` says why. */
export function reject(reason) { return { [REJECT]: String(reason) }; }
/** An outcome marker: this input record may work later; the host retries it. */
export function retry(reason) { return { [RETRY]: String(reason) }; }

/**
 * Builds the output batch and one outcome per input, in input order.
 * `input` (optional) is the batch the records were decoded from: its arena and
 * spans are reused for unchanged fields.
 */
export class BatchBuilder {
  constructor(input = null) {
    this._input = input;
    this._base = input === null ? EMPTY_BYTES : input.arena;
    this._used = false; // whether any span points into the input arena
    this._chunks = [];
    this._size = 0; // bytes appended after the base
    this._headers = input === null ? [] : input.headers;
    this._records = [];
    this.outcomes = [];
  }

  /** Adds one outcome: the given records (zero or more) were emitted for the next input. */
  emit(...records) { return this.emitAll(records); }

  /** Same as emit, taking an array. An empty array filters the input out. */
  emitAll(records) {
    const start = this._records.length;
    for (let i = 0; i < records.length; i++) this._push(records[i]);
    this.outcomes.push({ tag: 'emit', val: { start, count: records.length } });
    return this;
  }

  /** Adds one outcome: the next input is rejected (the pipeline's error policy routes it). */
  reject(reason) { this.outcomes.push({ tag: 'reject', val: String(reason) }); return this; }

  /** Adds one outcome: the next input should be retried later. */
  retry(reason) { this.outcomes.push({ tag: 'retry', val: String(reason) }); return this; }

  /** Adds records to the output batch without an outcome (for sources). */
  add(...records) { for (const r of records) this._push(r); return this; }

  /** The WIT `transformed` value: { output: batch, outcomes }. */
  finish() { return { output: this.batch(), outcomes: this.outcomes }; }

  /** The WIT `batch` built so far. */
  batch() {
    const base = this._used ? this._base : EMPTY_BYTES;
    let arena;
    if (this._chunks.length === 0) {
      arena = base;
    } else {
      arena = new Uint8Array(this._base.length + this._size);
      if (this._used) arena.set(base, 0);
      let pos = this._base.length;
      for (const c of this._chunks) { arena.set(c, pos); pos += c.length; }
    }
    return { arena, headers: this._headers, records: this._records };
  }

  _append(bytesValue) {
    const offset = this._base.length + this._size;
    if (bytesValue.length > 0) {
      this._chunks.push(bytesValue);
      this._size += bytesValue.length;
    }
    return { offset, len: bytesValue.length };
  }

  _push(r) {
    if (r === null || typeof r !== 'object') throw new TypeError('an emitted record must be an object');
    const src = (this._input !== null && r._batch === this._input) ? r._src : null;
    const key = isNone(r.key) ? null : r.key;
    const value = isNone(r.value) ? null : r.value;
    const headers = isNone(r.headers) ? EMPTY_HEADERS : r.headers;
    const topic = isNone(r.topic) ? null : r.topic;
    const ts = isNone(r.timestamp) ? null : r.timestamp;
    const part = isNone(r.partition) ? null : r.partition;
    if (src !== null) {
      this._used = true;
      if (key === r._key && value === r._value && headers === r._headers && topic === r._topic &&
          ts === r._ts && part === r._partition) {
        // Untouched: its entry still points at the right bytes of the reused arena.
        this._records.push(src);
        return;
      }
    }
    const entry = {
      key: key === null ? null : (src !== null && key === r._key ? src.key : this._append(toBytes(key, 'key'))),
      value: value === null ? null : (src !== null && value === r._value ? src.value : this._append(toBytes(value, 'value'))),
      headersStart: 0,
      headersLen: 0,
      timestampMs: ts === null ? null : (src !== null && ts === r._ts ? src.timestampMs : toS64(ts)),
      topic: topic === null ? null : (src !== null && topic === r._topic ? src.topic : this._append(toBytes(topic, 'topic'))),
      partition: part,
    };
    if (src !== null && headers === r._headers) {
      entry.headersStart = src.headersStart;
      entry.headersLen = src.headersLen;
    } else if (headers.length > 0) {
      entry.headersStart = this._headers.length;
      entry.headersLen = headers.length;
      for (const h of headers) {
        if (!Array.isArray(h) || h.length !== 2) throw new TypeError('a header must be [name, value]');
        this._headers.push({ name: this._append(toBytes(h[0], 'header name')), value: this._append(toBytes(h[1], 'header value')) });
      }
    }
    this._records.push(entry);
  }
}

// StarlingMonkey bindings want a BigInt for s64, QuickJS a Number.
const S64_IS_BIGINT = HAS_CODEC;

function toS64(ts) {
  if (typeof ts === 'bigint') return S64_IS_BIGINT ? ts : Number(ts);
  const n = Math.trunc(Number(ts));
  if (!Number.isFinite(n)) throw new TypeError('timestamp must be a finite number');
  return S64_IS_BIGINT ? BigInt(n) : n;
}

/** Builds a WIT `batch` from plain records (for sources and tests). */
export function encodeBatch(records) {
  return new BatchBuilder().add(...records).batch();
}

// ---------------------------------------------------------------------------
// Configuration and errors

/** Thrown from `open`: a config-error that names its key. */
export class ConfigError extends Error {
  constructor(key, message) { super(message); this.key = key === undefined ? null : key; }
}

/** Thrown from `transform`: the whole call fails and the host retries it later. */
export class RetryableError extends Error {}

/**
 * The plugin configuration: the pipeline file's key/value pairs, in order.
 * Same rules and messages as the Rust SDK: a key given twice is an error, and after
 * `open` every key that no getter read is refused, naming the keys that were asked for.
 * Error messages never quote values (they may be secrets).
 */
export class Config {
  /** @param {Array<[string,string]>} entries */
  constructor(entries) {
    this._entries = entries;
    this._read = entries.map(() => false);
    this._known = [];
    entries.forEach(([k], i) => {
      if (entries.slice(0, i).some(([k2]) => k2 === k)) throw new ConfigError(k, `\`${k}\` is given twice; keep one`);
    });
  }

  /** The value of `key` (marking it read), or undefined. */
  get(key) {
    if (!this._known.includes(key)) this._known.push(key);
    const i = this._entries.findIndex(([k]) => k === key);
    if (i < 0) return undefined;
    this._read[i] = true;
    return this._entries[i][1];
  }

  /** The value of `key`; absent is a ConfigError naming it. */
  required(key) {
    const v = this.get(key);
    if (v === undefined) throw new ConfigError(key, `\`${key}\` is required; add \`${key}: <value>\``);
    return v;
  }

  /** The value of `key`, or `fallback` when absent. */
  optional(key, fallback = undefined) {
    const v = this.get(key);
    return v === undefined ? fallback : v;
  }

  /** Refuses the first key no getter read (called for you after `open`). */
  finish() {
    const i = this._read.indexOf(false);
    if (i < 0) return;
    const key = this._entries[i][0];
    const message = this._known.length === 0
      ? `unknown key \`${key}\`: this plugin takes no configuration`
      : `unknown key \`${key}\`: this plugin accepts ${this._known.map((k) => `\`${k}\``).join(', ')}`;
    throw new ConfigError(key, message);
  }
}

/**
 * Makes the object to export as `transformer` from a plain-record plugin.
 *
 *   export const transformer = defineTransformer({
 *     open(config) { ... },               // config: Config (required/optional); throw ConfigError
 *     transform(record, index) { ... },   // return a record, an array of records ([] drops),
 *   });                                   // null (drops), reject(reason) or retry(reason)
 *
 * An exception thrown by `transform` fails the whole call: RetryableError becomes
 * call-error `retryable`, anything else `fatal` (with the message).
 */
export function defineTransformer(plugin) {
  return {
    open(config) {
      try {
        const c = new Config(config);
        if (plugin.open) plugin.open(c);
        c.finish();
      } catch (e) {
        if (e instanceof ConfigError) throw { key: e.key, message: e.message };
        throw { key: null, message: errorText(e) };
      }
    },
    process(input) {
      try {
        const records = decodeBatch(input);
        const b = new BatchBuilder(input);
        const f = plugin.transform;
        for (let i = 0; i < records.length; i++) {
          const res = f(records[i], i);
          if (res === null) b.emitAll([]);
          else if (Array.isArray(res)) b.emitAll(res);
          else if (res === undefined) throw new TypeError(`transform returned undefined for record ${i} (return [] or null to drop it)`);
          else if (REJECT in res) b.reject(res[REJECT]);
          else if (RETRY in res) b.retry(res[RETRY]);
          else b.emitAll([res]);
        }
        return b.finish();
      } catch (e) {
        if (e instanceof RetryableError) throw { tag: 'retryable', val: e.message };
        throw { tag: 'fatal', val: errorText(e) };
      }
    },
  };
}

function errorText(e) {
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return String(e);
}
