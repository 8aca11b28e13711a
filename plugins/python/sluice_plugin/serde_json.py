"""JSON objects read and written exactly as the Rust plugins do (serde_json 1.0.15x
with `preserve_order`, default features), so Python transforms are byte-identical.

Accepts: strict UTF-8 text of one JSON value (no BOM, no NaN/Infinity, no lone
surrogate escapes, nesting at most 127 deep, numbers inside the f64 range).
Writes compact JSON: keys in first-seen order (a repeated key keeps its first place
and its last value), strings escaped like serde_json, integers in [-2^63, 2^64-1] as
written, every other number as serde_json reads and prints it (`1.0`, `1e+21`).

Fast path: the C `json` module. A cheap regular expression sends the rare texts where
it differs from serde_json (fractions, exponents, 16+ digit integers, -0, \\u escapes,
deep nesting) through the exact path, which keeps number text.
"""

import json
import re
from typing import Any, Dict, Optional

_SUSPECT = re.compile(r"\d[.eE]|\d{16}|-0(?![\d.eE])|\\u")
_SURROGATE = re.compile("[\ud800-\udfff]")
_U64_MAX = 2**64 - 1
_U64_MAX_DIV_10, _U64_MAX_MOD_10 = divmod(_U64_MAX, 10)
_POW10 = [float("1e%d" % i) for i in range(309)]


class NotJson(ValueError):
    """The bytes are not a JSON value serde_json accepts."""


def _no_constant(name: str) -> Any:
    raise NotJson(f"{name} is not JSON")


class Num:
    """A JSON number in the exact path: the text serde_json writes for it."""

    __slots__ = ("text", "integer")

    def __init__(self, text: str, integer: bool) -> None:
        self.text = text
        self.integer = integer


_fast_decoder = json.JSONDecoder(parse_constant=_no_constant)
_exact_decoder = json.JSONDecoder(parse_constant=_no_constant, parse_int=lambda t: serde_number(t),
                                  parse_float=lambda t: serde_number(t))
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


class JsonObject:
    """A parsed top-level JSON object. `JsonObject.parse(data)` returns None when
    `data` is not exactly one JSON object."""

    __slots__ = ("obj", "exact")

    def __init__(self, obj: Dict[str, Any], exact: bool) -> None:
        self.obj = obj
        self.exact = exact  # numbers are Num objects

    @staticmethod
    def parse(data: bytes) -> Optional["JsonObject"]:
        try:
            s = data.decode("utf-8")
            if _SUSPECT.search(s) is None and (s.count("{") + s.count("[")) < 128:
                v = _fast_decoder.decode(s)
                exact = False
            else:
                v = _exact_decoder.decode(s)
                exact = True
        except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            return None
        if type(v) is not dict:
            return None
        if exact and not _check(v, 1):
            return None
        return JsonObject(v, exact)

    def has(self, field: str) -> bool:
        return field in self.obj

    def set_string(self, field: str, value: str) -> None:
        """Sets a top-level field to a string (keeps its position, or appends it)."""
        self.obj[field] = str(value)

    def dumps(self) -> str:
        if not self.exact:
            return _dumps(self.obj)
        out: list = []
        _write(self.obj, out)
        return "".join(out)

    def to_bytes(self) -> bytes:
        return self.dumps().encode("utf-8")


def _check(v: Any, depth: int) -> bool:
    """Nesting at most 127 and no lone surrogates (exact path only)."""
    if depth > 127:
        return False
    t = type(v)
    if t is str:
        return _SURROGATE.search(v) is None
    if t is dict:
        for k, x in v.items():
            if _SURROGATE.search(k) is not None:
                return False
            if type(x) in (dict, list, str) and not _check(x, depth + 1 if type(x) is not str else depth):
                return False
        return True
    if t is list:
        for x in v:
            if type(x) in (dict, list, str) and not _check(x, depth + 1 if type(x) is not str else depth):
                return False
    return True


def _write(v: Any, out: list) -> None:
    t = type(v)
    if t is Num:
        out.append(v.text)
    elif t is dict:
        out.append("{")
        first = True
        for k, x in v.items():
            if not first:
                out.append(",")
            first = False
            out.append(_dumps(k))
            out.append(":")
            _write(x, out)
        out.append("}")
    elif t is list:
        out.append("[")
        for i, x in enumerate(v):
            if i:
                out.append(",")
            _write(x, out)
        out.append("]")
    else:
        out.append(_dumps(v))  # str, True, False, None


