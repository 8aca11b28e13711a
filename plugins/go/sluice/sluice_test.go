package sluice

import (
	"bytes"
	"reflect"
	"testing"
	"unsafe"

	tr "sluiceplugins/internal/wit/imports/sluice_plugin_transformer"
)

// in is one input record as the host would write it.
type in struct {
	key, value []byte // nil: absent
	headers    [][2]string
	timestamp  *int64
	topic      *string
	partition  *int32
}

func ptr[T any](v T) *T { return &v }

// decode is DecodeBatch for a batch the test knows to be valid.
func decode(t testing.TB, b *Batch) []Record {
	t.Helper()
	rs, err := DecodeBatch(b)
	if err != nil {
		t.Fatalf("DecodeBatch: %v", err)
	}
	return rs
}

// encode writes records in the batch layout, headers grouped in record order.
func encode(records []in) Batch {
	var b Batch
	b.Arena = []byte{}
	put := func(data []byte) (uint32, uint32) {
		if len(data) == 0 {
			return 0, 0
		}
		off := uint32(len(b.Arena))
		b.Arena = append(b.Arena, data...)
		return off, uint32(len(data))
	}
	for _, r := range records {
		var w [RecordWords]uint32
		if r.key != nil {
			w[0] |= FlagKey
			w[1], w[2] = put(r.key)
		}
		if r.value != nil {
			w[0] |= FlagValue
			w[3], w[4] = put(r.value)
		}
		w[5], w[6] = uint32(len(b.Headers)/HeaderWords), uint32(len(r.headers))
		for _, h := range r.headers {
			no, nl := put([]byte(h[0]))
			vo, vl := put([]byte(h[1]))
			b.Headers = append(b.Headers, no, nl, vo, vl)
		}
		if r.timestamp != nil {
			w[0] |= FlagTimestamp
			w[7], w[8] = uint32(uint64(*r.timestamp)), uint32(uint64(*r.timestamp)>>32)
		}
		if r.topic != nil {
			w[0] |= FlagTopic
			w[9], w[10] = put([]byte(*r.topic))
		}
		if r.partition != nil {
			w[0] |= FlagPartition
			w[11] = uint32(*r.partition)
		}
		b.Records = append(b.Records, w[:]...)
	}
	return b
}

// plain is a record with its fields by value, to compare.
type plain struct {
	Key, Value []byte
	KeyNil     bool
	ValueNil   bool
	Headers    []Header
	Timestamp  *int64
	Topic      *string
	Partition  *int32
}

func plainOf(rs []Record) []plain {
	out := make([]plain, len(rs))
	for i, r := range rs {
		out[i] = plain{Key: r.Key, Value: r.Value, KeyNil: r.Key == nil, ValueNil: r.Value == nil,
			Headers: r.Headers, Timestamp: r.Timestamp, Topic: r.Topic, Partition: r.Partition}
		if len(r.Headers) == 0 {
			out[i].Headers = nil
		}
	}
	return out
}

// check verifies that every span of b lies inside its arena and that headers are
// contiguous and grouped in record order.
func check(t *testing.T, b Batch) {
	t.Helper()
	inside := func(off, n uint32) bool { return uint64(off)+uint64(n) <= uint64(len(b.Arena)) }
	if len(b.Records)%RecordWords != 0 || len(b.Headers)%HeaderWords != 0 {
		t.Fatalf("word counts %d, %d", len(b.Records), len(b.Headers))
	}
	next := uint32(0)
	for i := 0; i < len(b.Records); i += RecordWords {
		w := b.Records[i : i+RecordWords]
		if w[0]&^0x1f != 0 {
			t.Fatalf("record %d: flags %#x", i/RecordWords, w[0])
		}
		for _, f := range []struct {
			flag uint32
			a, b int
		}{{FlagKey, 1, 2}, {FlagValue, 3, 4}, {FlagTopic, 9, 10}} {
			if w[0]&f.flag == 0 && (w[f.a] != 0 || w[f.b] != 0) || !inside(w[f.a], w[f.b]) {
				t.Fatalf("record %d: bad span words %d, %d: %v", i/RecordWords, f.a, f.b, w)
			}
		}
		if w[0]&FlagTimestamp == 0 && (w[7] != 0 || w[8] != 0) || w[0]&FlagPartition == 0 && w[11] != 0 {
			t.Fatalf("record %d: words of an absent field are not 0: %v", i/RecordWords, w)
		}
		if w[5] != next {
			t.Fatalf("record %d: headers start at %d, want %d", i/RecordWords, w[5], next)
		}
		next += w[6]
	}
	if int(next)*HeaderWords != len(b.Headers) {
		t.Fatalf("records use %d headers of %d", next, len(b.Headers)/HeaderWords)
	}
	for i := 0; i < len(b.Headers); i += HeaderWords {
		if !inside(b.Headers[i], b.Headers[i+1]) || !inside(b.Headers[i+2], b.Headers[i+3]) {
			t.Fatalf("header %d: span outside the arena", i/HeaderWords)
		}
	}
}

