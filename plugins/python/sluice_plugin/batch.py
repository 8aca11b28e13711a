"""Plain records <-> the WIT `batch` (one byte arena + two flat lists of u32 words).

Layout (wit/types.wit): `records` holds RECORD_WORDS words per record (presence
flags, key and value spans, header range, timestamp low and high words, topic span,
partition); `headers` holds HEADER_WORDS words per header (name span, value span or
the null-value length). The word positions and flag bits come from `layout`,
generated from the same WIT by `make gen`. `validate_batch` applies the contract's
one rule (the same as the host's and the other helpers', checked against
batch/vectors/batches.json).

Speed: decoding checks the batch first (one pass over the words), then makes one
small object per record; encoding reuses the input arena and header words, so a
record emitted unchanged costs one copy of its words, and a changed record appends
only its new bytes. A result costs one int per input in `emitted`; only rejected or
retried inputs get a `failures` entry.
"""

from functools import reduce
from operator import add, or_
from typing import Callable, Iterable, List, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world.exports import transformer as _t
from wit_world.imports import types as _types

from .layout import (
    FLAG_KEY as _KEY,
    FLAG_PARTITION as _PARTITION,
    FLAG_TIMESTAMP as _TIMESTAMP,
    FLAG_TOPIC as _TOPIC,
    FLAG_VALUE as _VALUE,
    FLAGS_ALL as _FLAGS_ALL,
    HEADER_NAME_LEN as _H_NAME_LEN,
    HEADER_NAME_OFFSET as _H_NAME_OFFSET,
    HEADER_VALUE_LEN as _H_VALUE_LEN,
    HEADER_VALUE_OFFSET as _H_VALUE_OFFSET,
    HEADER_WORDS,
    NULL_VALUE_LEN,
    RECORD_FLAGS as _R_FLAGS,
    RECORD_HEADERS_LEN as _R_HEADERS_LEN,
    RECORD_HEADERS_START as _R_HEADERS_START,
    RECORD_KEY_LEN as _R_KEY_LEN,
    RECORD_KEY_OFFSET as _R_KEY_OFFSET,
    RECORD_PARTITION as _R_PARTITION,
    RECORD_TIMESTAMP_HIGH as _R_TS_HIGH,
    RECORD_TIMESTAMP_LOW as _R_TS_LOW,
    RECORD_TOPIC_LEN as _R_TOPIC_LEN,
    RECORD_TOPIC_OFFSET as _R_TOPIC_OFFSET,
    RECORD_VALUE_LEN as _R_VALUE_LEN,
    RECORD_VALUE_OFFSET as _R_VALUE_OFFSET,
    RECORD_WORDS,
)

Header = Tuple[str, Optional[bytes]]

_EMPTY: Tuple[Header, ...] = ()


class Record:
    """A plain Kafka record.

    key, value: bytes or None (a None value is a tombstone).
    headers: tuple of (name: str, value: bytes or None) pairs, in order (repeats
        allowed; a None value is a null header value). Assign a new tuple or list
        to change them.
    timestamp: milliseconds since the Unix epoch (int, may be negative) or None.
    topic: str or None (overrides the sink topic); partition: int or None.
    """

    # _src: index of the record's first word in its batch's `records` list (None
    # for a record made here); _key .. _partition: the decoded fields, to tell
    # which ones the plugin changed.
    __slots__ = (
        "key", "value", "headers", "timestamp", "topic", "partition",
        "_src", "_batch", "_key", "_value", "_headers", "_ts", "_topic", "_partition",
    )

    def __init__(
        self,
        key: Optional[bytes] = None,
        value: Optional[bytes] = None,
        headers: Sequence[Header] = _EMPTY,
        timestamp: Optional[int] = None,
        topic: Optional[str] = None,
        partition: Optional[int] = None,
    ) -> None:
        self.key = key
        self.value = value
        self.headers = headers
        self.timestamp = timestamp
        self.topic = topic
        self.partition = partition
        self._src = None
        self._batch = None

    def copy(self) -> "Record":
        """A copy to change and emit as another record (unchanged fields stay cheap)."""
        r = Record(self.key, self.value, self.headers, self.timestamp, self.topic, self.partition)
        if self._src is not None:
            r._src, r._batch = self._src, self._batch
            r._key, r._value, r._headers = self._key, self._value, self._headers
            r._ts, r._topic, r._partition = self._ts, self._topic, self._partition
        return r

    def __repr__(self) -> str:
        return (f"Record(key={self.key!r}, value={self.value!r}, headers={self.headers!r}, "
                f"timestamp={self.timestamp!r}, topic={self.topic!r}, partition={self.partition!r})")


