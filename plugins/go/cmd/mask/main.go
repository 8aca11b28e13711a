// Command mask is the mask transform: it replaces one top-level field of a JSON
// object value with a fixed string.
//
// config:  field        (required) the top-level JSON key to mask
//
//	replacement  (optional, default "***") the string written instead
//
// Per record: null value -> unchanged; value not a JSON object (or not UTF-8) ->
// reject; field missing -> unchanged (same bytes); else the value written back with
// encoding/json, the field's value replaced.
//
// Example code: it uses Go's own encoding/json, so the output is Go's serialization
// of the same JSON value (keys sorted, numbers kept as written), not byte for byte
// the Rust example's.
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"unicode/utf8"

	_ "sluiceplugins/internal/wit/exports/wit_exports"
	"sluiceplugins/sluice"
)

type mask struct {
	field, replacement string
}

func (m *mask) Open(config *sluice.Config) error {
	field, err := config.Required("field")
	if err != nil {
		return err
	}
	m.field = field
	m.replacement = config.Optional("replacement", "***")
	return nil
}

// parseObject reads value as one JSON object, numbers kept as their text.
func parseObject(value []byte) (map[string]any, bool) {
	// encoding/json would replace invalid UTF-8 silently.
	if !utf8.Valid(value) {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil || doc == nil {
		return nil, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, false // something after the object
	}
	return doc, true
}

func (m *mask) Transform(r *sluice.Record) sluice.Outcome {
	if r.Value == nil {
		return sluice.Emit(r)
	}
	doc, ok := parseObject(r.Value)
	if !ok {
		return sluice.Reject("value is not a JSON object")
	}
	if _, found := doc[m.field]; !found {
		return sluice.Emit(r)
	}
	doc[m.field] = m.replacement
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return sluice.Reject("value is not a JSON object")
	}
	r.Value = bytes.TrimSuffix(out.Bytes(), []byte("\n"))
	return sluice.Emit(r)
}

func init() { sluice.Register(&mask{}) }

func main() {}
