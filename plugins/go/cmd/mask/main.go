// Command mask is the mask transform: it replaces one top-level field of a JSON
// object value with a fixed string.
//
// config:  field        (required) the top-level JSON key to mask
//
//	replacement  (optional, default "***") the string written instead
//
// Per record: null value -> unchanged; value not a JSON object -> reject; field
// missing -> unchanged (same bytes); else the value re-serialized compactly (key
// order kept) with the field's value replaced.
package main

import (
	_ "sluiceplugins/internal/wit/exports/wit_exports"
	"sluiceplugins/serdejson"
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

func (m *mask) Transform(r *sluice.Record) sluice.Outcome {
	if r.Value == nil {
		return sluice.Emit(r)
	}
	doc, ok := serdejson.ParseObject(r.Value)
	if !ok {
		return sluice.Reject("value is not a JSON object")
	}
	if !doc.Has(m.field) {
		return sluice.Emit(r)
	}
	doc.SetString(m.field, m.replacement)
	r.Value = doc.AppendCompact(make([]byte, 0, len(r.Value)))
	return sluice.Emit(r)
}

func init() { sluice.Register(&mask{}) }

func main() {}