var sample = []in{
	{key: []byte("k1"), value: []byte(`{"a":1}`), headers: [][2]string{{"trace", "t1"}, {"trace", ""}},
		timestamp: ptr(int64(1_700_000_000_123)), topic: ptr("other"), partition: ptr(int32(-2))},
	{value: []byte{}, timestamp: ptr(int64(-5))},     // null key, empty value
	{key: []byte{}, headers: [][2]string{{"", "v"}}}, // empty key, tombstone
	{key: []byte("k4"), value: []byte("v4"), topic: ptr(""), partition: ptr(int32(7))},
	{headers: [][2]string{{"trace", "t5"}, {"x", "y"}, {"trace", "t5"}}},
}

func TestDecode(t *testing.T) {
	b := encode(sample)
	rs := decode(t, &b)
	if len(rs) != len(sample) {
		t.Fatalf("%d records, want %d", len(rs), len(sample))
	}
	for i, s := range sample {
		r := rs[i]
		if (r.Key == nil) != (s.key == nil) || !bytes.Equal(r.Key, s.key) {
			t.Errorf("record %d: key %q, want %q", i, r.Key, s.key)
		}
		if (r.Value == nil) != (s.value == nil) || !bytes.Equal(r.Value, s.value) {
			t.Errorf("record %d: value %q, want %q", i, r.Value, s.value)
		}
		if len(r.Headers) != len(s.headers) {
			t.Fatalf("record %d: %d headers, want %d", i, len(r.Headers), len(s.headers))
		}
		for j, h := range s.headers {
			if r.Headers[j].Name != h[0] || string(r.Headers[j].Value) != h[1] || r.Headers[j].Value == nil {
				t.Errorf("record %d header %d: %q=%q, want %q=%q", i, j, r.Headers[j].Name, r.Headers[j].Value, h[0], h[1])
			}
		}
		if !reflect.DeepEqual(r.Timestamp, s.timestamp) || !reflect.DeepEqual(r.Topic, s.topic) ||
			!reflect.DeepEqual(r.Partition, s.partition) {
			t.Errorf("record %d: timestamp/topic/partition %v %v %v", i, r.Timestamp, r.Topic, r.Partition)
		}
	}
	// Keys and values are sub-slices of the arena, not copies.
	if unsafe.SliceData(rs[0].Value) != &b.Arena[b.Records[3]] {
		t.Error("value was copied")
	}
}

func TestPassThroughReusesTheInput(t *testing.T) {
	b := encode(sample)
	rs := decode(t, &b)
	out := NewBuilder(&b)
	for i := range rs {
		out.Emit(&rs[i])
	}
	res := out.Finish()
	check(t, res.Output)
	if unsafe.SliceData(res.Output.Arena) != unsafe.SliceData(b.Arena) {
		t.Error("the output arena is not the input arena")
	}
	if !reflect.DeepEqual(res.Output.Records, b.Records) || !reflect.DeepEqual(res.Output.Headers, b.Headers) {
		t.Errorf("words changed:\n%v\n%v", res.Output.Records, b.Records)
	}
	if !reflect.DeepEqual(res.Emitted, []uint32{1, 1, 1, 1, 1}) || len(res.Failures) != 0 {
		t.Errorf("emitted %v, failures %v", res.Emitted, res.Failures)
	}
}