class BatchError(ValueError):
    """A batch that breaks the contract: the record at fault (the record count when
    none is), the field (`record-words`, `header-words`, `arena`, `flags`, `key`,
    `value`, `topic`, `headers`, `header-name`, `header-value`), the header entry's
    index for header fields (else None), and a message naming them."""

    def __init__(self, record: int, field: str, message: str, header: Optional[int] = None) -> None:
        super().__init__(f"record {record}: {message}")
        self.record = record
        self.field = field
        self.header = header


def _is_utf8(b: bytes) -> bool:
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _plainly_valid(batch: _types.Batch) -> bool:
    """True when `batch` keeps the contract's rules by a sufficient check made of a
    few whole-list passes in C (slices, map, max): every span of every record fits,
    flagged or not; no topics; every header name ASCII; no null header values.
    False says nothing: validate_batch then checks record by record. A Python loop
    over the records costs microseconds per record in componentize-py."""
    arena, words, hw = batch.arena, batch.records, batch.headers
    rw, size = RECORD_WORDS, len(arena)
    if not words or len(words) % rw or len(hw) % HEADER_WORDS or size >= NULL_VALUE_LEN:
        return False
    # Unknown flag bits, or a topic (whose UTF-8 the record loop checks).
    if reduce(or_, words[_R_FLAGS::rw]) & (~_FLAGS_ALL | _TOPIC):
        return False
    if (max(map(add, words[_R_KEY_OFFSET::rw], words[_R_KEY_LEN::rw])) > size
            or max(map(add, words[_R_VALUE_OFFSET::rw], words[_R_VALUE_LEN::rw])) > size
            or max(map(add, words[_R_HEADERS_START::rw], words[_R_HEADERS_LEN::rw])) > len(hw) // HEADER_WORDS):
        return False
    if hw:
        hs = HEADER_WORDS
        names, ends = hw[_H_NAME_OFFSET::hs], list(map(add, hw[_H_NAME_OFFSET::hs], hw[_H_NAME_LEN::hs]))
        if max(ends) > size or max(map(add, hw[_H_VALUE_OFFSET::hs], hw[_H_VALUE_LEN::hs])) > size:
            return False  # a span outside the arena, or a null header value
        if not b"".join(map(arena.__getitem__, map(slice, names, ends))).isascii():
            return False
    return True


def validate_batch(batch: _types.Batch) -> None:
    """Raises BatchError unless `batch` keeps the contract's rules, checked in the
    same order as the host and every other helper check them."""
    if _plainly_valid(batch):
        return
    arena, words, hw = batch.arena, batch.records, batch.headers
    n = len(words) // RECORD_WORDS
    if len(words) % RECORD_WORDS:
        raise BatchError(n, "record-words", f"the record list holds {len(words)} words, not a multiple of {RECORD_WORDS}")
    if len(hw) % HEADER_WORDS:
        raise BatchError(n, "header-words", f"the header list holds {len(hw)} words, not a multiple of {HEADER_WORDS}")
    size = len(arena)
    if size >= NULL_VALUE_LEN:
        raise BatchError(n, "arena", f"the arena holds {size} bytes, more than u32 offsets address")
    count = len(hw) // HEADER_WORDS

    def outside(what: str, o: int, n_: int) -> str:
        return f"{what} span {o}..{o + n_} exceeds the arena of {size} bytes"

    spans = ((_KEY, _R_KEY_OFFSET, _R_KEY_LEN, "key"), (_VALUE, _R_VALUE_OFFSET, _R_VALUE_LEN, "value"),
             (_TOPIC, _R_TOPIC_OFFSET, _R_TOPIC_LEN, "topic"))
    for i in range(n):
        w = i * RECORD_WORDS
        f = words[w + _R_FLAGS]
        if f & ~_FLAGS_ALL:
            raise BatchError(i, "flags", f"unknown flag bits {f & ~_FLAGS_ALL:#x}")
        for bit, at, ln, name in spans:
            if f & bit and words[w + at] + words[w + ln] > size:
                raise BatchError(i, name, outside(name, words[w + at], words[w + ln]))
        if f & _TOPIC:
            o = words[w + _R_TOPIC_OFFSET]
            if not _is_utf8(arena[o:o + words[w + _R_TOPIC_LEN]]):
                raise BatchError(i, "topic", "topic is not UTF-8")
        hs, hn = words[w + _R_HEADERS_START], words[w + _R_HEADERS_LEN]
        if hs + hn > count:
            raise BatchError(i, "headers", f"headers {hs}+{hn} exceed the {count} headers of the batch")
    for h in range(count):
        x = h * HEADER_WORDS
        no, nl, vo, vl = hw[x + _H_NAME_OFFSET], hw[x + _H_NAME_LEN], hw[x + _H_VALUE_OFFSET], hw[x + _H_VALUE_LEN]
        problem = None
        if no + nl > size:
            problem = ("header-name", outside(f"header {h} name", no, nl))
        elif not _is_utf8(arena[no:no + nl]):
            problem = ("header-name", f"header {h} name is not UTF-8")
        elif vl == NULL_VALUE_LEN:
            if vo:
                problem = ("header-value", f"header {h} value is null but its offset word is {vo}, not 0")
        elif vo + vl > size:
            problem = ("header-value", outside(f"header {h} value", vo, vl))
        if problem is not None:
            record = n
            for i in range(n):
                hs = words[i * RECORD_WORDS + _R_HEADERS_START]
                if hs <= h < hs + words[i * RECORD_WORDS + _R_HEADERS_LEN]:
                    record = i
                    break
            raise BatchError(record, problem[0], problem[1], h)


def decode_batch(batch: _types.Batch) -> List[Record]:
    """Turns a WIT `batch` into plain records, in order. Raises BatchError (naming
    the record and field) when the batch breaks the contract."""
    validate_batch(batch)
    arena = batch.arena
    hw = batch.headers
    words = batch.records
    out = []
    append = out.append
    new = Record.__new__
    null = NULL_VALUE_LEN
    rw = RECORD_WORDS
    # Header lists by their raw bytes: records of a batch mostly carry the same
    # headers, and the tuples are immutable, so equal ones are shared.
    seen = {}
    # zip over strided slices: each record's words come out unpacked, without the
    # index arithmetic a Python loop would spend on every field.
    for src, f, ko, kl, vo, vl, hs, hn in zip(
        range(0, len(words), rw), words[_R_FLAGS::rw], words[_R_KEY_OFFSET::rw], words[_R_KEY_LEN::rw],
        words[_R_VALUE_OFFSET::rw], words[_R_VALUE_LEN::rw], words[_R_HEADERS_START::rw], words[_R_HEADERS_LEN::rw],
    ):
        r = new(Record)
        r.key = r._key = arena[ko:ko + kl] if f & _KEY else None
        r.value = r._value = arena[vo:vo + vl] if f & _VALUE else None
        if hn:
            raw = []
            for x in range(hs * HEADER_WORDS, (hs + hn) * HEADER_WORDS, HEADER_WORDS):
                no, hvo, hvl = hw[x + _H_NAME_OFFSET], hw[x + _H_VALUE_OFFSET], hw[x + _H_VALUE_LEN]
                raw.append(arena[no:no + hw[x + _H_NAME_LEN]])
                raw.append(None if hvl == null else arena[hvo:hvo + hvl])
            raw = tuple(raw)
            headers = seen.get(raw)
            if headers is None:
                headers = tuple((raw[j].decode("utf-8"), raw[j + 1]) for j in range(0, len(raw), 2))
                seen[raw] = headers
            r.headers = r._headers = headers
        else:
            r.headers = r._headers = _EMPTY
        if f & _TIMESTAMP:
            th = words[src + _R_TS_HIGH]
            t = th << 32 | words[src + _R_TS_LOW]
            r.timestamp = r._ts = t - (1 << 64) if th & 0x80000000 else t
        else:
            r.timestamp = r._ts = None
        if f & _TOPIC:
            to = words[src + _R_TOPIC_OFFSET]
            r.topic = r._topic = arena[to:to + words[src + _R_TOPIC_LEN]].decode("utf-8")
        else:
            r.topic = r._topic = None
        if f & _PARTITION:
            p = words[src + _R_PARTITION]
            r.partition = r._partition = p - (1 << 32) if p & 0x80000000 else p
        else:
            r.partition = r._partition = None
        r._src = src
        r._batch = batch
        append(r)
    return out


def _as_bytes(v: Union[bytes, bytearray, memoryview, str], what: str) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"{what} must be bytes, str or None")


