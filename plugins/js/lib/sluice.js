// Sluice plugin helper for JavaScript transforms.
//
// A batch crosses the WebAssembly boundary as one byte arena plus two flat lists
// of u32 words (see wit/types.wit); the word positions and flag bits come from
// layout.js, generated from the same WIT by `make gen`. This module hides that
// layout: plugin code sees plain records and returns plain records, reject() or
// retry() per input. validateBatch() applies the contract's one rule (the same
// as the host's and the other helpers', checked by batch/vectors/batches.json).
//
// Works with both JavaScript backends:
//   - ComponentizeJS (StarlingMonkey / SpiderMonkey): TextDecoder exists.
//   - componentize-qjs (QuickJS): no TextDecoder/TextEncoder, and a list<u32> arrives
//     as an Array in which words of 2^31 and more read as negative numbers, so every
//     word read here goes through `>>> 0` (unsigned) or `| 0` (signed).
// Either backend accepts a Uint32Array for a list<u32> result.
//
// Speed: decoding checks the batch first (one pass over the words, no allocation),
// then makes one small object per record and `subarray` views (no copies).
// Encoding reuses the input arena: a record whose key / value / headers / topic were
// not replaced keeps its original offsets, so only new bytes are appended, and a
// record returned untouched costs a copy of its words. The output word lists are
// Uint32Arrays that grow by doubling.

import { emit as hostLog } from 'sluice:plugin/log@0.2.0';
import {
  FLAG_KEY, FLAG_PARTITION, FLAG_TIMESTAMP, FLAG_TOPIC, FLAG_VALUE, FLAGS_ALL,
  HEADER_NAME_LEN, HEADER_NAME_OFFSET, HEADER_VALUE_LEN, HEADER_VALUE_OFFSET, HEADER_WORDS,
  NULL_VALUE_LEN, RECORD_FLAGS, RECORD_HEADERS_LEN, RECORD_HEADERS_START, RECORD_KEY_LEN,
  RECORD_KEY_OFFSET, RECORD_PARTITION, RECORD_TIMESTAMP_HIGH, RECORD_TIMESTAMP_LOW,
  RECORD_TOPIC_LEN, RECORD_TOPIC_OFFSET, RECORD_VALUE_LEN, RECORD_VALUE_OFFSET, RECORD_WORDS,
} from './layout.js';

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
// Anchored: one pass of QuickJS's regex engine instead of one attempt per position
// (3x faster on a 100-byte value); used below 1 KiB, where its backtracking stack
// stays small.
const ALL_ASCII = /^[\x00-\x7f]*$/;
const HAS_TO_BASE64 = typeof Uint8Array.prototype.toBase64 === 'function' && typeof atob === 'function';
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
  // A "binary string" (one char per byte): base64 there and back is two native
  // passes, faster in QuickJS than String.fromCharCode.apply over the bytes.
  let s = '';
  if (HAS_TO_BASE64) {
    s = atob(bytes.toBase64());
  } else {
    for (let i = 0; i < bytes.length; i += 8192) {
      s += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
    }
  }
  if (s.length <= 1024 ? ALL_ASCII.test(s) : !NON_ASCII.test(s)) return s;
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

const TWO_POW_32 = 4294967296;

/**
 * A plain Kafka record.
 *  - key, value: Uint8Array or null (null value = tombstone). Decoded records hold
 *    views into the batch arena: valid during this call only; copy (`slice()`) to keep.
 *  - headers: array of [name: string, value: Uint8Array or null (a null header value)].
 *    Arrays from decodeBatch are frozen (and shared by the records of a batch whose
 *    headers have the same bytes): assign a new array to change them
 *    (`r.headers = [...r.headers, ['x', v]]`).
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
    // Where this record came from (its batch and the index of its first word in
    // `records`), and its decoded header list and topic, to reuse their words when
    // it is emitted again. Keys and values need no such copy: a view into the input
    // arena is referenced wherever it comes from. Timestamp and partition are
    // compared with the words themselves.
    this._src = -1;
    this._batch = null;
    this._headers = null;
    this._topic = null;
  }

  /** A copy of this record (same byte views) to change and emit as another record. */
  clone() {
    const r = new Record(this.key, this.value, this.headers, this.timestamp, this.topic, this.partition);
    r._src = this._src; r._batch = this._batch; r._headers = this._headers; r._topic = this._topic;
    return r;
  }
}

function isNone(v) { return v === undefined || v === null; }

