// Package sluice is the helper for Sluice transform plugins written in Go.
//
// A batch crosses the WebAssembly boundary as one byte arena plus two flat lists of
// u32 words that point into it (see wit/types.wit). This package hides that layout: a
// plugin implements Transformer on plain Records, and registers itself from its main
// package:
//
//	func init() { sluice.Register(&myPlugin{}) }
//	func main() {}
//
// Speed: decoding a batch copies no keys or values (they are sub-slices of the arena)
// and makes a handful of allocations per batch, not per record. Encoding reuses the
// input arena: a key, value or header value that still lies in it is referenced, not
// copied, so a record emitted unchanged costs its words only and a changed record
// appends only its new bytes.
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

	src *[recordWords]uint32 // the words it was decoded from, to reuse their spans
}

// Batch is the WIT batch type: an arena and the words of its records and headers.
type Batch = wt.Batch

// The word layout of a batch (wit/types.wit, `batch`).
const (
	recordWords = 12 // words per record in Batch.Records
	headerWords = 4  // words per header in Batch.Headers

	flagKey       = 1 << 0
	flagValue     = 1 << 1
	flagTimestamp = 1 << 2
	flagTopic     = 1 << 3
	flagPartition = 1 << 4
)

var empty = []byte{}

// DecodeBatch turns a WIT batch into plain records, in order. It panics on a batch
// whose word counts or spans do not fit its layout.
func DecodeBatch(b *Batch) []Record {
	arena, words, hwords := b.Arena, b.Records, b.Headers
	if len(words)%recordWords != 0 || len(hwords)%headerWords != 0 {
		panic(fmt.Sprintf("malformed batch: %d record words and %d header words (multiples of %d and %d expected)",
			len(words), len(hwords), recordWords, headerWords))
	}
	n := len(words) / recordWords
	out := make([]Record, n)
	// One allocation each for the headers, timestamps, topics and partitions of all
	// records; Kafka records rarely lack a timestamp, so these are not per record.
	headers := make([]Header, 0, len(hwords)/headerWords)
	var timestamps []int64
	var topics []string
	var partitions []int32
	// Header names by position in a record, and the last topic: records of a batch
	// mostly repeat them, so a name is allocated only when its bytes differ.
	var names []string
	var topic string
	for i := range out {
		w := (*[recordWords]uint32)(words[i*recordWords:])
		r := &out[i]
		r.src = w
		flags := w[0]
		if flags&flagKey != 0 {
			r.Key = span(arena, w[1], w[2])
		}
		if flags&flagValue != 0 {
			r.Value = span(arena, w[3], w[4])
		}
		if count := int(w[6]); count > 0 {
			start := int(w[5]) * headerWords
			hs := hwords[start : start+count*headerWords]
			first := len(headers)
			for j := 0; j < count; j++ {
				h := hs[j*headerWords : (j+1)*headerWords]
				name := span(arena, h[0], h[1])
				if j == len(names) {
					names = append(names, string(name))
				} else if names[j] != string(name) {
					names[j] = string(name)
				}
				headers = append(headers, Header{Name: names[j], Value: span(arena, h[2], h[3])})
			}
			r.Headers = headers[first:len(headers):len(headers)]
		}
		if flags&flagTimestamp != 0 {
			if timestamps == nil {
				timestamps = make([]int64, n)
			}
			timestamps[i] = int64(uint64(w[7]) | uint64(w[8])<<32)
			r.Timestamp = &timestamps[i]
		}
		if flags&flagTopic != 0 {
			if topics == nil {
				topics = make([]string, n)
			}
			if name := span(arena, w[9], w[10]); topic != string(name) {
				topic = string(name)
			}
			topics[i] = topic
			r.Topic = &topics[i]
		}
		if flags&flagPartition != 0 {
			if partitions == nil {
				partitions = make([]int32, n)
			}
			partitions[i] = int32(w[11])
			r.Partition = &partitions[i]
		}
	}
	return out
}

// span returns arena[offset : offset+n], capacity-limited; never nil.
func span(arena []byte, offset, n uint32) []byte {
	if n == 0 {
		return empty
	}
	end := uint64(offset) + uint64(n)
	return arena[offset:end:end]
}

// Builder builds an output batch and the outcome of each input, in input order.
type Builder struct {
	in       *Batch
	inputs   int  // records in the input batch
	used     bool // some span points into the input arena
	extra    []byte
	records  []uint32
	headers  []uint32
	emitted  []uint32
	failures []tr.Failure
}

// NewBuilder starts an output batch. in (may be nil) is the batch the records were
// decoded from: its arena is reused for unchanged fields.
func NewBuilder(in *Batch) *Builder {
	b := &Builder{in: in}
	if in != nil {
		// Sized for one output per input with the same headers; grow resizes
		// from the rate seen when a plugin emits or adds more.
		b.inputs = len(in.Records) / recordWords
		b.records = make([]uint32, 0, len(in.Records))
		b.headers = make([]uint32, 0, len(in.Headers))
		b.emitted = make([]uint32, 0, b.inputs)
	}
	return b
}

// Emit adds the outcome of the next input: it became these records (zero or more;
// none filters it out).
func (b *Builder) Emit(records ...*Record) {
	for _, r := range records {
		b.push(r)
	}
	b.emitted = append(b.emitted, uint32(len(records)))
}

// Reject adds the outcome of the next input: it is bad for good (the error policy
// routes it).
func (b *Builder) Reject(reason string) { b.fail(tr.FailureKind_Reject, reason) }

