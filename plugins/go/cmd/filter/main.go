// Command filter is the filter transform: it drops records whose top-level JSON field
// equals a configured value.
//
// config:  field   (required) the top-level JSON key to compare
//
//	equals  (required) a string field matches when its text is `equals`; a
//	        number field when `equals` is the same number (compared as doubles:
//	        `42` matches 42 and 42.0); true, false and null when `equals` is
//	        `true`, `false` or `null`; arrays and objects never match
//
// Per record: null value -> kept; value not a JSON object (or not UTF-8) -> reject;
// match -> dropped (emit count 0); otherwise kept unchanged.
//
// Example code: it uses Go's own encoding/json.
package main

import (
	"bytes"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"

	_ "sluiceplugins/internal/wit/exports/wit_exports"
	"sluiceplugins/sluice"
)

type filter struct {
	field, equals string
	number        *float64 // equals read as a JSON number, if it is one
}

func (f *filter) Open(config *sluice.Config) error {
	var err error
	if f.field, err = config.Required("field"); err != nil {
		return err
	}
	if f.equals, err = config.Required("equals"); err != nil {
		return err
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader([]byte(f.equals)))
	dec.UseNumber()
	if dec.Decode(&v) == nil {
		if n, ok := v.(json.Number); ok {
			if x, err := strconv.ParseFloat(string(n), 64); err == nil {
				f.number = &x
			}
		}
	}
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

func (f *filter) matches(v any) bool {
	switch v := v.(type) {
	case string:
		return v == f.equals
	case json.Number:
		x, err := strconv.ParseFloat(string(v), 64)
		return err == nil && f.number != nil && x == *f.number
	case bool:
		return f.equals == strconv.FormatBool(v)
	case nil:
		return f.equals == "null"
	default:
		return false
	}
}

func (f *filter) Transform(r *sluice.Record) sluice.Outcome {
	if r.Value == nil {
		return sluice.Emit(r)
	}
	doc, ok := parseObject(r.Value)
	if !ok {
		return sluice.Reject("value is not a JSON object")
	}
	if v, found := doc[f.field]; found && f.matches(v) {
		return sluice.Drop()
	}
	return sluice.Emit(r)
}

func init() { sluice.Register(&filter{}) }

func main() {}
