// Command filter is the filter transform: it drops records whose top-level JSON field
// equals a configured text.
//
// config:  field   (required) the top-level JSON key to compare
//
//	equals  (required) the field matches when its text equals this: a string's
//	        text, a number as serde_json writes it (42, 1.5, 1e+21), true, false
//	        or null; arrays and objects never match
//
// Per record: null value -> kept; value not a JSON object -> reject; match -> dropped
// (emit count 0); otherwise kept unchanged.
package main

import (
	_ "sluiceplugins/internal/wit/exports/wit_exports"
	"sluiceplugins/serdejson"
	"sluiceplugins/sluice"
)

type filter struct {
	field, equals string
}

func (f *filter) Open(config *sluice.Config) error {
	var err error
	if f.field, err = config.Required("field"); err != nil {
		return err
	}
	f.equals, err = config.Required("equals")
	return err
}

func (f *filter) Transform(r *sluice.Record) sluice.Outcome {
	if r.Value == nil {
		return sluice.Emit(r)
	}
	raw, found, ok := serdejson.Field(r.Value, f.field)
	if !ok {
		return sluice.Reject("value is not a JSON object")
	}
	if found {
		if text, ok := serdejson.ScalarText(raw); ok && text == f.equals {
			return sluice.Drop()
		}
	}
	return sluice.Emit(r)
}

func init() { sluice.Register(&filter{}) }

func main() {}