def serde_number(tok: str) -> Num:
    """Reads a JSON number token the way serde_json (default features) does."""
    positive = not tok.startswith("-")
    i = 0 if positive else 1
    n = len(tok)
    sig = 0
    if tok[i] == "0":
        i += 1
    else:
        while i < n and "0" <= tok[i] <= "9":
            d = ord(tok[i]) - 48
            if sig > _U64_MAX_DIV_10 or (sig == _U64_MAX_DIV_10 and d > _U64_MAX_MOD_10):
                exponent = 0
                while i < n and "0" <= tok[i] <= "9":
                    exponent += 1
                    i += 1
                return Num(format_f64(_fraction_and_exponent(tok, i, positive, sig, exponent)), False)
            sig = sig * 10 + d
            i += 1
    if i == n:
        if positive or 0 < sig <= 2**63:
            return Num(tok, True)
        return Num(format_f64(-float(sig)), False)
    return Num(format_f64(_fraction_and_exponent(tok, i, positive, sig, 0)), False)


def _fraction_and_exponent(tok: str, i: int, positive: bool, sig: int, exponent: int) -> float:
    n = len(tok)
    if i < n and tok[i] == ".":
        i += 1
        overflowed = False
        while i < n and "0" <= tok[i] <= "9":
            if not overflowed:
                d = ord(tok[i]) - 48
                if sig > _U64_MAX_DIV_10 or (sig == _U64_MAX_DIV_10 and d > _U64_MAX_MOD_10):
                    overflowed = True
                else:
                    sig = sig * 10 + d
                    exponent -= 1
            i += 1
    if i < n:  # e / E
        i += 1
        positive_exp = True
        if tok[i] == "+":
            i += 1
        elif tok[i] == "-":
            positive_exp = False
            i += 1
        exp = 0
        while i < n:
            d = ord(tok[i]) - 48
            if exp > 214748364 or (exp == 214748364 and d > 7):
                if sig != 0 and positive_exp:
                    raise NotJson("number out of range")
                return 0.0 if positive else -0.0
            exp = exp * 10 + d
            i += 1
        exponent = min(exponent + exp, 2**31 - 1) if positive_exp else max(exponent - exp, -(2**31))
    return _from_parts(positive, sig, exponent)


def _from_parts(positive: bool, sig: int, exponent: int) -> float:
    f = float(sig)
    while True:
        a = abs(exponent)
        if a <= 308:
            if exponent >= 0:
                f *= _POW10[a]
                if f == float("inf"):
                    raise NotJson("number out of range")
            else:
                f /= _POW10[a]
            break
        if f == 0.0:
            break
        if exponent >= 0:
            raise NotJson("number out of range")
        f /= 1e308
        exponent += 308
    return f if positive else -f


def format_f64(f: float) -> str:
    """A finite float as serde_json 1.0.15x (zmij) prints it: 1.0, 1e+21, 1.5e-7, -0.0."""
    if f == 0.0:
        return "-0.0" if str(f).startswith("-") else "0.0"
    s = repr(f)  # shortest round-trip digits
    sign = ""
    if s[0] == "-":
        sign, s = "-", s[1:]
    if "e" in s:
        mant, e_s = s.split("e")
        e = int(e_s)
    else:
        mant, e = s, 0
    if "." in mant:
        ip, fp = mant.split(".")
    else:
        ip, fp = mant, ""
    if e == 0 and "e" not in s:
        # repr gave fixed notation: normalise to digits + exponent of the first digit
        if fp == "0":
            fp = ""
        digits = (ip + fp).lstrip("0")
        if ip != "0":
            e = len(ip) - 1
        else:
            e = -(len(fp) - len(fp.lstrip("0"))) - 1
    else:
        digits = ip + fp
    digits = digits.rstrip("0") or "0"
    n = len(digits)
    if -5 <= e <= 15:
        if n - 1 <= e:
            return sign + digits + "0" * (e - n + 1) + ".0"
        if e >= 0:
            return sign + digits[: e + 1] + "." + digits[e + 1:]
        return sign + "0." + "0" * (-e - 1) + digits
    return sign + digits[0] + ("." + digits[1:] if n > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))


# ---------------------------------------------------------------------------
# One top-level field, checked the way the Rust SDK's json::field does

_MISSING = (True, False, None)


def field(data: bytes, name: str):
    """Finds the top-level key `name` with exactly the checks serde_json makes when it
    reads one wanted key and skips the rest: the whole text must be one JSON object
    (syntax, no control characters in strings, valid escapes, nothing after it);
    top-level keys and the wanted value(s) are fully checked (UTF-8, surrogates,
    number range, depth); skipped values only for syntax.

    Returns (accepted, found, text): `text` is the value's comparable text — a
    string's text, a number as serde_json writes it, "true", "false", "null" — or
    None for arrays and objects.
    """
    try:
        s = data.decode("utf-8")
        if _SUSPECT.search(s) is None and (s.count("{") + s.count("[")) < 128:
            v = _fast_decoder.decode(s)
            if type(v) is not dict:
                return (False, False, None)
            if name not in v:
                return _MISSING
            return (True, True, _py_scalar_text(v[name]))
    except (ValueError, RecursionError):
        pass  # invalid UTF-8 may sit in a skipped string: let the scanner decide
    try:
        return _FieldScanner(data).find(name)
    except (NotJson, ValueError, RecursionError, IndexError):
        return (False, False, None)


