// JSON objects with the same acceptance and output rules as the Rust plugins
// (serde_json with `preserve_order`), so a JS transform is byte-identical to them.
//
// Accepts: UTF-8 text of exactly one JSON value (RFC 8259, surrounding JSON whitespace
// allowed), nesting at most 127 deep, no lone-surrogate escapes, no number
// outside the f64 range. Anything else is "not JSON".
//
// Writes compact JSON: keys in first-seen order (a repeated key keeps its first position
// and its last value), strings escaped as serde_json / JSON.stringify do, integers in
// [-2^63, 2^64-1] as written, every other number read and printed as serde_json 1.0.15x
// does (see number.js: `1.0`, `1e+21`, `1.5e-7`, `-0.0`).
//
// Fast path: native JSON.parse / JSON.stringify. A cheap regular expression picks out
// the rare texts where those differ from the rules above (fractions, exponents,
// integers of 16+ digits, -0, \u escapes, integer-like keys that JS objects would
// reorder, deep nesting); those go through the exact (slower) parser below.

import { text, bytes } from './sluice.js';
import { serdeNumber, OUT_OF_RANGE } from './number.js';

const SUSPECT = /\d[.eE]|\d{16}|-0(?![\d.eE])|\\u|"(?:0|[1-9]\d{0,9})"\s*:/;
const BRACKETS = /[[{]/g;
const NOT_JSON = {};

/**
 * A parsed JSON object. Use `JsonObject.parse(bytes)`, which returns null when the
 * bytes are not a JSON object.
 */
export class JsonObject {
  constructor(raw, obj, map) {
    this._raw = raw; // source text
    this._obj = obj; // plain object (fast path) or null
    this._map = map; // Map of entries (exact path) or null
  }

  /** Parses UTF-8 bytes; null when they are not exactly one JSON object. */
  static parse(data) {
    let raw;
    try {
      raw = text(data);
    } catch (_) {
      return null;
    }
    let v;
    try {
      v = JSON.parse(raw);
    } catch (_) {
      return null;
    }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
    if (!SUSPECT.test(raw)) {
      BRACKETS.lastIndex = 0;
      if (raw.length < 258 || (raw.match(BRACKETS) || []).length < 128) return new JsonObject(raw, v, null);
    }
    try {
      return new JsonObject(raw, null, new ExactParser(raw).document());
    } catch (e) {
      if (e === NOT_JSON) return null;
      throw e;
    }
  }

  /** Whether the top-level object has `field`. */
  has(field) {
    if (this._map !== null) return this._map.has(field);
    return Object.prototype.hasOwnProperty.call(this._obj, field);
  }

  /** Sets a top-level field to a string value (keeps its position, or appends it). */
  setString(field, value) {
    if (this._map !== null) this._map.set(field, String(value));
    else this._obj[field] = String(value);
  }

  /** Compact JSON text. */
  toString() {
    if (this._map === null) return JSON.stringify(this._obj);
    const out = [];
    write(this._map, out);
    return out.join('');
  }

  /** Compact JSON as UTF-8 bytes. */
  toBytes() { return bytes(this.toString()); }
}

class Num {
  constructor(raw, integer) { this.raw = raw; this.integer = integer; }
}

const NUMBER_AT = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?:^|[^\ud800-\udbff])[\udc00-\udfff]/;

function number(tok) {
  try {
    const n = serdeNumber(tok);
    return new Num(n.text, n.integer);
  } catch (e) {
    if (e === OUT_OF_RANGE) throw NOT_JSON; // serde_json: "number out of range"
    throw e;
  }
}

// A recursive-descent parser over text that JSON.parse already accepted: it only has
// to keep key order and number text, and check the limits JSON.parse does not.
class ExactParser {
  constructor(s) { this.s = s; this.i = 0; }

  document() {
    const v = this.value(0);
    return v;
  }

  ws() {
    const s = this.s;
    let i = this.i;
    for (;;) {
      const c = s.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    this.i = i;
  }

  value(depth) {
    this.ws();
    const s = this.s;
    const c = s.charCodeAt(this.i);
    if (c === 123 /* { */) {
      if (depth >= 127) throw NOT_JSON; // serde_json: recursion limit exceeded
      this.i++;
      const m = new Map();
      this.ws();
      if (s.charCodeAt(this.i) === 125) { this.i++; return m; }
      for (;;) {
        this.ws();
        const k = this.string();
        this.ws();
        this.i++; // :
        m.set(k, this.value(depth + 1));
        this.ws();
        if (s.charCodeAt(this.i++) === 125) return m; // } or ,
      }
    }
    if (c === 91 /* [ */) {
      if (depth >= 127) throw NOT_JSON;
      this.i++;
      const a = [];
      this.ws();
      if (s.charCodeAt(this.i) === 93) { this.i++; return a; }
      for (;;) {
        a.push(this.value(depth + 1));
        this.ws();
        if (s.charCodeAt(this.i++) === 93) return a;
      }
    }
    if (c === 34) return this.string();
    if (c === 116) { this.i += 4; return true; }
    if (c === 102) { this.i += 5; return false; }
    if (c === 110) { this.i += 4; return null; }
    NUMBER_AT.lastIndex = this.i;
    const m = NUMBER_AT.exec(s);
    this.i += m[0].length;
    return number(m[0]);
  }

  string() {
    const s = this.s;
    const start = this.i;
    let j = start + 1;
    let escaped = false;
    for (;;) {
      const c = s.charCodeAt(j);
      if (c === 34) break;
      if (c === 92) { escaped = true; j += 2; } else j++;
    }
    this.i = j + 1;
    if (!escaped) return s.slice(start + 1, j);
    const v = JSON.parse(s.slice(start, j + 1));
    if (LONE_SURROGATE.test(v)) throw NOT_JSON; // serde_json: lone surrogate escape
    return v;
  }
}

function write(v, out) {
  if (typeof v === 'string') out.push(JSON.stringify(v));
  else if (v instanceof Num) out.push(v.raw);
  else if (v instanceof Map) {
    out.push('{');
    let first = true;
    for (const [k, x] of v) {
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(k), ':');
      write(x, out);
    }
    out.push('}');
  } else if (Array.isArray(v)) {
    out.push('[');
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',');
      write(v[i], out);
    }
    out.push(']');
  } else out.push(String(v)); // true, false, null
}

