// Package sluice is the helper for Sluice transform plugins written in Go.
//
// A batch crosses the WebAssembly boundary as one byte arena plus small span entries
// (see wit/types.wit). This package hides that layout: a plugin implements
// Transformer on plain Records, and registers itself from its main package:
//
//	func init() { sluice.Register(&myPlugin{}) }
//	func main() {}
//
// Speed: decoding a batch makes no copies (keys and values are sub-slices of the
// arena) and encoding reuses the input arena, so a record emitted unchanged costs one
// append and a changed record appends only its new bytes.
package sluice

import (
	"fmt"
	"unsafe"

	"sluiceplugins/internal/wit/imports/sluice_plugin_log"
	tr "sluiceplugins/internal/wit/imports/sluice_plugin_transformer"
	wt "sluiceplugins/internal/wit/imports/sluice_plugin_types"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// Header is one Kafka record header. Kafka keeps headers in order and allows repeats.
type Header struct {
	Name  string
	Value []byte
}

// Record is a plain Kafka record.
//
// Key and Value are nil for a null key / null value (a tombstone); an empty non-nil
// slice is an empty value. Decoded records share the batch's arena: the bytes are
// valid during this call only (copy them to keep them). Changing a field (assigning a
// new slice) is fine; writing into the shared bytes changes the input too.
type Record struct {
	Key       []byte
	Value     []byte
	Headers   []Header
	Timestamp *int64  // milliseconds since the Unix epoch; nil lets Kafka set it
	Topic     *string // overrides the pipeline's sink topic
	Partition *int32  // overrides the partitioner

	src  *wt.KafkaRecord // the entry it was decoded from, to reuse its spans
	orig origin
}

type origin struct {
	key, value []byte
	headers    []Header
	timestamp  int64
	topic      string
	partition  int32
}

// Batch is the WIT batch type (arena + spans).
type Batch = wt.Batch

var empty = []byte{}

// DecodeBatch turns a WIT batch into plain records, in order.
func DecodeBatch(b *Batch) []Record {
	arena := b.Arena
	out := make([]Record, len(b.Records))
	for i := range b.Records {
		e := &b.Records[i]
		r := &out[i]
		r.src = e
		if e.Key.IsSome() {
			r.Key = slice(arena, e.Key.Some())
		}
		if e.Value.IsSome() {
			r.Value = slice(arena, e.Value.Some())
		}
		if e.HeadersLen > 0 {
			hs := make([]Header, e.HeadersLen)
			for j := range hs {
				h := b.Headers[int(e.HeadersStart)+j]
				hs[j] = Header{Name: string(slice(arena, h.Name)), Value: slice(arena, h.Value)}
			}
			r.Headers = hs
		}
		if e.TimestampMs.IsSome() {
			r.orig.timestamp = e.TimestampMs.Some()
			t := r.orig.timestamp
			r.Timestamp = &t
		}
		if e.Topic.IsSome() {
			r.orig.topic = string(slice(arena, e.Topic.Some()))
			t := r.orig.topic
			r.Topic = &t
		}
		if e.Partition.IsSome() {
			r.orig.partition = e.Partition.Some()
			p := r.orig.partition
			r.Partition = &p
		}
		r.orig.key, r.orig.value, r.orig.headers = r.Key, r.Value, r.Headers
	}
	return out
}

func slice(arena []byte, s wt.Span) []byte {
	if s.Len == 0 {
		return empty
	}
	return arena[s.Offset : s.Offset+s.Len : s.Offset+s.Len]
}

func same(a, b []byte) bool {
	return len(a) == len(b) && (a == nil) == (b == nil) && unsafe.SliceData(a) == unsafe.SliceData(b)
}

// Builder builds an output batch and one outcome per input, in input order.
type Builder struct {
	in       *Batch
	used     bool // some span points into the input arena
	extra    []byte
	headers  []wt.Header
	records  []wt.KafkaRecord
	outcomes []tr.Outcome
}

// NewBuilder starts an output batch. in (may be nil) is the batch the records were
// decoded from: its arena and spans are reused for unchanged fields.
func NewBuilder(in *Batch) *Builder {
	b := &Builder{in: in}
	if in != nil {
		b.headers = in.Headers
		b.records = make([]wt.KafkaRecord, 0, len(in.Records))
		b.outcomes = make([]tr.Outcome, 0, len(in.Records))
	}
	return b
}

// Emit adds one outcome: these records (zero or more; none filters the input out)
// were produced from the next input.
func (b *Builder) Emit(records ...*Record) {
	start := len(b.records)
	for _, r := range records {
		b.push(r)
	}
	b.outcomes = append(b.outcomes, tr.MakeOutcomeEmit(tr.Emitted{Start: uint32(start), Count: uint32(len(records))}))
}

// Reject adds one outcome: the next input is bad for good (the error policy routes it).
func (b *Builder) Reject(reason string) {
	b.outcomes = append(b.outcomes, tr.MakeOutcomeReject(reason))
}

// Retry adds one outcome: the next input may work later; the host retries it.
func (b *Builder) Retry(reason string) { b.outcomes = append(b.outcomes, tr.MakeOutcomeRetry(reason)) }

// Add appends records without an outcome (for sources).
func (b *Builder) Add(records ...*Record) {
	for _, r := range records {
		b.push(r)
	}
}

// Batch returns the WIT batch built so far.
func (b *Builder) Batch() Batch {
	var arena []byte
	switch {
	case b.in == nil:
		arena = b.extra
	case len(b.extra) == 0 && b.used:
		arena = b.in.Arena
	default:
		arena = make([]byte, len(b.in.Arena)+len(b.extra))
		if b.used {
			copy(arena, b.in.Arena)
		}
		copy(arena[len(b.in.Arena):], b.extra)
	}
	if arena == nil {
		arena = empty
	}
	return Batch{Arena: arena, Headers: b.headers, Records: b.records}
}

// Finish returns the WIT `transformed` value.
func (b *Builder) Finish() tr.Transformed {
	return tr.Transformed{Output: b.Batch(), Outcomes: b.outcomes}
}

func (b *Builder) span(data []byte) wt.Span {
	off := len(b.extra)
	if b.in != nil {
		off += len(b.in.Arena)
	}
	b.extra = append(b.extra, data...)
	return wt.Span{Offset: uint32(off), Len: uint32(len(data))}
}

func (b *Builder) spanString(s string) wt.Span {
	off := len(b.extra)
	if b.in != nil {
		off += len(b.in.Arena)
	}
	b.extra = append(b.extra, s...)
	return wt.Span{Offset: uint32(off), Len: uint32(len(s))}
}

func sameHeaders(a, b []Header) bool {
	if len(a) != len(b) || (len(a) > 0 && &a[0] != &b[0]) {
		return false
	}
	return true
}

func (b *Builder) push(r *Record) {
	src := r.src
	if src != nil && (b.in == nil || !b.owns(src)) {
		src = nil
	}
	if src != nil {
		b.used = true
		if same(r.Key, r.orig.key) && same(r.Value, r.orig.value) && sameHeaders(r.Headers, r.orig.headers) &&
			r.headersUnchanged() && r.scalarsUnchanged() {
			b.records = append(b.records, *src) // untouched: its spans are still right
			return
		}
	}
	var e wt.KafkaRecord
	switch {
	case r.Key == nil:
		e.Key = witTypes.None[wt.Span]()
	case src != nil && same(r.Key, r.orig.key):
		e.Key = src.Key
	default:
		e.Key = witTypes.Some(b.span(r.Key))
	}
	switch {
	case r.Value == nil:
		e.Value = witTypes.None[wt.Span]()
	case src != nil && same(r.Value, r.orig.value):
		e.Value = src.Value
	default:
		e.Value = witTypes.Some(b.span(r.Value))
	}
	if src != nil && sameHeaders(r.Headers, r.orig.headers) && r.headersUnchanged() {
		e.HeadersStart, e.HeadersLen = src.HeadersStart, src.HeadersLen
	} else if len(r.Headers) > 0 {
		e.HeadersStart, e.HeadersLen = uint32(len(b.headers)), uint32(len(r.Headers))
		for _, h := range r.Headers {
			b.headers = append(b.headers, wt.Header{Name: b.spanString(h.Name), Value: b.span(h.Value)})
		}
	}
	if r.Timestamp != nil {
		e.TimestampMs = witTypes.Some(*r.Timestamp)
	} else {
		e.TimestampMs = witTypes.None[int64]()
	}
	switch {
	case r.Topic == nil:
		e.Topic = witTypes.None[wt.Span]()
	case src != nil && src.Topic.IsSome() && *r.Topic == r.orig.topic:
		e.Topic = src.Topic
	default:
		e.Topic = witTypes.Some(b.spanString(*r.Topic))
	}
	if r.Partition != nil {
		e.Partition = witTypes.Some(*r.Partition)
	} else {
		e.Partition = witTypes.None[int32]()
	}
	b.records = append(b.records, e)
}

// owns reports whether src is an entry of the input batch.
func (b *Builder) owns(src *wt.KafkaRecord) bool {
	rs := b.in.Records
	if len(rs) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(src))
	first := uintptr(unsafe.Pointer(&rs[0]))
	return p >= first && p < first+uintptr(len(rs))*unsafe.Sizeof(rs[0])
}