/** True when `arena[o .. o + l]` is UTF-8 (strictly), without a view for ASCII. */
function isUtf8Span(arena, o, l) {
  for (let i = o, end = o + l; i < end; i++) {
    if (arena[i] >= 0x80) return isUtf8(arena.subarray(o, end));
  }
  return true;
}

/** True when `bytes` are UTF-8 (strictly: no overlong forms, surrogates or truncation). */
function isUtf8(bytes) {
  for (let i = 0; i < bytes.length; i++) {
    if (bytes[i] >= 0x80) {
      try { text(bytes); return true; } catch (_) { return false; }
    }
  }
  return true;
}

/**
 * Checks `batch` against the contract's rules, in the order every helper and the
 * host check them. Returns null for a valid batch, else
 * { record, field, header, message }: the record at fault (the record count when
 * none is), the field (`record-words`, `header-words`, `arena`, `flags`, `key`,
 * `value`, `topic`, `headers`, `header-name`, `header-value`), the header entry's
 * index for header fields (else null), and a message naming them.
 */
export function validateBatch(batch) {
  const arena = batch.arena;
  const words = batch.records;
  const hw = batch.headers;
  const n = Math.floor(words.length / RECORD_WORDS);
  const bad = (record, field, message, header = null) => ({ record, field, header, message: `record ${record}: ${message}` });
  if (words.length % RECORD_WORDS !== 0) {
    return bad(n, 'record-words', `the record list holds ${words.length} words, not a multiple of ${RECORD_WORDS}`);
  }
  if (hw.length % HEADER_WORDS !== 0) {
    return bad(n, 'header-words', `the header list holds ${hw.length} words, not a multiple of ${HEADER_WORDS}`);
  }
  const size = arena.length;
  if (size >= NULL_VALUE_LEN) return bad(n, 'arena', `the arena holds ${size} bytes, more than u32 offsets address`);
  const count = hw.length / HEADER_WORDS;
  // Words are read unsigned (`>>> 0`): QuickJS passes words of 2^31 and more as negatives.
  // Offset + length stays exact in a double.
  const outside = (what, o, l) => `${what} span ${o}..${o + l} exceeds the arena of ${size} bytes`;
  // Straight-line checks, no allocation per record: QuickJS interprets this loop,
  // and array literals or destructuring in it would cost microseconds per record.
  const KO = RECORD_KEY_OFFSET, KL = RECORD_KEY_LEN, VO = RECORD_VALUE_OFFSET, VL = RECORD_VALUE_LEN;
  const TO = RECORD_TOPIC_OFFSET, TL = RECORD_TOPIC_LEN, HS = RECORD_HEADERS_START, HL = RECORD_HEADERS_LEN;
  const FK = FLAG_KEY, FV = FLAG_VALUE, FT = FLAG_TOPIC, UNKNOWN = ~FLAGS_ALL;
  for (let i = 0, w = 0; i < n; i++, w += RECORD_WORDS) {
    const flags = words[w + RECORD_FLAGS] >>> 0;
    if ((flags & UNKNOWN) !== 0) return bad(i, 'flags', `unknown flag bits 0x${((flags & UNKNOWN) >>> 0).toString(16)}`);
    if (flags & FK) {
      const o = words[w + KO] >>> 0, l = words[w + KL] >>> 0;
      if (o + l > size) return bad(i, 'key', outside('key', o, l));
    }
    if (flags & FV) {
      const o = words[w + VO] >>> 0, l = words[w + VL] >>> 0;
      if (o + l > size) return bad(i, 'value', outside('value', o, l));
    }
    if (flags & FT) {
      const o = words[w + TO] >>> 0, l = words[w + TL] >>> 0;
      if (o + l > size) return bad(i, 'topic', outside('topic', o, l));
      if (!isUtf8Span(arena, o, l)) return bad(i, 'topic', 'topic is not UTF-8');
    }
    const start = words[w + HS] >>> 0, len = words[w + HL] >>> 0;
    if (start + len > count) return bad(i, 'headers', `headers ${start}+${len} exceed the ${count} headers of the batch`);
  }
  const NO = HEADER_NAME_OFFSET, NL = HEADER_NAME_LEN, HVO = HEADER_VALUE_OFFSET, HVL = HEADER_VALUE_LEN;
  for (let h = 0, x = 0; h < count; h++, x += HEADER_WORDS) {
    const no = hw[x + NO] >>> 0, nl = hw[x + NL] >>> 0;
    const vo = hw[x + HVO] >>> 0, vl = hw[x + HVL] >>> 0;
    let field = null;
    let problem = null;
    if (no + nl > size) { field = 'header-name'; problem = outside(`header ${h} name`, no, nl); }
    else if (!isUtf8Span(arena, no, nl)) { field = 'header-name'; problem = `header ${h} name is not UTF-8`; }
    else if (vl === NULL_VALUE_LEN) {
      if (vo !== 0) { field = 'header-value'; problem = `header ${h} value is null but its offset word is ${vo}, not 0`; }
    } else if (vo + vl > size) { field = 'header-value'; problem = outside(`header ${h} value`, vo, vl); }
    if (field !== null) {
      let record = n;
      for (let i = 0, w = 0; i < n; i++, w += RECORD_WORDS) {
        const start = words[w + RECORD_HEADERS_START] >>> 0;
        if (start <= h && h < start + (words[w + RECORD_HEADERS_LEN] >>> 0)) { record = i; break; }
      }
      return bad(record, field, problem, h);
    }
  }
  return null;
}