// ---------------------------------------------------------------------------
// One top-level field, checked the way the Rust SDK's json::field does

/**
 * Finds the top-level key `name` in UTF-8 JSON bytes with exactly the checks
 * serde_json makes when it deserializes one wanted key and skips the rest: the whole
 * text must be one JSON object (syntax, no control characters in strings, valid
 * escapes, nothing after it); top-level keys and the wanted value(s) are fully
 * checked (UTF-8, surrogates, number range, depth); skipped values only for syntax.
 * @returns {null | {found: boolean, text: string | undefined}} null when the bytes are
 *   not accepted; `text` is the value's comparable text (see scalar text below).
 */
export function field(data, name) {
  let raw = null;
  try {
    raw = text(data);
  } catch (_) { /* invalid UTF-8 may sit in a skipped string: exact path */ }
  if (raw !== null) {
    let v;
    let parsed = true;
    try {
      v = JSON.parse(raw);
    } catch (_) {
      parsed = false;
    }
    if (parsed) {
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
      BRACKETS.lastIndex = 0;
      if (!SUSPECT.test(raw) && (raw.length < 258 || (raw.match(BRACKETS) || []).length < 128)) {
        if (!Object.prototype.hasOwnProperty.call(v, name)) return { found: false, text: undefined };
        return { found: true, text: jsScalarText(v[name]) };
      }
    }
  }
  try {
    return new FieldScanner(data).find(name);
  } catch (e) {
    if (e === NOT_JSON) return null;
    throw e;
  }
}

// Fast path only: numbers are integers of at most 15 digits there.
function jsScalarText(v) {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  return undefined;
}

function exactScalarText(v) {
  if (typeof v === 'string') return v;
  if (v instanceof Num) return v.raw;
  if (v === true || v === false) return String(v);
  if (v === null) return 'null';
  return undefined;
}

// A byte-level scanner, used when the fast path cannot decide.
class FieldScanner {
  constructor(b) { this.b = b; this.i = 0; }