// Retry adds the outcome of the next input: it may work later; the host retries it.
func (b *Builder) Retry(reason string) { b.fail(tr.FailureKind_Retry, reason) }

func (b *Builder) fail(kind tr.FailureKind, reason string) {
	b.failures = append(b.failures, tr.Failure{Input: uint32(len(b.emitted)), Kind: kind, Reason: reason})
	b.emitted = append(b.emitted, 0)
}

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
	case len(b.extra) == 0:
		// Every span is empty (0, 0), or there are no records.
	default:
		// Spans into extra start after the input arena; its bytes are copied only
		// when some span points into it.
		arena = make([]byte, len(b.in.Arena)+len(b.extra))
		if b.used {
			copy(arena, b.in.Arena)
		}
		copy(arena[len(b.in.Arena):], b.extra)
	}
	if arena == nil {
		arena = empty
	}
	return Batch{Arena: arena, Records: b.records, Headers: b.headers}
}

// Finish returns the WIT `transformed` value.
func (b *Builder) Finish() tr.Transformed {
	return tr.Transformed{Output: b.Batch(), Emitted: b.emitted, Failures: b.failures}
}

// bytes returns the span of data in the output arena: where it lies in the input
// arena if it does, else where it is appended.
func (b *Builder) bytes(data []byte) (offset, n uint32) {
	if len(data) == 0 {
		return 0, 0
	}
	if b.in != nil && len(b.in.Arena) > 0 {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(b.in.Arena)))
		at := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
		size := uintptr(len(b.in.Arena))
		if at >= base && at-base <= size && uintptr(len(data)) <= size-(at-base) {
			b.used = true
			return uint32(at - base), uint32(len(data))
		}
	}
	offset = b.end()
	b.extra = append(b.extra, data...)
	return offset, uint32(len(data))
}

// text returns the span of s, appended to the output arena.
func (b *Builder) text(s string) (offset, n uint32) {
	if len(s) == 0 {
		return 0, 0
	}
	offset = b.end()
	b.extra = append(b.extra, s...)
	return offset, uint32(len(s))
}

// end is the offset in the output arena of the next byte appended: appended bytes
// follow the input arena.
func (b *Builder) end() uint32 {
	if b.in != nil {
		return uint32(len(b.in.Arena) + len(b.extra))
	}
	return uint32(len(b.extra))
}

// reuse reports whether the input arena holds s at offset, n (the span a header name
// or topic was decoded from), so that the output can point there.
func (b *Builder) reuse(s string, offset, n uint32) bool {
	if len(s) == 0 || s != string(span(b.in.Arena, offset, n)) {
		return false
	}
	b.used = true
	return true
}

func (b *Builder) push(r *Record) {
	src := r.src
	if src != nil && !b.owns(src) {
		src = nil
	}
	var w [recordWords]uint32
	if r.Key != nil {
		w[0] |= flagKey
		w[1], w[2] = b.bytes(r.Key)
	}
	if r.Value != nil {
		w[0] |= flagValue
		w[3], w[4] = b.bytes(r.Value)
	}
	// Headers are written in record order, so a record's are contiguous.
	w[5], w[6] = uint32(len(b.headers)/headerWords), uint32(len(r.Headers))
	if len(r.Headers) > 0 {
		var from []uint32 // the header words r was decoded with, for their names
		if src != nil {
			start := int(src[5]) * headerWords
			from = b.in.Headers[start : start+int(src[6])*headerWords]
		}
		b.headers = b.grow(b.headers, len(r.Headers)*headerWords)
		for j := range r.Headers {
			h := &r.Headers[j]
			var no, nl uint32
			if k := j * headerWords; k < len(from) && b.reuse(h.Name, from[k], from[k+1]) {
				no, nl = from[k], from[k+1]
			} else {
				no, nl = b.text(h.Name)
			}
			vo, vl := b.bytes(h.Value)
			b.headers = append(b.headers, no, nl, vo, vl)
		}
	}
	if r.Timestamp != nil {
		w[0] |= flagTimestamp
		t := uint64(*r.Timestamp)
		w[7], w[8] = uint32(t), uint32(t>>32)
	}
	if r.Topic != nil {
		w[0] |= flagTopic
		if src != nil && src[0]&flagTopic != 0 && b.reuse(*r.Topic, src[9], src[10]) {
			w[9], w[10] = src[9], src[10]
		} else {
			w[9], w[10] = b.text(*r.Topic)
		}
	}
	if r.Partition != nil {
		w[0] |= flagPartition
		w[11] = uint32(*r.Partition)
	}
	b.records = append(b.grow(b.records, recordWords), w[:]...)
}

// grow returns words with room for n more. Out of room, it sizes the list for the
// whole batch at the rate of the inputs handled so far, so that a plugin that emits
// more records or headers than it was given reallocates about once per batch.
func (b *Builder) grow(words []uint32, n int) []uint32 {
	if cap(words)-len(words) >= n {
		return words
	}
	want := len(words) + n
	size := 2 * cap(words)
	if done := len(b.emitted) + 1; b.inputs > done {
		size = max(size, want*b.inputs/done)
	}
	grown := make([]uint32, len(words), max(size, want))
	copy(grown, words)
	return grown
}

// owns reports whether src is a record of the input batch.
func (b *Builder) owns(src *[recordWords]uint32) bool {
	if b.in == nil || len(b.in.Records) == 0 {
		return false
	}
	p := uintptr(unsafe.Pointer(src))
	first := uintptr(unsafe.Pointer(unsafe.SliceData(b.in.Records)))
	return p >= first && p < first+uintptr(len(b.in.Records))*unsafe.Sizeof(b.in.Records[0])
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