/**
 * Turns a WIT `batch` into plain records, in order. Throws a TypeError naming the
 * record and field when the batch breaks the contract (see validateBatch).
 * @returns {Record[]}
 */
export function decodeBatch(batch) {
  const problem = validateBatch(batch);
  if (problem !== null) throw new TypeError(`malformed batch: ${problem.message}`);
  const arena = batch.arena;
  const words = batch.records;
  const hw = batch.headers;
  const n = words.length / RECORD_WORDS;
  const out = new Array(n);
  const HW = HEADER_WORDS, NO = HEADER_NAME_OFFSET, NL = HEADER_NAME_LEN, HVO = HEADER_VALUE_OFFSET, HVL = HEADER_VALUE_LEN;
  // The header list decoded last: records of a batch mostly carry the same headers,
  // so a list whose bytes equal the previous record's is shared (it is frozen),
  // not decoded again. `prevAt` is the header word index it was decoded from.
  let prev = EMPTY_HEADERS, prevAt = 0;
  // Views made with the constructor: `subarray` looks up the species constructor
  // each time, which costs QuickJS about half a microsecond per view.
  const buf = arena.buffer, base = arena.byteOffset;
  for (let i = 0, w = 0; i < n; i++, w += RECORD_WORDS) {
    const flags = words[w + RECORD_FLAGS];
    let key = null, value = null, headers = EMPTY_HEADERS, timestamp = null, topic = null, partition = null;
    if (flags & FLAG_KEY) {
      const o = words[w + RECORD_KEY_OFFSET] >>> 0;
      key = new Uint8Array(buf, base + o, words[w + RECORD_KEY_LEN] >>> 0);
    }
    if (flags & FLAG_VALUE) {
      const o = words[w + RECORD_VALUE_OFFSET] >>> 0;
      value = new Uint8Array(buf, base + o, words[w + RECORD_VALUE_LEN] >>> 0);
    }
    const hl = words[w + RECORD_HEADERS_LEN] >>> 0;
    if (hl > 0) {
      const at = (words[w + RECORD_HEADERS_START] >>> 0) * HW;
      if (hl === prev.length && sameHeaders(arena, hw, prevAt, at, hl)) {
        headers = prev;
      } else {
        const list = new Array(hl);
        for (let j = 0, h = at; j < hl; j++, h += HW) {
          const no = hw[h + NO] >>> 0, vo = hw[h + HVO] >>> 0, vl = hw[h + HVL] >>> 0;
          list[j] = Object.freeze([text(new Uint8Array(buf, base + no, hw[h + NL] >>> 0)),
            vl === NULL_VALUE_LEN ? null : new Uint8Array(buf, base + vo, vl)]);
        }
        headers = Object.freeze(list);
        prev = headers;
        prevAt = at;
      }
    }
    // Low word unsigned, high word signed: exact for every |timestamp| < 2^53.
    if (flags & FLAG_TIMESTAMP) {
      timestamp = (words[w + RECORD_TIMESTAMP_HIGH] | 0) * TWO_POW_32 + (words[w + RECORD_TIMESTAMP_LOW] >>> 0);
    }
    if (flags & FLAG_TOPIC) {
      const o = words[w + RECORD_TOPIC_OFFSET] >>> 0;
      topic = text(new Uint8Array(buf, base + o, words[w + RECORD_TOPIC_LEN] >>> 0));
    }
    if (flags & FLAG_PARTITION) partition = words[w + RECORD_PARTITION] | 0;
    const r = new Record(key, value, headers, timestamp, topic, partition);
    r._src = w; r._batch = batch; r._headers = headers; r._topic = topic;
    out[i] = r;
  }
  return out;
}