  find(name) {
    const b = this.b;
    let result = { found: false, text: undefined };
    this.ws();
    if (b[this.i] !== 123) throw NOT_JSON;
    this.i++;
    this.ws();
    if (b[this.i] === 125) {
      this.i++;
    } else {
      for (;;) {
        this.ws();
        if (b[this.i] !== 34) throw NOT_JSON;
        const ks = this.i;
        this.skipString();
        const key = strictString(b.subarray(ks, this.i));
        this.ws();
        if (b[this.i] !== 58) throw NOT_JSON;
        this.i++;
        this.ws();
        const vs = this.i;
        this.skipValue();
        if (key === name) {
          let t;
          try {
            t = text(b.subarray(vs, this.i));
            JSON.parse(t);
          } catch (_) {
            throw NOT_JSON;
          }
          result = { found: true, text: exactScalarText(new ExactParser(t).value(1)) };
        }
        this.ws();
        const c = b[this.i++];
        if (c === 125) break;
        if (c !== 44) throw NOT_JSON;
      }
    }
    this.ws();
    if (this.i !== b.length) throw NOT_JSON;
    return result;
  }

  ws() {
    const b = this.b;
    while (this.i < b.length) {
      const c = b[this.i];
      if (c === 32 || c === 10 || c === 13 || c === 9) this.i++;
      else break;
    }
  }

  // serde_json's ignore_value: syntax only, any depth.
  skipValue() {
    const b = this.b;
    const c = b[this.i];
    if (c === 123 || c === 91) {
      const close = c === 123 ? 125 : 93;
      this.i++;
      this.ws();
      if (b[this.i] === close) { this.i++; return; }
      for (;;) {
        this.ws();
        if (c === 123) {
          if (b[this.i] !== 34) throw NOT_JSON;
          this.skipString();
          this.ws();
          if (b[this.i] !== 58) throw NOT_JSON;
          this.i++;
          this.ws();
        }
        this.skipValue();
        this.ws();
        const d = b[this.i++];
        if (d === close) return;
        if (d !== 44) throw NOT_JSON;
      }
    }
    if (c === 34) { this.skipString(); return; }
    if (c === 116) return this.lit('true');
    if (c === 102) return this.lit('false');
    if (c === 110) return this.lit('null');
    if (c === 45 || (c >= 48 && c <= 57)) return this.skipNumber();
    throw NOT_JSON;
  }

  lit(word) {
    for (let k = 0; k < word.length; k++) if (this.b[this.i + k] !== word.charCodeAt(k)) throw NOT_JSON;
    this.i += word.length;
  }

  skipNumber() {
    const b = this.b;
    const digits = () => { const s = this.i; while (b[this.i] >= 48 && b[this.i] <= 57) this.i++; return this.i > s; };
    if (b[this.i] === 45) this.i++;
    if (b[this.i] === 48) this.i++;
    else if (!(b[this.i] >= 49 && b[this.i] <= 57) || !digits()) throw NOT_JSON;
    if (b[this.i] === 46) { this.i++; if (!digits()) throw NOT_JSON; }
    if (b[this.i] === 101 || b[this.i] === 69) {
      this.i++;
      if (b[this.i] === 43 || b[this.i] === 45) this.i++;
      if (!digits()) throw NOT_JSON;
    }
  }

  skipString() {
    const b = this.b;
    this.i++;
    for (;;) {
      if (this.i >= b.length) throw NOT_JSON;
      const c = b[this.i];
      if (c === 34) { this.i++; return; }
      if (c < 0x20) throw NOT_JSON;
      if (c === 92) {
        const e = b[this.i + 1];
        if (e === 117) {
          for (let k = 2; k < 6; k++) {
            const h = b[this.i + k];
            if (!((h >= 48 && h <= 57) || (h >= 65 && h <= 70) || (h >= 97 && h <= 102))) throw NOT_JSON;
          }
          this.i += 6;
        } else if (e === 34 || e === 92 || e === 47 || e === 98 || e === 102 || e === 110 || e === 114 || e === 116) {
          this.i += 2;
        } else throw NOT_JSON;
      } else this.i++;
    }
  }
}

// A key, fully checked: UTF-8, escapes, no lone surrogates.
function strictString(tok) {
  let v;
  try {
    v = JSON.parse(text(tok));
  } catch (_) {
    throw NOT_JSON;
  }
  if (LONE_SURROGATE.test(v)) throw NOT_JSON;
  return v;
}