func TestOutcomesAndChanges(t *testing.T) {
	b := encode(sample)
	rs := decode(t, &b)
	out := NewBuilder(&b)

	rs[0].Value = []byte(`{"a":"***"}`) // new bytes: appended
	rs[0].Key = rs[0].Value[2:3]        // inside the new bytes: appended too
	*rs[0].Topic = "renamed"
	rs[0].Headers[1].Name = "span"
	out.Emit(&rs[0])
	out.Reject("bad")
	split := Record{Key: []byte("new"), Value: rs[3].Value[:1], Headers: []Header{{Name: "added", Value: []byte("1")}}}
	rs[3].Headers = append(rs[3].Headers, Header{Name: "trace", Value: rs[4].Headers[0].Value})
	out.Emit(&rs[3], &split)
	out.Emit() // filtered out
	out.Retry("later")
	res := out.Finish()
	check(t, res.Output)

	if !reflect.DeepEqual(res.Emitted, []uint32{1, 0, 2, 0, 0}) {
		t.Errorf("emitted %v", res.Emitted)
	}
	want := []tr.Failure{{Input: 1, Kind: tr.FailureKind_Reject, Reason: "bad"}, {Input: 4, Kind: tr.FailureKind_Retry, Reason: "later"}}
	if !reflect.DeepEqual(res.Failures, want) {
		t.Errorf("failures %v", res.Failures)
	}
	got := decode(t, &res.Output)
	wantRecords := []Record{rs[0], rs[3], split}
	if !reflect.DeepEqual(plainOf(got), plainOf(wantRecords)) {
		t.Errorf("output records:\n%+v\nwant\n%+v", plainOf(got), plainOf(wantRecords))
	}
	// Unchanged bytes point into the input arena; only the new ones were appended.
	extra := len(res.Output.Arena) - len(b.Arena)
	// value, key (inside the new value), topic, header name; split's key, header name and
	// value; the name of the header added to rs[3] (its value is in the input arena).
	if n := len(`{"a":"***"}`) + 1 + len("renamed") + len("span") + len("new") + len("added") + len("1") + len("trace"); extra != n {
		t.Errorf("%d bytes appended, want %d", extra, n)
	}
	if !bytes.Equal(res.Output.Arena[:len(b.Arena)], b.Arena) {
		t.Error("the input arena is not at the start of the output arena")
	}
}

func TestDropAll(t *testing.T) {
	b := encode(sample)
	rs := decode(t, &b)
	out := NewBuilder(&b)
	for range rs {
		out.Emit()
	}
	res := out.Finish()
	check(t, res.Output)
	if len(res.Output.Arena) != 0 || len(res.Output.Records) != 0 || len(res.Output.Headers) != 0 {
		t.Errorf("output not empty: %d bytes, %d words", len(res.Output.Arena), len(res.Output.Records))
	}
}

func TestNoInput(t *testing.T) {
	out := NewBuilder(nil)
	out.Add(&Record{Key: []byte("k"), Headers: []Header{{Name: "h", Value: []byte("v")}}, Partition: ptr(int32(-1))})
	res := out.Batch()
	check(t, res)
	got := plainOf(decode(t, &res))
	if len(got) != 1 || string(got[0].Key) != "k" || !got[0].ValueNil || *got[0].Partition != -1 || got[0].Headers[0].Name != "h" {
		t.Errorf("got %+v", got)
	}
}

// The per-batch cost of a pass-through does not grow with the records.
func TestAllocations(t *testing.T) {
	records := make([]in, 1000)
	for i := range records {
		records[i] = in{key: []byte("key"), value: []byte("value"), headers: [][2]string{{"trace", "t"}},
			timestamp: ptr(int64(i)), partition: ptr(int32(i % 3))}
	}
	b := encode(records)
	allocs := testing.AllocsPerRun(20, func() {
		rs := decode(t, &b)
		out := NewBuilder(&b)
		for i := range rs {
			out.Emit(&rs[i])
		}
		out.Finish()
	})
	// 8 today: the records, headers, timestamps and partitions, one header name, and
	// the builder's records, headers and emitted lists.
	if allocs > 10 {
		t.Errorf("%v allocations per batch of %d records", allocs, len(records))
	}
}
