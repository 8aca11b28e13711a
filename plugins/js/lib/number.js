// JSON numbers exactly as the Rust plugins see and write them: serde_json 1.0.15x
// without `float_roundtrip` / `arbitrary_precision`, printing floats with zmij.
// Kept free of host imports so that it can be tested in Node directly.

const U64_MAX = 2n ** 64n - 1n;
const U64_MAX_DIV_10 = U64_MAX / 10n;
const U64_MAX_MOD_10 = U64_MAX % 10n;
const TWO_POW_63 = 2n ** 63n;
const POW10 = [];
for (let i = 0; i <= 308; i++) POW10.push(Number('1e' + i));

/** Thrown for a number serde_json refuses (out of f64 range). */
export const OUT_OF_RANGE = new RangeError('number out of range');

/**
 * Reads one JSON number token (already known to be valid JSON).
 * @returns {{text: string, integer: boolean}} the text serde_json writes for it, and
 *   whether serde_json holds it as an integer (u64 / i64).
 */
export function serdeNumber(tok) {
  let i = 0;
  const positive = tok.charCodeAt(0) !== 45; // '-'
  if (!positive) i = 1;
  let sig = 0n;
  let exponent = 0;
  // Integer part.
  if (tok.charCodeAt(i) === 48) {
    i++;
  } else {
    for (; i < tok.length; i++) {
      const c = tok.charCodeAt(i);
      if (c < 48 || c > 57) break;
      const d = BigInt(c - 48);
      if (sig > U64_MAX_DIV_10 || (sig === U64_MAX_DIV_10 && d > U64_MAX_MOD_10)) {
        // parse_long_integer: further integer digits only raise the exponent.
        for (; i < tok.length; i++) {
          const c2 = tok.charCodeAt(i);
          if (c2 < 48 || c2 > 57) break;
          exponent++;
        }
        return { text: formatF64(fractionAndExponent(tok, i, positive, sig, exponent)), integer: false };
      }
      sig = sig * 10n + d;
    }
  }
  if (i === tok.length) {
    if (positive) return { text: tok, integer: true };
    if (sig !== 0n && sig <= TWO_POW_63) return { text: tok, integer: true };
    return { text: formatF64(-Number(sig)), integer: false };
  }
  return { text: formatF64(fractionAndExponent(tok, i, positive, sig, 0)), integer: false };
}

// parse_decimal / parse_exponent / f64_from_parts, from position i of tok.
function fractionAndExponent(tok, i, positive, sig, exponent) {
  if (tok.charCodeAt(i) === 46) { // '.'
    i++;
    let overflowed = false;
    for (; i < tok.length; i++) {
      const c = tok.charCodeAt(i);
      if (c < 48 || c > 57) break;
      if (overflowed) continue;
      const d = BigInt(c - 48);
      if (sig > U64_MAX_DIV_10 || (sig === U64_MAX_DIV_10 && d > U64_MAX_MOD_10)) {
        overflowed = true; // parse_decimal_overflow: ignore the remaining digits
        continue;
      }
      sig = sig * 10n + d;
      exponent--;
    }
  }
  if (i < tok.length) { // 'e' | 'E'
    i++;
    let positiveExp = true;
    if (tok[i] === '+') i++;
    else if (tok[i] === '-') { positiveExp = false; i++; }
    let exp = 0;
    for (; i < tok.length; i++) {
      const d = tok.charCodeAt(i) - 48;
      if (exp > 214748364 || (exp === 214748364 && d > 7)) { // i32 overflow
        if (sig !== 0n && positiveExp) throw OUT_OF_RANGE;
        return positive ? 0 : -0;
      }
      exp = exp * 10 + d;
    }
    exponent = positiveExp ? Math.min(exponent + exp, 2147483647) : Math.max(exponent - exp, -2147483648);
  }
  return fromParts(positive, sig, exponent);
}

function fromParts(positive, sig, exponent) {
  let f = Number(sig); // u64 -> f64, round to nearest even
  for (;;) {
    const a = Math.abs(exponent);
    if (a <= 308) {
      if (exponent >= 0) {
        f *= POW10[a];
        if (f === Infinity) throw OUT_OF_RANGE;
      } else {
        f /= POW10[a];
      }
      break;
    }
    if (f === 0) break;
    if (exponent >= 0) throw OUT_OF_RANGE;
    f /= 1e308;
    exponent += 308;
  }
  return positive ? f : -f;
}

/** Formats a finite f64 the way serde_json 1.0.15x does (zmij): 1.0, 1e+21, 1.5e-7, -0.0. */
export function formatF64(f) {
  if (f === 0) return Object.is(f, -0) ? '-0.0' : '0.0';
  let s = f.toExponential(); // shortest round-trip digits: "d.ddde+x"
  let sign = '';
  if (s.charCodeAt(0) === 45) { sign = '-'; s = s.slice(1); }
  const ei = s.indexOf('e');
  const digits = s.charCodeAt(1) === 46 ? s[0] + s.slice(2, ei) : s.slice(0, ei);
  const e = Number(s.slice(ei + 1));
  const n = digits.length;
  if (e >= -5 && e <= 15) {
    if (n - 1 <= e) return sign + digits + '0'.repeat(e - n + 1) + '.0';
    if (e >= 0) return sign + digits.slice(0, e + 1) + '.' + digits.slice(e + 1);
    return sign + '0.' + '0'.repeat(-e - 1) + digits;
  }
  return sign + digits[0] + (n > 1 ? '.' + digits.slice(1) : '') + (e >= 0 ? 'e+' : 'e-') + Math.abs(e);
}
