// Command mask is the mask transform: it replaces one top-level field of a JSON
// object value with a fixed string.
//
// config:  field        (required) the top-level JSON key to mask
//
//	replacement  (optional, default "***") the string written instead
//
// Per record: null value -> unchanged; value not a JSON object (or not UTF-8) ->
// reject; field missing -> unchanged (same bytes); else the field's value replaced:
// the replacement is spliced into the original bytes (every top-level occurrence of
// the key, so that a repeated key cannot leak), the other bytes kept as they were.
//
// Example code: it checks values with Go's own encoding/json (json.Valid) and finds
// the field with a small scanner of the top level; the output is the same JSON value
// as the Rust example's, not always the same bytes.
package main

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"

	_ "sluiceplugins/internal/wit/exports/wit_exports"
	"sluiceplugins/sluice"
)

type mask struct {
	field       string
	replacement []byte // the replacement as a JSON string
	spans       [][2]int
}

func (m *mask) Open(config *sluice.Config) error {
	field, err := config.Required("field")
	if err != nil {
		return err
	}
	m.field = field
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(config.Optional("replacement", "***")); err != nil {
		return err
	}
	m.replacement = bytes.TrimSuffix(out.Bytes(), []byte("\n"))
	return nil
}

func (m *mask) Transform(r *sluice.Record) sluice.Outcome {
	if r.Value == nil {
		return sluice.Emit(r)
	}
	// encoding/json would accept invalid UTF-8 in strings.
	if !utf8.Valid(r.Value) || !json.Valid(r.Value) {
		return sluice.Reject("value is not a JSON object")
	}
	spans, ok := fieldSpans(r.Value, m.field, m.spans[:0])
	m.spans = spans
	if !ok {
		return sluice.Reject("value is not a JSON object")
	}
	if len(spans) == 0 {
		return sluice.Emit(r)
	}
	v := r.Value
	size := len(v)
	for _, s := range spans {
		size += len(m.replacement) - (s[1] - s[0])
	}
	out := make([]byte, 0, size)
	at := 0
	for _, s := range spans {
		out = append(out, v[at:s[0]]...)
		out = append(out, m.replacement...)
		at = s[1]
	}
	r.Value = append(out, v[at:]...)
	return sluice.Emit(r)
}

// fieldSpans returns, appended to spans, the byte ranges of the values of the
// top-level key field in value, which must be valid JSON; ok is false when value is
// not an object.
func fieldSpans(value []byte, field string, spans [][2]int) (_ [][2]int, ok bool) {
	i := skipSpace(value, 0)
	if i >= len(value) || value[i] != '{' {
		return spans, false
	}
	i = skipSpace(value, i+1)
	if value[i] == '}' {
		return spans, true
	}
	for {
		// A key: a string.
		end := stringEnd(value, i)
		match := keyIs(value[i:end], field)
		i = skipSpace(value, end)
		i = skipSpace(value, i+1) // the colon
		start := i
		i = valueEnd(value, i)
		if match {
			spans = append(spans, [2]int{start, i})
		}
		i = skipSpace(value, i)
		if value[i] == '}' {
			return spans, true
		}
		i = skipSpace(value, i+1) // the comma
	}
}

// keyIs reports whether the JSON string token key (quotes included) is field.
func keyIs(key []byte, field string) bool {
	raw := key[1 : len(key)-1]
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == field
	}
	var s string
	return json.Unmarshal(key, &s) == nil && s == field
}

func skipSpace(v []byte, i int) int {
	for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r') {
		i++
	}
	return i
}

// stringEnd returns the index after the string that starts (with its quote) at i.
func stringEnd(v []byte, i int) int {
	for i++; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// valueEnd returns the index after the value that starts at i.
func valueEnd(v []byte, i int) int {
	switch v[i] {
	case '"':
		return stringEnd(v, i)
	case '{', '[':
		depth := 0
		for i < len(v) {
			switch v[i] {
			case '"':
				i = stringEnd(v, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default: // a number, true, false or null
		for i < len(v) {
			switch v[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
			i++
		}
		return i
	}
}

func init() { sluice.Register(&mask{}) }

func main() {}