/**
 * True when the `count` headers at word `b` of `hw` have the same names and values
 * (null-ness included) as those at word `a`, byte for byte.
 */
function sameHeaders(arena, hw, a, b, count) {
  if (a === b) return true;
  for (let end = a + count * HEADER_WORDS; a < end; a += HEADER_WORDS, b += HEADER_WORDS) {
    const al = hw[a + HEADER_NAME_LEN] >>> 0, avl = hw[a + HEADER_VALUE_LEN] >>> 0;
    if (al !== (hw[b + HEADER_NAME_LEN] >>> 0) || avl !== (hw[b + HEADER_VALUE_LEN] >>> 0)) return false;
    if (!sameBytes(arena, hw[a + HEADER_NAME_OFFSET] >>> 0, hw[b + HEADER_NAME_OFFSET] >>> 0, al)) return false;
    if (avl !== NULL_VALUE_LEN && !sameBytes(arena, hw[a + HEADER_VALUE_OFFSET] >>> 0, hw[b + HEADER_VALUE_OFFSET] >>> 0, avl)) return false;
  }
  return true;
}

function sameBytes(arena, a, b, n) {
  if (a === b) return true;
  for (let i = 0; i < n; i++) if (arena[a + i] !== arena[b + i]) return false;
  return true;
}

// ---------------------------------------------------------------------------
// Building output

const REJECT = Symbol('reject');
const RETRY = Symbol('retry');

/** An outcome marker: this input record is bad for good; `reason` says why. */
export function reject(reason) { return { [REJECT]: String(reason) }; }
/** An outcome marker: this input record may work later; the host retries it. */
export function retry(reason) { return { [RETRY]: String(reason) }; }

/** A Uint32Array holding the first `used` words of `words` and room for at least `need`. */
function grow(words, used, need) {
  let size = words.length * 2;
  while (size < need) size *= 2;
  const bigger = new Uint32Array(size);
  bigger.set(words.subarray(0, used));
  return bigger;
}

/**
 * Builds the output batch and the outcome of each input, in input order.
 * `input` (optional) is the batch the records were decoded from: its arena and
 * words are reused for unchanged fields.
 */
export class BatchBuilder {
  constructor(input = null) {
    this._input = input;
    this._base = input === null ? EMPTY_BYTES : input.arena;
    this._used = false; // whether any span points into the input arena
    this._chunks = [];
    this._size = 0; // bytes appended after the base
    const inputs = input === null ? 0 : input.records.length / RECORD_WORDS;
    this._records = new Uint32Array(Math.max(16, inputs) * RECORD_WORDS);
    this._rw = 0; // words used in _records
    this._headers = new Uint32Array(Math.max(16 * HEADER_WORDS, input === null ? 0 : input.headers.length));
    this._hw = 0; // words used in _headers
    this._emitted = new Uint32Array(Math.max(16, inputs));
    this._inputs = 0; // inputs accounted for: entries used in _emitted
    this._failures = [];
  }

  /** Accounts for the next input: the given records (zero or more) were emitted for it. */
  emit(...records) { return this.emitAll(records); }

  /** Same as emit, taking an array. An empty array filters the input out. */
  emitAll(records) {
    for (let i = 0; i < records.length; i++) this._push(records[i]);
    this._account(records.length);
    return this;
  }

  /** Accounts for the next input: it is rejected (the pipeline's error policy routes it). */
  reject(reason) {
    this._failures.push({ input: this._inputs, kind: 'reject', reason: String(reason) });
    this._account(0);
    return this;
  }

  /** Accounts for the next input: it should be retried later. */
  retry(reason) {
    this._failures.push({ input: this._inputs, kind: 'retry', reason: String(reason) });
    this._account(0);
    return this;
  }

  /** Adds records to the output batch without accounting for an input (for sources). */
  add(...records) { for (const r of records) this._push(r); return this; }