// headersUnchanged: same header values in place (names and value slices).
func (r *Record) headersUnchanged() bool {
	for i := range r.Headers {
		if r.Headers[i].Name != r.orig.headers[i].Name || !same(r.Headers[i].Value, r.orig.headers[i].Value) {
			return false
		}
	}
	return true
}

func (r *Record) scalarsUnchanged() bool {
	src := r.src
	if (r.Timestamp != nil) != src.TimestampMs.IsSome() || (r.Timestamp != nil && *r.Timestamp != r.orig.timestamp) {
		return false
	}
	if (r.Topic != nil) != src.Topic.IsSome() || (r.Topic != nil && *r.Topic != r.orig.topic) {
		return false
	}
	if (r.Partition != nil) != src.Partition.IsSome() || (r.Partition != nil && *r.Partition != r.orig.partition) {
		return false
	}
	return true
}

// ---------------------------------------------------------------------------
// Plugins

// Outcome is what Transform returns for one input record.
type Outcome struct {
	kind    uint8
	records []*Record
	reason  string
}

const (
	kindEmit uint8 = iota
	kindReject
	kindRetry
)

// Emit: the input became these records (none drops it).
func Emit(records ...*Record) Outcome { return Outcome{kind: kindEmit, records: records} }

// Drop: the input is filtered out (emits zero records).
func Drop() Outcome { return Outcome{kind: kindEmit} }

