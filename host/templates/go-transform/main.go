// Command {{name}} is a Sluice transform in Go (standard Go >= 1.25, GOOS=wasip1).
//
// config:  tag  (optional, default "{{name}}") the value of the header it adds
//
// Per record: null value (tombstone) -> passed through unchanged; empty value ->
// rejected with "empty value" (the pipeline's `errors:` policy decides: fail, skip,
// dead-letter); anything else -> passed through with one more header,
// `tagged-by: <tag>`. Key, value, other headers, timestamp and topic/partition
// overrides are kept.
package main

import (
	_ "{{name}}/internal/wit/exports/wit_exports" // the component's exports
	"{{name}}/sluice"
)

type tagger struct {
	tag []byte
}

// Open runs once per instance, before any batch. A missing required key or an
// unknown key fails here with a ConfigError naming it.
func (t *tagger) Open(config *sluice.Config) error {
	t.tag = []byte(config.Optional("tag", "{{name}}"))
	return nil
}

// Transform runs once per input record: sluice.Emit(records...) (none drops it),
// sluice.Drop(), sluice.Reject(reason) or sluice.Retry(reason).
func (t *tagger) Transform(r *sluice.Record) sluice.Outcome {
	if r.Value == nil {
		return sluice.Emit(r)
	}
	if len(r.Value) == 0 {
		return sluice.Reject("empty value")
	}
	headers := make([]sluice.Header, 0, len(r.Headers)+1)
	r.Headers = append(append(headers, r.Headers...), sluice.Header{Name: "tagged-by", Value: t.tag})
	return sluice.Emit(r)
}

func init() { sluice.Register(&tagger{}) }

func main() {}
