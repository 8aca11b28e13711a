"""Plain records <-> the WIT `batch` (one byte arena + span entries).

Speed: decoding makes one small object per record; encoding reuses the input arena,
so a record emitted unchanged costs one list append, and a changed record appends
only its new bytes.
"""

from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from componentize_py_types import Err
from wit_world.exports import transformer as _t
from wit_world.imports import types as _types

Header = Tuple[str, bytes]

_EMPTY: Tuple[Header, ...] = ()


class Record:
    """A plain Kafka record.

    key, value: bytes or None (a None value is a tombstone).
    headers: tuple of (name: str, value: bytes) pairs, in order (repeats allowed).
        Assign a new tuple or list to change them.
    timestamp: milliseconds since the Unix epoch (int) or None.
    topic: str or None (overrides the sink topic); partition: int or None.
    """

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


def decode_batch(batch: _types.Batch) -> List[Record]:
    """Turns a WIT `batch` into plain records, in order."""
    arena = batch.arena
    hdrs = batch.headers
    out = []
    new = Record.__new__
    for e in batch.records:
        r = new(Record)
        k = e.key
        v = e.value
        r.key = r._key = None if k is None else arena[k.offset:k.offset + k.len]
        r.value = r._value = None if v is None else arena[v.offset:v.offset + v.len]
        n = e.headers_len
        if n:
            s = e.headers_start
            hs = []
            for h in hdrs[s:s + n]:
                hn, hv = h.name, h.value
                hs.append((arena[hn.offset:hn.offset + hn.len].decode("utf-8"),
                           arena[hv.offset:hv.offset + hv.len]))
            r.headers = r._headers = tuple(hs)
        else:
            r.headers = r._headers = _EMPTY
        r.timestamp = r._ts = e.timestamp_ms
        tp = e.topic
        r.topic = r._topic = None if tp is None else arena[tp.offset:tp.offset + tp.len].decode("utf-8")
        r.partition = r._partition = e.partition
        r._src = e
        r._batch = batch
        out.append(r)
    return out


def _as_bytes(v: Union[bytes, bytearray, memoryview, str], what: str) -> bytes:
    if isinstance(v, bytes):
        return v
    if isinstance(v, str):
        return v.encode("utf-8")
    if isinstance(v, (bytearray, memoryview)):
        return bytes(v)
    raise TypeError(f"{what} must be bytes, str or None")


class BatchBuilder:
    """Builds an output batch and one outcome per input, in input order.

    `input` (optional) is the batch the records were decoded from: its arena and
    entries are reused for every field a record did not change.
    """

    __slots__ = ("_input", "_base", "_used", "_chunks", "_size", "_headers", "_records", "outcomes")

    def __init__(self, input: Optional[_types.Batch] = None) -> None:
        self._input = input
        self._base = b"" if input is None else input.arena
        self._used = False
        self._chunks: List[bytes] = []
        self._size = len(self._base)
        self._headers = [] if input is None else input.headers
        self._records: List[_types.KafkaRecord] = []
        self.outcomes: List[_t.Outcome] = []

    def emit(self, *records: Record) -> "BatchBuilder":
        """Adds one outcome: these records (zero or more) came from the next input."""
        return self.emit_all(records)

    def emit_all(self, records: Iterable[Record]) -> "BatchBuilder":
        """Same as emit, taking an iterable. An empty one filters the input out."""
        start = len(self._records)
        push = self._push
        for r in records:
            push(r)
        self.outcomes.append(_t.Outcome_Emit(_t.Emitted(start, len(self._records) - start)))
        return self

    def reject(self, reason: str) -> "BatchBuilder":
        """Adds one outcome: the next input is bad for good (the error policy routes it)."""
        self.outcomes.append(_t.Outcome_Reject(str(reason)))
        return self

    def retry(self, reason: str) -> "BatchBuilder":
        """Adds one outcome: the next input may work later; the host retries it."""
        self.outcomes.append(_t.Outcome_Retry(str(reason)))
        return self

    def add(self, *records: Record) -> "BatchBuilder":
        """Adds records without an outcome (for sources)."""
        for r in records:
            self._push(r)
        return self

    def batch(self) -> _types.Batch:
        """The WIT `batch` built so far."""
        if self._chunks:
            arena = b"".join([self._base if self._used else bytes(len(self._base))] + self._chunks)
        else:
            arena = self._base if self._used else b""
        return _types.Batch(arena, self._headers, self._records)

    def finish(self) -> _t.Transformed:
        """The WIT `transformed` value."""
        return _t.Transformed(self.batch(), self.outcomes)

    def _span(self, data: bytes) -> _types.Span:
        off = self._size
        if data:
            self._chunks.append(data)
            self._size += len(data)
        return _types.Span(off, len(data))

    def _push(self, r: Record) -> None:
        src = r._src if (r._batch is self._input and self._input is not None) else None
        key, value, headers, ts, topic, part = r.key, r.value, r.headers, r.timestamp, r.topic, r.partition
        if src is not None:
            self._used = True
            if (key is r._key and value is r._value and headers is r._headers and ts == r._ts
                    and topic is r._topic and part == r._partition):
                self._records.append(src)  # untouched: its spans are still right
                return
        span = self._span
        ks = None if key is None else (src.key if src is not None and key is r._key else span(_as_bytes(key, "key")))
        vs = None if value is None else (
            src.value if src is not None and value is r._value else span(_as_bytes(value, "value")))
        ts_ = None if topic is None else (
            src.topic if src is not None and topic is r._topic else span(_as_bytes(topic, "topic")))
        if src is not None and headers is r._headers:
            hstart, hlen = src.headers_start, src.headers_len
        elif headers:
            hstart, hlen = len(self._headers), len(headers)
            for name, hv in headers:
                self._headers.append(_types.Header(span(_as_bytes(name, "header name")),
                                                   span(_as_bytes(hv, "header value"))))
        else:
            hstart, hlen = 0, 0
        self._records.append(_types.KafkaRecord(
            ks, vs, hstart, hlen, None if ts is None else int(ts), ts_, None if part is None else int(part)))


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
                outcomes = b.outcomes
                Emit, Emitted = _t.Outcome_Emit, _t.Emitted
                recs = b._records
                for i, r in enumerate(decode_batch(input)):
                    res = transform(r)
                    if isinstance(res, Record):
                        start = len(recs)
                        push(res)
                        outcomes.append(Emit(Emitted(start, 1)))
                    elif res is None:
                        outcomes.append(Emit(Emitted(len(recs), 0)))
                    elif isinstance(res, _Reject):
                        outcomes.append(_t.Outcome_Reject(res.reason))
                    elif isinstance(res, _Retry):
                        outcomes.append(_t.Outcome_Retry(res.reason))
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