// Reject: the input is bad for good; the pipeline's error policy routes it.
func Reject(reason string) Outcome { return Outcome{kind: kindReject, reason: reason} }

// Retry: the input may work later; the host retries it with backoff.
func Retry(reason string) Outcome { return Outcome{kind: kindRetry, reason: reason} }

// ConfigError is a configuration the plugin refuses; Key names the entry at fault.
type ConfigError struct {
	Key     string // "" when no single key is at fault
	Message string
}

func (e *ConfigError) Error() string { return e.Message }

// RetryableError fails a whole call so that the host retries it later.
type RetryableError struct{ Message string }

func (e *RetryableError) Error() string { return e.Message }

// Config is the plugin configuration: the pipeline file's key/value pairs, in order.
//
// Same rules and messages as the Rust SDK: a key given twice is an error, and after
// Open every key that no getter read is refused, naming the keys that were asked
// for. Messages never quote values (they may be secrets).
type Config struct {
	entries []witTypes.Tuple2[string, string]
	read    []bool
	known   []string
}

func newConfig(entries []witTypes.Tuple2[string, string]) (*Config, error) {
	for i, kv := range entries {
		for _, prev := range entries[:i] {
			if prev.F0 == kv.F0 {
				return nil, &ConfigError{Key: kv.F0, Message: fmt.Sprintf("`%s` is given twice; keep one", kv.F0)}
			}
		}
	}
	return &Config{entries: entries, read: make([]bool, len(entries))}, nil
}

// Get returns the value of key (marking it read).
func (c *Config) Get(key string) (string, bool) {
	seen := false
	for _, k := range c.known {
		if k == key {
			seen = true
			break
		}
	}
	if !seen {
		c.known = append(c.known, key)
	}
	for i, kv := range c.entries {
		if kv.F0 == key {
			c.read[i] = true
			return kv.F1, true
		}
	}
	return "", false
}

// Required returns the value of key, or a *ConfigError naming it.
func (c *Config) Required(key string) (string, error) {
	if v, ok := c.Get(key); ok {
		return v, nil
	}
	return "", &ConfigError{Key: key, Message: fmt.Sprintf("`%s` is required; add `%s: <value>`", key, key)}
}