def _py_scalar_text(v: Any) -> Optional[str]:
    t = type(v)
    if t is str:
        return v
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    if t is int:  # fast path: integers of at most 15 digits
        return str(v)
    return None


def _exact_scalar_text(v: Any) -> Optional[str]:
    t = type(v)
    if t is str:
        return v
    if t is Num:
        return v.text
    if v is True:
        return "true"
    if v is False:
        return "false"
    if v is None:
        return "null"
    return None


_WS = b" \t\n\r"
_HEX = frozenset(b"0123456789abcdefABCDEF")
_ESC = frozenset(b'"\\/bfnrt')
_NUMBER_AT = re.compile(rb"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


class _FieldScanner:
    """Byte-level scanner for when the fast path cannot decide."""

    __slots__ = ("b", "i")

    def __init__(self, b: bytes) -> None:
        self.b = b
        self.i = 0

    def find(self, name: str):
        b = self.b
        result = _MISSING
        self.ws()
        if b[self.i] != 0x7B:
            raise NotJson("not an object")
        self.i += 1
        self.ws()
        if b[self.i] == 0x7D:
            self.i += 1
        else:
            while True:
                self.ws()
                if b[self.i] != 0x22:
                    raise NotJson("key")
                ks = self.i
                self.skip_string()
                key = _exact_decoder.decode(b[ks:self.i].decode("utf-8"))
                if _SURROGATE.search(key) is not None:
                    raise NotJson("lone surrogate")
                self.ws()
                if b[self.i] != 0x3A:
                    raise NotJson(":")
                self.i += 1
                self.ws()
                vs = self.i
                self.skip_value()
                if key == name:
                    v = _exact_decoder.decode(b[vs:self.i].decode("utf-8"))
                    if type(v) in (dict, list, str) and not _check(v, 2 if type(v) is not str else 1):
                        raise NotJson("depth or surrogate")
                    result = (True, True, _exact_scalar_text(v))
                self.ws()
                c = b[self.i]
                self.i += 1
                if c == 0x7D:
                    break
                if c != 0x2C:
                    raise NotJson(",")
        self.ws()
        if self.i != len(b):
            raise NotJson("trailing")
        return result

    def ws(self) -> None:
        b, i, n = self.b, self.i, len(self.b)
        while i < n and b[i] in _WS:
            i += 1
        self.i = i

    def skip_value(self) -> None:
        """serde_json's ignore_value: syntax only, any depth (explicit stack)."""
        b = self.b
        stack = []
        while True:
            self.ws()
            c = b[self.i]
            if c == 0x7B or c == 0x5B:
                self.i += 1
                self.ws()
                close = 0x7D if c == 0x7B else 0x5D
                if b[self.i] == close:
                    self.i += 1
                else:
                    stack.append(close)
                    if close == 0x7D:
                        self.key()
                    continue
            elif c == 0x22:
                self.skip_string()
            elif c == 0x74:
                self.lit(b"true")
            elif c == 0x66:
                self.lit(b"false")
            elif c == 0x6E:
                self.lit(b"null")
            else:
                m = _NUMBER_AT.match(b, self.i)
                if m is None:
                    raise NotJson("value")
                self.i = m.end()
            # after a value: close containers or go on after a comma
            while stack:
                self.ws()
                d = b[self.i]
                self.i += 1
                if d == stack[-1]:
                    stack.pop()
                    continue
                if d != 0x2C:
                    raise NotJson(",")
                if stack[-1] == 0x7D:
                    self.key()
                break
            else:
                return

    def key(self) -> None:
        self.ws()
        if self.b[self.i] != 0x22:
            raise NotJson("key")
        self.skip_string()
        self.ws()
        if self.b[self.i] != 0x3A:
            raise NotJson(":")
        self.i += 1

    def lit(self, word: bytes) -> None:
        if self.b[self.i:self.i + len(word)] != word:
            raise NotJson("literal")
        self.i += len(word)

    def skip_string(self) -> None:
        b = self.b
        i = self.i + 1
        n = len(b)
        while True:
            if i >= n:
                raise NotJson("eof")
            c = b[i]
            if c == 0x22:
                self.i = i + 1
                return
            if c < 0x20:
                raise NotJson("control character")
            if c == 0x5C:
                e = b[i + 1]
                if e == 0x75:
                    if len(b) < i + 6 or any(h not in _HEX for h in b[i + 2:i + 6]):
                        raise NotJson("escape")
                    i += 6
                elif e in _ESC:
                    i += 2
                else:
                    raise NotJson("escape")
            else:
                i += 1