def _as_text(v: Union[str, bytes, bytearray, memoryview], what: str) -> bytes:
    """The UTF-8 bytes of a header name or topic; bytes must already be UTF-8."""
    if isinstance(v, str):
        return v.encode("utf-8")
    b = _as_bytes(v, what)
    try:
        b.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{what} is not UTF-8") from None
    return b


class BatchBuilder:
    """Builds an output batch and the result of each input, in input order.

    `input` (optional) is the batch the records were decoded from: its arena and
    words are reused for every field a record did not change.

    `emitted` holds one count per input so far; `failures` one WIT `failure` per
    rejected or retried input.
    """

    __slots__ = ("_input", "_base", "_in_words", "_chunks", "_size", "_nheaders", "_hwords", "_hend",
                 "_words", "emitted", "failures")

    def __init__(self, input: Optional[_types.Batch] = None) -> None:
        self._input = input
        self._base = b"" if input is None else input.arena
        self._in_words: List[int] = [] if input is None else input.records
        self._chunks: List[bytes] = []
        self._size = len(self._base)
        # The output header list is the input's followed by _hwords; _nheaders counts
        # both. Records must use it in record order: _hend is where the headers of the
        # last record with any end, and a reused range that starts before it is copied.
        self._nheaders = 0 if input is None else len(input.headers) // HEADER_WORDS
        self._hwords: List[int] = []
        self._hend = 0
        self._words: List[int] = []
        self.emitted: List[int] = []
        self.failures: List[_t.Failure] = []

    def emit(self, *records: Record) -> "BatchBuilder":
        """Adds one result: these records (zero or more) came from the next input."""
        return self.emit_all(records)

    def emit_all(self, records: Iterable[Record]) -> "BatchBuilder":
        """Same as emit, taking an iterable. An empty one filters the input out."""
        words = self._words
        start = len(words)
        push = self._push
        for r in records:
            push(r)
        self.emitted.append((len(words) - start) // RECORD_WORDS)
        return self

    def reject(self, reason: str) -> "BatchBuilder":
        """Adds one result: the next input is bad for good (the error policy routes it)."""
        self.failures.append(_t.Failure(len(self.emitted), _t.FailureKind.REJECT, str(reason)))
        self.emitted.append(0)
        return self

    def retry(self, reason: str) -> "BatchBuilder":
        """Adds one result: the next input may work later; the host retries it."""
        self.failures.append(_t.Failure(len(self.emitted), _t.FailureKind.RETRY, str(reason)))
        self.emitted.append(0)
        return self

    def add(self, *records: Record) -> "BatchBuilder":
        """Adds records without a result (for sources)."""
        for r in records:
            self._push(r)
        return self

    def batch(self) -> _types.Batch:
        """The WIT `batch` built so far."""
        words = self._words
        if not words:
            return _types.Batch(arena=b"", records=[], headers=[])
        # Reused spans point into the input arena and header list, new ones after them.
        arena = b"".join([self._base, *self._chunks]) if self._chunks else self._base
        inp = self._input
        if inp is None:
            headers = self._hwords
        else:
            headers = inp.headers + self._hwords if self._hwords else inp.headers
        return _types.Batch(arena=arena, records=words, headers=headers)

    def finish(self) -> _t.Transformed:
        """The WIT `transformed` value."""
        return _t.Transformed(self.batch(), self.emitted, self.failures)

    def _span(self, data: bytes) -> Tuple[int, int]:
        off = self._size
        n = len(data)
        if n:
            self._chunks.append(data)
            self._size = off + n
        return off, n

    def _push(self, r: Record) -> None:
        inp = self._input
        src = r._src if (inp is not None and r._batch is inp) else None
        key, value, headers, ts, topic, part = r.key, r.value, r.headers, r.timestamp, r.topic, r.partition
        w = self._in_words
        if src is not None and (key is r._key and headers is r._headers
                                and ts == r._ts and topic is r._topic and part == r._partition):
            hn = w[src + _R_HEADERS_LEN]
            if not hn or w[src + _R_HEADERS_START] >= self._hend:
                # Untouched but perhaps for its value, and its headers in order: its
                # words are still right, the value's span aside.
                if value is r._value:
                    if hn:
                        self._hend = w[src + _R_HEADERS_START] + hn
                    self._words += w[src:src + RECORD_WORDS]
                    return
                if type(value) is bytes:
                    if hn:
                        self._hend = w[src + _R_HEADERS_START] + hn
                    e = w[src:src + RECORD_WORDS]
                    e[_R_FLAGS] |= _VALUE
                    e[_R_VALUE_OFFSET], e[_R_VALUE_LEN] = self._span(value)
                    self._words += e
                    return
        span = self._span
        flags = 0
        if key is None:
            ko = kl = 0
        else:
            flags = _KEY
            if src is not None and key is r._key:
                ko, kl = w[src + _R_KEY_OFFSET], w[src + _R_KEY_LEN]
            else:
                ko, kl = span(_as_bytes(key, "key"))
        if value is None:
            vo = vl = 0
        else:
            flags |= _VALUE
            if src is not None and value is r._value:
                vo, vl = w[src + _R_VALUE_OFFSET], w[src + _R_VALUE_LEN]
            else:
                vo, vl = span(_as_bytes(value, "value"))
        if src is not None and headers is r._headers:
            hs, hn = w[src + _R_HEADERS_START], w[src + _R_HEADERS_LEN]
            if hn:
                if hs < self._hend:
                    # Emitted again, or after a record whose headers were appended:
                    # copy the header words to keep record order.
                    j = hs * HEADER_WORDS
                    self._hwords += self._input.headers[j:j + hn * HEADER_WORDS]
                    hs = self._nheaders
                    self._nheaders = hs + hn
                self._hend = hs + hn
        elif headers:
            hs = self._nheaders
            hw = self._hwords
            hn = 0
            entry = [0] * HEADER_WORDS
            for name, hv in headers:
                no, nl = span(_as_text(name, "header name"))
                if hv is None:
                    # A null header value: offset 0, the null-value length.
                    ho, hl = 0, NULL_VALUE_LEN
                else:
                    ho, hl = span(_as_bytes(hv, "header value"))
                entry[_H_NAME_OFFSET], entry[_H_NAME_LEN] = no, nl
                entry[_H_VALUE_OFFSET], entry[_H_VALUE_LEN] = ho, hl
                hw += entry
                hn += 1
            if hn:
                self._nheaders = self._hend = hs + hn
        else:
            hs = hn = 0
        if ts is None:
            tl = th = 0
        else:
            flags |= _TIMESTAMP
            t = int(ts)
            if not -(1 << 63) <= t < 1 << 63:
                raise ValueError(f"timestamp {t} is outside the signed 64-bit range")
            tl, th = t & 0xFFFFFFFF, (t >> 32) & 0xFFFFFFFF
        if topic is None:
            to = tn = 0
        else:
            flags |= _TOPIC
            if src is not None and topic is r._topic:
                to, tn = w[src + _R_TOPIC_OFFSET], w[src + _R_TOPIC_LEN]
            else:
                to, tn = span(_as_text(topic, "topic"))
        if part is None:
            p = 0
        else:
            flags |= _PARTITION
            p = int(part)
            if not -(1 << 31) <= p < 1 << 31:
                raise ValueError(f"partition {p} is outside the signed 32-bit range")
            p &= 0xFFFFFFFF
        e = [0] * RECORD_WORDS
        e[_R_FLAGS] = flags
        e[_R_KEY_OFFSET], e[_R_KEY_LEN] = ko, kl
        e[_R_VALUE_OFFSET], e[_R_VALUE_LEN] = vo, vl
        e[_R_HEADERS_START], e[_R_HEADERS_LEN] = hs, hn
        e[_R_TS_LOW], e[_R_TS_HIGH] = tl, th
        e[_R_TOPIC_OFFSET], e[_R_TOPIC_LEN] = to, tn
        e[_R_PARTITION] = p
        self._words += e


def encode_batch(records: Iterable[Record]) -> _types.Batch:
    """Builds a WIT `batch` from plain records (for sources and tests)."""
    return BatchBuilder().add(*records).batch()


class _Reject:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = str(reason)


class _Retry:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = str(reason)


def reject(reason: str) -> _Reject:
    """Outcome marker: this input record is bad for good; `reason` says why."""
    return _Reject(reason)


def retry(reason: str) -> _Retry:
    """Outcome marker: this input record may work later; the host retries it."""
    return _Retry(reason)


class ConfigError(Exception):
    """Raised from `open`: a config-error naming its key (or None)."""

    def __init__(self, key: Optional[str], message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class RetryableError(Exception):
    """Raised from `transform`: the whole call fails and the host retries it later."""


class Config:
    """The plugin configuration: the pipeline file's key/value pairs, in order.

    Same rules and messages as the Rust SDK: a key given twice is an error, and after
    `open` every key no getter read is refused, naming the keys that were asked for.
    Messages never quote values (they may be secrets).
    """

    __slots__ = ("_entries", "_read", "_known")

    def __init__(self, entries: Sequence[Tuple[str, str]]) -> None:
        self._entries = [(k, v) for k, v in entries]
        self._read = [False] * len(self._entries)
        self._known: List[str] = []
        for i, (k, _) in enumerate(self._entries):
            if any(k2 == k for k2, _ in self._entries[:i]):
                raise ConfigError(k, f"`{k}` is given twice; keep one")

    def get(self, key: str) -> Optional[str]:
        """The value of `key` (marking it read), or None."""
        if key not in self._known:
            self._known.append(key)
        for i, (k, v) in enumerate(self._entries):
            if k == key:
                self._read[i] = True
                return v
        return None

    def required(self, key: str) -> str:
        """The value of `key`; absent raises ConfigError naming it."""
        v = self.get(key)
        if v is None:
            raise ConfigError(key, f"`{key}` is required; add `{key}: <value>`")
        return v

    def optional(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """The value of `key`, or `default` when absent."""
        v = self.get(key)
        return default if v is None else v

    def finish(self) -> None:
        """Refuses the first key no getter read (called for you after `open`)."""
        for (k, _), read in zip(self._entries, self._read):
            if not read:
                if not self._known:
                    raise ConfigError(k, f"unknown key `{k}`: this plugin takes no configuration")
                known = ", ".join(f"`{x}`" for x in self._known)
                raise ConfigError(k, f"unknown key `{k}`: this plugin accepts {known}")


Result = Union[Record, Sequence[Record], None, _Reject, _Retry]


def define_transformer(
    open: Optional[Callable[[Config], None]],
    transform: Callable[[Record], Result],
) -> type:
    """Makes the `Transformer` class componentize-py exports, from two functions.

    open(config): config is a Config (required/optional); raise ConfigError.
    transform(record): return a Record (emit it), a list of Records ([] drops),
    None (drops), reject(reason) or retry(reason). An exception fails the whole
    call: RetryableError as call-error `retryable`, anything else as `fatal`.
    """

    class Transformer:
        def open(self, config):
            try:
                c = Config(config)
                if open is not None:
                    open(c)
                c.finish()
            except ConfigError as e:
                raise Err(_types.ConfigError(e.key, e.message))
            except Exception as e:  # noqa: BLE001 - any failure is a config error here
                raise Err(_types.ConfigError(None, f"{type(e).__name__}: {e}"))

        def process(self, input):
            try:
                b = BatchBuilder(input)
                push = b._push
                count = b.emitted.append
                fail = b.failures.append
                Failure, REJECT, RETRY = _t.Failure, _t.FailureKind.REJECT, _t.FailureKind.RETRY
                for i, r in enumerate(decode_batch(input)):
                    res = transform(r)
                    if isinstance(res, Record):
                        push(res)
                        count(1)
                    elif res is None:
                        count(0)
                    elif isinstance(res, _Reject):
                        fail(Failure(i, REJECT, res.reason))
                        count(0)
                    elif isinstance(res, _Retry):
                        fail(Failure(i, RETRY, res.reason))
                        count(0)
                    else:
                        b.emit_all(res)
                return b.finish()
            except RetryableError as e:
                raise Err(_types.CallError_Retryable(str(e)))
            except Err:
                raise
            except Exception as e:  # noqa: BLE001 - reported to the host as fatal
                raise Err(_types.CallError_Fatal(f"{type(e).__name__}: {e}"))

    return Transformer