// Optional returns the value of key, or fallback when it is absent.
func (c *Config) Optional(key, fallback string) string {
	if v, ok := c.Get(key); ok {
		return v
	}
	return fallback
}

// finish refuses the first key no getter read (run after Open).
func (c *Config) finish() error {
	for i, kv := range c.entries {
		if c.read[i] {
			continue
		}
		if len(c.known) == 0 {
			return &ConfigError{Key: kv.F0, Message: fmt.Sprintf("unknown key `%s`: this plugin takes no configuration", kv.F0)}
		}
		list := ""
		for j, k := range c.known {
			if j > 0 {
				list += ", "
			}
			list += "`" + k + "`"
		}
		return &ConfigError{Key: kv.F0, Message: fmt.Sprintf("unknown key `%s`: this plugin accepts %s", kv.F0, list)}
	}
	return nil
}

// Transformer is what a transform plugin implements.
type Transformer interface {
	// Open validates the configuration; return a *ConfigError naming the key at fault.
	// Keys Open does not read are refused afterwards.
	Open(config *Config) error
	// Transform handles one record. A panic fails the whole call (fatal), a
	// panic(&RetryableError{...}) makes the host retry the call.
	Transform(r *Record) Outcome
}

var plugin Transformer

// Register sets the plugin. Call it from the main package's init function.
func Register(t Transformer) { plugin = t }

// Log writes into the host's structured log (the host adds pipeline, stage, plugin).
var Log logger

type logger struct{}

func (logger) Debug(msg string) { sluice_plugin_log.Emit(sluice_plugin_log.Level_Debug, msg) }
func (logger) Info(msg string)  { sluice_plugin_log.Emit(sluice_plugin_log.Level_Info, msg) }
func (logger) Warn(msg string)  { sluice_plugin_log.Emit(sluice_plugin_log.Level_Warn, msg) }
func (logger) Error(msg string) { sluice_plugin_log.Emit(sluice_plugin_log.Level_Error, msg) }

// ExportOpen implements the WIT export (called by the generated bindings).
func ExportOpen(config []witTypes.Tuple2[string, string]) (res witTypes.Result[witTypes.Unit, wt.ConfigError]) {
	defer func() {
		if p := recover(); p != nil {
			res = witTypes.Err[witTypes.Unit](wt.ConfigError{Key: witTypes.None[string](), Message: fmt.Sprint("panic: ", p)})
		}
	}()
	if plugin == nil {
		return witTypes.Err[witTypes.Unit](wt.ConfigError{Key: witTypes.None[string](), Message: "no plugin registered: call sluice.Register in init"})
	}
	c, err := newConfig(config)
	if err == nil {
		err = plugin.Open(c)
	}
	if err == nil {
		err = c.finish()
	}
	if err != nil {
		key := witTypes.None[string]()
		msg := err.Error()
		if ce, ok := err.(*ConfigError); ok && ce.Key != "" {
			key = witTypes.Some(ce.Key)
		}
		return witTypes.Err[witTypes.Unit](wt.ConfigError{Key: key, Message: msg})
	}
	return witTypes.Ok[witTypes.Unit, wt.ConfigError](witTypes.Unit{})
}

// ExportProcess implements the WIT export (called by the generated bindings).
func ExportProcess(input wt.Batch) (res witTypes.Result[tr.Transformed, wt.CallError]) {
	defer func() {
		if p := recover(); p != nil {
			if re, ok := p.(*RetryableError); ok {
				res = witTypes.Err[tr.Transformed](wt.MakeCallErrorRetryable(re.Message))
				return
			}
			res = witTypes.Err[tr.Transformed](wt.MakeCallErrorFatal(fmt.Sprint("panic: ", p)))
		}
	}()
	records := DecodeBatch(&input)
	b := NewBuilder(&input)
	for i := range records {
		o := plugin.Transform(&records[i])
		switch o.kind {
		case kindEmit:
			b.Emit(o.records...)
		case kindReject:
			b.Reject(o.reason)
		default:
			b.Retry(o.reason)
		}
	}
	return witTypes.Ok[tr.Transformed, wt.CallError](b.Finish())
}