  /**
   * The WIT `transformed` value: { output: batch, emitted, failures }. With an
   * input batch, throws unless every one of its records was accounted for.
   */
  finish() {
    if (this._input !== null && this._inputs * RECORD_WORDS !== this._input.records.length) {
      throw new TypeError(`${this._inputs} outcomes for ${this._input.records.length / RECORD_WORDS} input records`);
    }
    return { output: this.batch(), emitted: this._emitted.subarray(0, this._inputs), failures: this._failures };
  }

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
    return { arena, records: this._records.subarray(0, this._rw), headers: this._headers.subarray(0, this._hw) };
  }

  _account(count) {
    if (this._inputs === this._emitted.length) this._emitted = grow(this._emitted, this._inputs, this._inputs + 1);
    this._emitted[this._inputs++] = count;
  }

  /**
   * The offset of `b` in the output arena: where it lies when it is a view into the
   * input arena (a decoded key or value, or any part of one), else where it is appended.
   */
  _place(b) {
    const base = this._base;
    if (b.buffer === base.buffer && b.length > 0) {
      const o = b.byteOffset - base.byteOffset;
      if (o >= 0 && o + b.length <= base.length) {
        this._used = true;
        return o;
      }
    }
    return this._append(b);
  }

  /** Appends bytes after the base arena; returns their offset. */
  _append(bytesValue) {
    const offset = this._base.length + this._size;
    if (bytesValue.length > 0) {
      this._chunks.push(bytesValue);
      this._size += bytesValue.length;
    }
    return offset;
  }

  _push(r) {
    if (r === null || typeof r !== 'object') throw new TypeError('an emitted record must be an object');
    const src = (this._input !== null && r._batch === this._input) ? r._src : -1;
    // `== null`: undefined or null, both mean absent.
    const key = r.key == null ? null : r.key;
    const value = r.value == null ? null : r.value;
    const headers = r.headers == null ? EMPTY_HEADERS : r.headers;
    const topic = r.topic == null ? null : r.topic;
    const ts = r.timestamp == null ? null : r.timestamp;
    const part = r.partition == null ? null : r.partition;
    if (src >= 0) this._used = true;
    // `words` is the input's record list: fields unchanged since decodeBatch copy
    // their words from it. Absent fields leave their words 0 (the array is zeroed
    // and never reused).
    const words = src >= 0 ? this._input.records : null;
    if (this._rw + RECORD_WORDS > this._records.length) {
      this._records = grow(this._records, this._rw, this._rw + RECORD_WORDS);
    }
    const out = this._records;
    const w = this._rw;
    this._rw += RECORD_WORDS;
    let flags = 0;
    const KO = RECORD_KEY_OFFSET, KL = RECORD_KEY_LEN, VO = RECORD_VALUE_OFFSET, VL = RECORD_VALUE_LEN;
    const TO = RECORD_TOPIC_OFFSET, TL = RECORD_TOPIC_LEN, TSL = RECORD_TIMESTAMP_LOW, TSH = RECORD_TIMESTAMP_HIGH;
    if (key !== null) {
      flags |= FLAG_KEY;
      const b = key instanceof Uint8Array ? key : toBytes(key, 'key');
      out[w + KO] = this._place(b); out[w + KL] = b.length;
    }
    if (value !== null) {
      flags |= FLAG_VALUE;
      const b = value instanceof Uint8Array ? value : toBytes(value, 'value');
      out[w + VO] = this._place(b); out[w + VL] = b.length;
    }
    // Headers are written in record order, so each record's headers follow those
    // of the record before it, whether copied from the input or new. The first
    // header index is the running count even for a record without headers.
    out[w + RECORD_HEADERS_START] = this._hw / HEADER_WORDS;
    if (src >= 0 && headers === r._headers) {
      const count = words[src + RECORD_HEADERS_LEN] >>> 0;
      if (count > 0) {
        this._copyHeaders(this._input.headers, (words[src + RECORD_HEADERS_START] >>> 0) * HEADER_WORDS, count * HEADER_WORDS);
        out[w + RECORD_HEADERS_LEN] = count;
      }
    } else if (headers.length > 0) {
      if (!Array.isArray(headers)) throw new TypeError('headers must be an array of [name, value]');
      this._addHeaders(headers, src >= 0 ? r : null);
      out[w + RECORD_HEADERS_LEN] = headers.length;
    }
    const had = src >= 0 ? words[src + RECORD_FLAGS] : 0;
    if (ts !== null) {
      flags |= FLAG_TIMESTAMP;
      if ((had & FLAG_TIMESTAMP) && ts === (words[src + TSH] | 0) * TWO_POW_32 + (words[src + TSL] >>> 0)) {
        out[w + TSL] = words[src + TSL]; out[w + TSH] = words[src + TSH];
      } else {
        setTimestamp(out, w + TSL, w + TSH, ts);
      }
    }
    if (topic !== null) {
      flags |= FLAG_TOPIC;
      if (src >= 0 && topic === r._topic) {
        out[w + TO] = words[src + TO]; out[w + TL] = words[src + TL];
      } else {
        const b = toBytes(topic, 'topic');
        if (typeof topic !== 'string' && !isUtf8(b)) throw new TypeError('a topic must be UTF-8');
        out[w + TO] = this._append(b); out[w + TL] = b.length;
      }
    }
    if (part !== null) {
      flags |= FLAG_PARTITION;
      if (!((had & FLAG_PARTITION) && part === (words[src + RECORD_PARTITION] | 0))
          && (!Number.isInteger(part) || part < -2147483648 || part > 2147483647)) {
        throw new TypeError('partition must be an integer from -2^31 to 2^31 - 1');
      }
      out[w + RECORD_PARTITION] = part; // a Uint32Array stores a negative s32 as its two's complement
    }
    out[w + RECORD_FLAGS] = flags;
  }

  /** Copies `n` header words starting at `from` of the input's header list. */
  _copyHeaders(hw, from, n) {
    if (this._hw + n > this._headers.length) this._headers = grow(this._headers, this._hw, this._hw + n);
    const out = this._headers;
    let h = this._hw;
    for (let i = from, end = from + n; i < end; i++) out[h++] = hw[i];
    this._hw = h;
  }

  /**
   * Appends the words of a new header list. A header that is the decoded header
   * at the same position of `r` (a record of the input batch, or null), as in
   * `[...r.headers, extra]`, keeps its words; any other appends its bytes.
   */
  _addHeaders(headers, r) {
    const n = headers.length * HEADER_WORDS;
    if (this._hw + n > this._headers.length) this._headers = grow(this._headers, this._hw, this._hw + n);
    const out = this._headers;
    const old = r === null ? EMPTY_HEADERS : r._headers;
    const hw = r === null ? null : this._input.headers;
    let from = r === null ? 0 : (this._input.records[r._src + RECORD_HEADERS_START] >>> 0) * HEADER_WORDS;
    let h = this._hw;
    for (let j = 0; j < headers.length; j++, h += HEADER_WORDS, from += HEADER_WORDS) {
      const hd = headers[j];
      if (j < old.length && hd === old[j]) {
        for (let k = 0; k < HEADER_WORDS; k++) out[h + k] = hw[from + k];
        continue;
      }
      if (!Array.isArray(hd) || hd.length !== 2) throw new TypeError('a header must be [name, value]');
      const name = toBytes(hd[0], 'header name');
      if (typeof hd[0] !== 'string' && !isUtf8(name)) throw new TypeError('a header name must be UTF-8');
      out[h + HEADER_NAME_OFFSET] = this._append(name); out[h + HEADER_NAME_LEN] = name.length;
      if (isNone(hd[1])) {
        // A null header value: offset 0, the null-value length.
        out[h + HEADER_VALUE_OFFSET] = 0; out[h + HEADER_VALUE_LEN] = NULL_VALUE_LEN;
      } else {
        const value = toBytes(hd[1], 'header value');
        out[h + HEADER_VALUE_OFFSET] = this._append(value); out[h + HEADER_VALUE_LEN] = value.length;
      }
    }
    this._hw = h;
  }
}

