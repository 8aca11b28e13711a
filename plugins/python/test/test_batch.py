"""Native unit tests of sluice_plugin.batch (no WebAssembly).

Run by `build.sh --test`, or by hand from plugins/python (after one build, which
generates .build/bindings):

    PYTHONPATH=.build/bindings:. .venv/bin/python -m unittest discover -s test
"""

import json
import pathlib
import unittest

from componentize_py_types import Err
from wit_world.exports import transformer as _t
from wit_world.imports import types as _types

from sluice_plugin import (
    BatchBuilder,
    BatchError,
    Record,
    RetryableError,
    decode_batch,
    define_transformer,
    encode_batch,
    reject,
    retry,
    validate_batch,
)
from sluice_plugin.layout import FLAGS_ALL as KNOWN_FLAGS
from sluice_plugin.layout import HEADER_WORDS, NULL_VALUE_LEN, RECORD_WORDS


def check(batch):
    """Fails unless `batch` is well formed as the host checks it (wit/types.wit)."""
    arena, words, hw = batch.arena, batch.records, batch.headers
    assert isinstance(arena, bytes), type(arena)
    assert type(words) is list and type(hw) is list
    assert len(words) % RECORD_WORDS == 0, len(words)
    assert len(hw) % HEADER_WORDS == 0, len(hw)
    for w in words + hw:
        assert type(w) is int and 0 <= w < 1 << 32, w

    def inside(off, n):
        assert off + n <= len(arena), (off, n, len(arena))

    validate_batch(batch)
    for i in range(0, len(hw), HEADER_WORDS):
        inside(hw[i], hw[i + 1])
        if hw[i + 3] == NULL_VALUE_LEN:
            assert hw[i + 2] == 0
        else:
            inside(hw[i + 2], hw[i + 3])
        arena[hw[i]:hw[i] + hw[i + 1]].decode("utf-8")
    hend = 0
    for i in range(0, len(words), RECORD_WORDS):
        f, ko, kl, vo, vl, hs, hn, tl, th, to, tn, p = words[i:i + RECORD_WORDS]
        assert f & ~KNOWN_FLAGS == 0, f
        for bit, off, n in ((1, ko, kl), (2, vo, vl), (8, to, tn)):
            if f & bit:
                inside(off, n)
            else:
                assert (off, n) == (0, 0)
        if f & 8:
            arena[to:to + tn].decode("utf-8")
        if not f & 4:
            assert (tl, th) == (0, 0)
        if not f & 16:
            assert p == 0
        assert (hs + hn) * HEADER_WORDS <= len(hw), (hs, hn, len(hw))
        if hn:
            # Headers are grouped in record order.
            assert hs >= hend, (i // RECORD_WORDS, hs, hend)
            hend = hs + hn


def fields(r):
    return (r.key, r.value, tuple(r.headers), r.timestamp, r.topic, r.partition)


SAMPLES = [
    Record(),
    Record(key=b"k", value=b"v"),
    Record(key=b"", value=b""),
    Record(value=b"x", headers=(("a", b"1"), ("a", b"2"), ("", b""), ("\u00e9", b"\xff"))),
    Record(value=b"y", timestamp=0, partition=0),
    Record(value=b"z", timestamp=1700000000123, topic="out", partition=2),
    Record(value=b"n", timestamp=-1, partition=-1, topic=""),
    Record(value=b"m", timestamp=-(1 << 63), partition=-(1 << 31), topic="t\u00e9"),
    Record(value=b"M", timestamp=(1 << 63) - 1, partition=(1 << 31) - 1),
    Record(key=b"only key"),
    Record(value=b"h", headers=(("gone", None), ("empty", b""))),
]

VECTORS = pathlib.Path(__file__).resolve().parents[3] / "batch" / "vectors" / "batches.json"


def _bytes(v):
    if v is None:
        return None
    if isinstance(v, str):
        return v.encode("utf-8")
    return bytes.fromhex(v["hex"])


def _batch(v):
    return _types.Batch(arena=_bytes(v["arena"]) or b"", records=list(v["records"]), headers=list(v["headers"]))


def _plain(r):
    return (_bytes(r["key"]), _bytes(r["value"]), tuple((n, _bytes(v)) for n, v in r["headers"]),
            r["timestamp"], r["topic"], r["partition"])


class GoldenVectors(unittest.TestCase):
    """batch/vectors/batches.json: the same decoding and refusals as the host,
    the Rust SDK and the other helpers."""

    def setUp(self):
        self.vectors = json.loads(VECTORS.read_text(encoding="utf-8"))

    def test_valid_batches_decode_to_their_records(self):
        self.assertGreaterEqual(len(self.vectors["valid"]), 10)
        for case in self.vectors["valid"]:
            with self.subTest(case["name"]):
                b = _batch(case["batch"])
                validate_batch(b)
                want = [_plain(r) for r in case["records"]]
                records = decode_batch(b)
                self.assertEqual([fields(r) for r in records], want)
                copied = BatchBuilder()
                copied.add(*records)
                self.assertEqual([fields(r) for r in decode_batch(copied.batch())], want)
                fresh = encode_batch([Record(*p) for p in want])
                self.assertEqual([fields(r) for r in decode_batch(fresh)], want)

    def test_invalid_batches_are_refused_naming_the_record_and_field(self):
        self.assertGreaterEqual(len(self.vectors["invalid"]), 15)
        for case in self.vectors["invalid"]:
            with self.subTest(case["name"]):
                with self.assertRaises(BatchError) as raised:
                    validate_batch(_batch(case["batch"]))
                e = raised.exception
                self.assertEqual({"record": e.record, "field": e.field, "header": e.header}, case["error"])
                self.assertTrue(str(e).startswith(f"record {e.record}: "), str(e))
                with self.assertRaises(BatchError):
                    decode_batch(_batch(case["batch"]))


class Layout(unittest.TestCase):
    def test_round_trip(self):
        b = encode_batch(SAMPLES)
        check(b)
        self.assertEqual([fields(r) for r in decode_batch(b)], [fields(r) for r in SAMPLES])

    def test_decode_words_as_the_contract_lays_them_out(self):
        arena = b"keyvaluenameval1topic"
        words = [
            # flags, key, value, headers, timestamp -2 (low, high), topic, partition -3
            0b11111, 0, 3, 3, 5, 0, 1, 0xFFFFFFFE, 0xFFFFFFFF, 16, 5, 0xFFFFFFFD,
            # a tombstone with no key: value and key absent, timestamp 2^32 + 7
            0b00100, 0, 0, 0, 0, 0, 0, 7, 1, 0, 0, 0,
        ]
        headers = [8, 4, 12, 4]
        b = _types.Batch(arena=arena, records=words, headers=headers)
        check(b)
        r0, r1 = decode_batch(b)
        self.assertEqual(fields(r0), (b"key", b"value", (("name", b"val1"),), -2, "topic", -3))
        self.assertEqual(fields(r1), (None, None, (), (1 << 32) + 7, None, None))
        self.assertEqual(encode_batch([r0, r1]), b)

    def test_empty(self):
        b = encode_batch([])
        self.assertEqual(b, _types.Batch(arena=b"", records=[], headers=[]))
        self.assertEqual(decode_batch(b), [])

    def test_out_of_range(self):
        for r in (Record(timestamp=1 << 63), Record(timestamp=-(1 << 63) - 1),
                  Record(partition=1 << 31), Record(partition=-(1 << 31) - 1)):
            with self.assertRaises(ValueError):
                encode_batch([r])
        with self.assertRaises(ValueError):
            encode_batch([Record(headers=((b"\xff", b""),))])
        with self.assertRaises(ValueError):
            encode_batch([Record(topic=b"\xff")])
        with self.assertRaises(TypeError):
            encode_batch([Record(value=1)])


class Builder(unittest.TestCase):
    def setUp(self):
        self.input = encode_batch(SAMPLES)
        self.records = decode_batch(self.input)

    def test_unchanged_records_keep_their_words(self):
        b = BatchBuilder(self.input)
        for r in self.records:
            b.emit(r)
        out = b.batch()
        check(out)
        self.assertEqual(out.records, self.input.records)
        self.assertIs(out.arena, self.input.arena)
        self.assertIs(out.headers, self.input.headers)
        self.assertEqual(b.emitted, [1] * len(SAMPLES))
        self.assertEqual(b.failures, [])

    def test_changed_fields(self):
        b = BatchBuilder(self.input)
        want = []
        for i, r in enumerate(self.records):
            if i % 2:
                r.value = b"new"
                r.headers = (*r.headers, ("added", b"h"))
            else:
                r.key = None if r.key else b"key"
                r.timestamp = -7
                r.topic = "other"
                r.partition = None
            c = r.copy()
            c.value = None
            b.emit(r, c)
            want += [fields(r), fields(c)]
        out = b.batch()
        check(out)
        self.assertEqual([fields(r) for r in decode_batch(out)], want)
        self.assertEqual(b.emitted, [2] * len(SAMPLES))
        # The input is left as it was.
        self.assertEqual(self.input, encode_batch(SAMPLES))

    def test_records_from_elsewhere_are_copied(self):
        other = decode_batch(encode_batch([Record(b"ok", b"ov", (("h", b"v"),), 5, "ot", 1)]))
        b = BatchBuilder(self.input)
        b.emit(self.records[3], other[0], Record(value=b"fresh"))
        out = b.batch()
        check(out)
        got = [fields(r) for r in decode_batch(out)]
        self.assertEqual(got, [fields(self.records[3]), fields(other[0]), (None, b"fresh", (), None, None, None)])
        self.assertEqual(b.emitted, [3])

    def test_results(self):
        b = BatchBuilder(self.input)
        r = self.records
        b.emit(r[0]).reject("bad").emit().retry("later").emit_all([r[4], r[5]])
        b.emit_all(iter([r[6]]))
        out = b.finish()
        check(out.output)
        self.assertEqual(out.emitted, [1, 0, 0, 0, 2, 1])
        self.assertEqual(out.failures, [_t.Failure(1, _t.FailureKind.REJECT, "bad"),
                                        _t.Failure(3, _t.FailureKind.RETRY, "later")])
        self.assertEqual([fields(x) for x in decode_batch(out.output)],
                         [fields(r[0]), fields(r[4]), fields(r[5]), fields(r[6])])

    def test_headers_stay_in_record_order(self):
        r = self.records
        tagged = r[3].copy()
        tagged.headers = (*tagged.headers, ("tag", b"t"))
        b = BatchBuilder(self.input)
        # r[3] twice (unchanged, then with a new value), after a record whose headers
        # were appended, then again unchanged: each one's headers are copied after.
        again = r[3].copy()
        again.value = b"again"
        b.emit(r[3], r[3], again).emit(tagged, r[3], r[0])
        out = b.batch()
        check(out)
        want = [fields(x) for x in (r[3], r[3], again, tagged, r[3], r[0])]
        self.assertEqual([fields(x) for x in decode_batch(out)], want)
        # The first use keeps the input's words; later ones point after it.
        self.assertEqual(out.records[:RECORD_WORDS], self.input.records[3 * RECORD_WORDS:4 * RECORD_WORDS])

    def test_nothing_emitted_is_an_empty_batch(self):
        b = BatchBuilder(self.input)
        for _ in self.records:
            b.emit()
        self.assertEqual(b.batch(), _types.Batch(arena=b"", records=[], headers=[]))

    def test_empty_fields_on_an_empty_input_arena(self):
        # An empty span points at the end of the arena, which must stay inside it.
        empty = encode_batch([Record(), Record()])
        b = BatchBuilder(empty)
        r0, r1 = decode_batch(empty)
        r1.key, r1.value, r1.headers = b"", b"", (("", b""),)
        b.emit(r0, r1, Record(key=b"", topic=""))
        check(b.batch())


def mask_like(record):
    if record.value is None:
        return record
    if record.value == b"drop":
        return None
    if record.value == b"bad":
        return reject("value is bad")
    if record.value == b"later":
        return retry("try later")
    if record.value == b"two":
        c = record.copy()
        c.value = b"second"
        return [record, c]
    if record.value == b"none":
        return []
    if record.value == b"boom":
        raise RuntimeError("boom")
    if record.value == b"again":
        raise RetryableError("again")
    record.value = record.value.upper()
    return record


class Transformer(unittest.TestCase):
    def setUp(self):
        self.t = define_transformer(None, mask_like)()
        self.t.open([])

    def process(self, values):
        out = self.t.process(encode_batch([Record(key=b"k%d" % i, value=v, timestamp=-i)
                                           for i, v in enumerate(values)]))
        check(out.output)
        return out

    def test_outcomes(self):
        values = [b"a", b"drop", b"bad", None, b"later", b"two", b"none", b"b"]
        out = self.process(values)
        self.assertEqual(out.emitted, [1, 0, 0, 1, 0, 2, 0, 1])
        self.assertEqual(out.failures, [_t.Failure(2, _t.FailureKind.REJECT, "value is bad"),
                                        _t.Failure(4, _t.FailureKind.RETRY, "try later")])
        got = [(r.key, r.value, r.timestamp) for r in decode_batch(out.output)]
        self.assertEqual(got, [(b"k0", b"A", 0), (b"k3", None, -3), (b"k5", b"two", -5),
                               (b"k5", b"second", -5), (b"k7", b"B", -7)])
        self.assertEqual(sum(out.emitted), len(out.output.records) // RECORD_WORDS)

    def test_all_failed(self):
        out = self.process([b"bad", b"bad"])
        self.assertEqual(out.emitted, [0, 0])
        self.assertEqual([f.input for f in out.failures], [0, 1])
        self.assertEqual(out.output, _types.Batch(arena=b"", records=[], headers=[]))

    def test_empty_batch(self):
        out = self.process([])
        self.assertEqual((out.emitted, out.failures), ([], []))

    def test_call_errors(self):
        with self.assertRaises(Err) as e:
            self.process([b"a", b"boom"])
        self.assertEqual(e.exception.value, _types.CallError_Fatal("RuntimeError: boom"))
        with self.assertRaises(Err) as e:
            self.process([b"again"])
        self.assertEqual(e.exception.value, _types.CallError_Retryable("again"))

    def test_bad_output_is_fatal(self):
        t = define_transformer(None, lambda r: Record(partition=1 << 40))()
        t.open([])
        with self.assertRaises(Err) as e:
            t.process(encode_batch([Record()]))
        self.assertEqual(e.exception.value,
                         _types.CallError_Fatal("ValueError: partition 1099511627776 is outside the signed 32-bit range"))


if __name__ == "__main__":
    unittest.main()
