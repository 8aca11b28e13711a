package sluice

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// The shared golden vectors (batch/vectors/batches.json): the same decoding and
// refusals as the host, the Rust SDK and the other helpers.

type vectorBytes struct {
	null  bool
	bytes []byte
}

func (v *vectorBytes) UnmarshalJSON(data []byte) error {
	if string(data) == "null" {
		v.null = true
		return nil
	}
	var s string
	if err := json.Unmarshal(data, &s); err == nil {
		v.bytes = []byte(s)
		return nil
	}
	var h struct{ Hex string }
	if err := json.Unmarshal(data, &h); err != nil {
		return err
	}
	b, err := hex.DecodeString(h.Hex)
	v.bytes = b
	return err
}

func (v vectorBytes) value() []byte {
	if v.null {
		return nil
	}
	if v.bytes == nil {
		return []byte{}
	}
	return v.bytes
}

type vectorBatch struct {
	Arena   vectorBytes
	Records []uint32
	Headers []uint32
}

func (v vectorBatch) batch() Batch {
	return Batch{Arena: v.Arena.value(), Records: v.Records, Headers: v.Headers}
}

type vectorRecord struct {
	Key       vectorBytes
	Value     vectorBytes
	Headers   [][2]vectorBytes
	Timestamp *int64
	Topic     *string
	Partition *int32
}

type vectors struct {
	Valid []struct {
		Name    string
		Batch   vectorBatch
		Records []vectorRecord
	}
	Invalid []struct {
		Name  string
		Batch vectorBatch
		Error struct {
			Record int
			Field  string
			Header *int
		}
	}
}

func loadVectors(t *testing.T) vectors {
	text, err := os.ReadFile("../../../batch/vectors/batches.json")
	if err != nil {
		t.Fatal(err)
	}
	var v vectors
	if err := json.Unmarshal(text, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// same reports whether a decoded record is the vector's plain record.
func same(r Record, want vectorRecord) bool {
	eqBytes := func(got []byte, want vectorBytes) bool {
		return (got == nil) == want.null && bytes.Equal(got, want.value())
	}
	if !eqBytes(r.Key, want.Key) || !eqBytes(r.Value, want.Value) || len(r.Headers) != len(want.Headers) {
		return false
	}
	for i, h := range r.Headers {
		if h.Name != string(want.Headers[i][0].value()) || !eqBytes(h.Value, want.Headers[i][1]) {
			return false
		}
	}
	eqInt := func(a, b *int64) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	if !eqInt(r.Timestamp, want.Timestamp) {
		return false
	}
	if (r.Topic == nil) != (want.Topic == nil) || (r.Topic != nil && *r.Topic != *want.Topic) {
		return false
	}
	return (r.Partition == nil) == (want.Partition == nil) && (r.Partition == nil || *r.Partition == *want.Partition)
}

func TestValidVectorsDecodeToTheirRecords(t *testing.T) {
	v := loadVectors(t)
	if len(v.Valid) < 10 {
		t.Fatalf("only %d valid vectors", len(v.Valid))
	}
	for _, c := range v.Valid {
		b := c.Batch.batch()
		if err := Validate(&b); err != nil {
			t.Errorf("%s: refused: %v", c.Name, err)
			continue
		}
		rs := decode(t, &b)
		if len(rs) != len(c.Records) {
			t.Errorf("%s: %d records, want %d", c.Name, len(rs), len(c.Records))
			continue
		}
		out := NewBuilder(nil)
		for i := range rs {
			if !same(rs[i], c.Records[i]) {
				t.Errorf("%s: record %d: got %+v", c.Name, i, rs[i])
			}
			out.Add(&rs[i])
		}
		again := out.Batch()
		for i, r := range decode(t, &again) {
			if !same(r, c.Records[i]) {
				t.Errorf("%s: record %d after a round trip: got %+v", c.Name, i, r)
			}
		}
	}
}

func TestInvalidVectorsAreRefusedNamingTheRecordAndField(t *testing.T) {
	v := loadVectors(t)
	if len(v.Invalid) < 15 {
		t.Fatalf("only %d invalid vectors", len(v.Invalid))
	}
	for _, c := range v.Invalid {
		b := c.Batch.batch()
		err := Validate(&b)
		if err == nil {
			t.Errorf("%s: accepted", c.Name)
			continue
		}
		header := -1
		if c.Error.Header != nil {
			header = *c.Error.Header
		}
		if err.Record != c.Error.Record || err.Field != c.Error.Field || err.Header != header {
			t.Errorf("%s: got record %d field %s header %d, want record %d field %s header %d (%v)",
				c.Name, err.Record, err.Field, err.Header, c.Error.Record, c.Error.Field, header, err)
		}
		if !strings.HasPrefix(err.Error(), "record ") {
			t.Errorf("%s: message %q", c.Name, err.Error())
		}
		if _, derr := DecodeBatch(&b); derr == nil {
			t.Errorf("%s: decoded", c.Name)
		}
	}
}

func TestNullHeaderValues(t *testing.T) {
	out := NewBuilder(nil)
	out.Add(&Record{Value: []byte("v"), Headers: []Header{{Name: "gone"}, {Name: "empty", Value: []byte{}}}})
	b := out.Batch()
	if b.Headers[HeaderValueLen] != NullValueLen || b.Headers[HeaderWords+HeaderValueLen] != 0 {
		t.Fatalf("header words %v", b.Headers)
	}
	rs := decode(t, &b)
	if rs[0].Headers[0].Value != nil || rs[0].Headers[1].Value == nil {
		t.Errorf("null and empty header values: %+v", rs[0].Headers)
	}
}