const S64_MIN = -(2n ** 63n);
const S64_MAX = 2n ** 63n - 1n;

/**
 * Writes timestamp `ts` (milliseconds: a BigInt, or anything Number() converts,
 * truncated toward zero) as the low and high 32 bits of an s64 at `words[low]`,
 * `words[high]`.
 */
function setTimestamp(words, low, high, ts) {
  if (typeof ts === 'bigint') {
    if (ts < S64_MIN || ts > S64_MAX) throw new TypeError('timestamp must fit in a signed 64-bit integer');
    const u = BigInt.asUintN(64, ts);
    words[low] = Number(u & 0xffffffffn);
    words[high] = Number(u >> 32n);
    return;
  }
  const n = Math.trunc(Number(ts));
  if (!Number.isFinite(n)) throw new TypeError('timestamp must be a finite number');
  // floor, so that the low word is in [0, 2^32) for negative timestamps too
  const hi = Math.floor(n / TWO_POW_32);
  if (hi < -2147483648 || hi > 2147483647) throw new TypeError('timestamp must fit in a signed 64-bit integer');
  words[low] = n - hi * TWO_POW_32;
  words[high] = hi; // a Uint32Array stores a negative high word as its two's complement
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
          const r = records[i];
          const res = f(r, i);
          // The common case first: the input record itself, changed or not.
          if (res === r) { b._push(r); b._account(1); }
          else if (res === null) b.emitAll([]);
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
