// Package sluice is the helper for Sluice transform plugins written in Go.
//
// A batch crosses the WebAssembly boundary as one byte arena plus two flat lists of
// u32 words that point into it (see wit/types.wit); the word positions and flag bits
// are the constants of layout.go, generated from the same WIT by `make gen`. This
// package hides that layout: a plugin implements Transformer on plain Records, and
// registers itself from its main package:
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
	"unicode/utf8"
	"unsafe"

	"sluiceplugins/internal/wit/imports/sluice_plugin_log"
	tr "sluiceplugins/internal/wit/imports/sluice_plugin_transformer"
	wt "sluiceplugins/internal/wit/imports/sluice_plugin_types"

	witTypes "go.bytecodealliance.org/pkg/wit/types"
)

// Header is one Kafka record header. Kafka keeps headers in order and allows repeats.
// A nil Value is a null header value; an empty non-nil slice is an empty value. The
// name must be UTF-8.
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

	src *[RecordWords]uint32 // the words it was decoded from, to reuse their spans
}

// Batch is the WIT batch type: an arena and the words of its records and headers.
type Batch = wt.Batch

var empty = []byte{}

// BatchError is a batch that breaks the contract: the record at fault (the record
// count when none is), the field ("record-words", "header-words", "arena", "flags",
// "key", "value", "topic", "headers", "header-name", "header-value"), the header
// entry's index for header fields (-1 otherwise) and a message naming them.
type BatchError struct {
	Record  int
	Field   string
	Header  int
	Message string
}

func (e *BatchError) Error() string { return fmt.Sprintf("record %d: %s", e.Record, e.Message) }

// Validate checks b against the contract's rules, in the order the host and every
// other helper check them; nil when b is valid.
func Validate(b *Batch) *BatchError {
	arena, words, hw := b.Arena, b.Records, b.Headers
	n := len(words) / RecordWords
	bad := func(record int, field string, header int, format string, args ...any) *BatchError {
		return &BatchError{Record: record, Field: field, Header: header, Message: fmt.Sprintf(format, args...)}
	}
	if len(words)%RecordWords != 0 {
		return bad(n, "record-words", -1, "the record list holds %d words, not a multiple of %d", len(words), RecordWords)
	}
	if len(hw)%HeaderWords != 0 {
		return bad(n, "header-words", -1, "the header list holds %d words, not a multiple of %d", len(hw), HeaderWords)
	}
	size := uint64(len(arena))
	if size >= NullValueLen {
		return bad(n, "arena", -1, "the arena holds %d bytes, more than u32 offsets address", size)
	}
	count := uint64(len(hw) / HeaderWords)
	fits := func(offset, length uint32) bool { return uint64(offset)+uint64(length) <= size }
	spans := [...]struct {
		flag        uint32
		offset, len int
		field       string
	}{
		{FlagKey, RecordKeyOffset, RecordKeyLen, "key"},
		{FlagValue, RecordValueOffset, RecordValueLen, "value"},
		{FlagTopic, RecordTopicOffset, RecordTopicLen, "topic"},
	}
	for i := 0; i < n; i++ {
		w := words[i*RecordWords : (i+1)*RecordWords]
		flags := w[RecordFlags]
		if unknown := flags &^ FlagsAll; unknown != 0 {
			return bad(i, "flags", -1, "unknown flag bits %#x", unknown)
		}
		for _, s := range spans {
			if flags&s.flag != 0 && !fits(w[s.offset], w[s.len]) {
				return bad(i, s.field, -1, "%s span %d..%d exceeds the arena of %d bytes",
					s.field, w[s.offset], uint64(w[s.offset])+uint64(w[s.len]), size)
			}
		}
		if flags&FlagTopic != 0 && !utf8.Valid(span(arena, w[RecordTopicOffset], w[RecordTopicLen])) {
			return bad(i, "topic", -1, "topic is not UTF-8")
		}
		start, length := w[RecordHeadersStart], w[RecordHeadersLen]
		if uint64(start)+uint64(length) > count {
			return bad(i, "headers", -1, "headers %d+%d exceed the %d headers of the batch", start, length, count)
		}
	}
	for h := 0; h < int(count); h++ {
		e := hw[h*HeaderWords : (h+1)*HeaderWords]
		no, nl, vo, vl := e[HeaderNameOffset], e[HeaderNameLen], e[HeaderValueOffset], e[HeaderValueLen]
		field, problem := "", ""
		switch {
		case !fits(no, nl):
			field, problem = "header-name", fmt.Sprintf("header %d name span %d..%d exceeds the arena of %d bytes", h, no, uint64(no)+uint64(nl), size)
		case !utf8.Valid(span(arena, no, nl)):
			field, problem = "header-name", fmt.Sprintf("header %d name is not UTF-8", h)
		case vl == NullValueLen:
			if vo != 0 {
				field, problem = "header-value", fmt.Sprintf("header %d value is null but its offset word is %d, not 0", h, vo)
			}
		case !fits(vo, vl):
			field, problem = "header-value", fmt.Sprintf("header %d value span %d..%d exceeds the arena of %d bytes", h, vo, uint64(vo)+uint64(vl), size)
		}
		if field != "" {
			record := n
			for i := 0; i < n; i++ {
				start := uint64(words[i*RecordWords+RecordHeadersStart])
				if start <= uint64(h) && uint64(h) < start+uint64(words[i*RecordWords+RecordHeadersLen]) {
					record = i
					break
				}
			}
			return bad(record, field, h, "%s", problem)
		}
	}
	return nil
}

// DecodeBatch turns a WIT batch into plain records, in order, after checking it
// (see Validate).
func DecodeBatch(b *Batch) ([]Record, error) {
	if err := Validate(b); err != nil {
		return nil, err
	}
	arena, words, hwords := b.Arena, b.Records, b.Headers
	n := len(words) / RecordWords
	out := make([]Record, n)
	// One allocation each for the headers, timestamps, topics and partitions of all
	// records; Kafka records rarely lack a timestamp, so these are not per record.
	headers := make([]Header, 0, len(hwords)/HeaderWords)
	var timestamps []int64
	var topics []string
	var partitions []int32
	// Header names by position in a record, and the last topic: records of a batch
	// mostly repeat them, so a name is allocated only when its bytes differ.
	var names []string
	var topic string
	for i := range out {
		w := (*[RecordWords]uint32)(words[i*RecordWords:])
		r := &out[i]
		r.src = w
		flags := w[RecordFlags]
		if flags&FlagKey != 0 {
			r.Key = span(arena, w[RecordKeyOffset], w[RecordKeyLen])
		}
		if flags&FlagValue != 0 {
			r.Value = span(arena, w[RecordValueOffset], w[RecordValueLen])
		}
		if count := int(w[RecordHeadersLen]); count > 0 {
			start := int(w[RecordHeadersStart]) * HeaderWords
			hs := hwords[start : start+count*HeaderWords]
			first := len(headers)
			for j := 0; j < count; j++ {
				h := hs[j*HeaderWords : (j+1)*HeaderWords]
				name := span(arena, h[HeaderNameOffset], h[HeaderNameLen])
				if j == len(names) {
					names = append(names, string(name))
				} else if names[j] != string(name) {
					names[j] = string(name)
				}
				var value []byte // nil: a null header value
				if h[HeaderValueLen] != NullValueLen {
					value = span(arena, h[HeaderValueOffset], h[HeaderValueLen])
				}
				headers = append(headers, Header{Name: names[j], Value: value})
			}
			r.Headers = headers[first:len(headers):len(headers)]
		}
		if flags&FlagTimestamp != 0 {
			if timestamps == nil {
				timestamps = make([]int64, n)
			}
			timestamps[i] = int64(uint64(w[RecordTimestampLow]) | uint64(w[RecordTimestampHigh])<<32)
			r.Timestamp = &timestamps[i]
		}
		if flags&FlagTopic != 0 {
			if topics == nil {
				topics = make([]string, n)
			}
			if name := span(arena, w[RecordTopicOffset], w[RecordTopicLen]); topic != string(name) {
				topic = string(name)
			}
			topics[i] = topic
			r.Topic = &topics[i]
		}
		if flags&FlagPartition != 0 {
			if partitions == nil {
				partitions = make([]int32, n)
			}
			partitions[i] = int32(w[RecordPartition])
			r.Partition = &partitions[i]
		}
	}
	return out, nil
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
		b.inputs = len(in.Records) / RecordWords
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
	var w [RecordWords]uint32
	if r.Key != nil {
		w[RecordFlags] |= FlagKey
		w[RecordKeyOffset], w[RecordKeyLen] = b.bytes(r.Key)
	}
	if r.Value != nil {
		w[RecordFlags] |= FlagValue
		w[RecordValueOffset], w[RecordValueLen] = b.bytes(r.Value)
	}
	// Headers are written in record order, so a record's are contiguous.
	w[RecordHeadersStart] = uint32(len(b.headers) / HeaderWords)
	w[RecordHeadersLen] = uint32(len(r.Headers))
	if len(r.Headers) > 0 {
		var from []uint32 // the header words r was decoded with, for their names
		if src != nil {
			start := int(src[RecordHeadersStart]) * HeaderWords
			from = b.in.Headers[start : start+int(src[RecordHeadersLen])*HeaderWords]
		}
		b.headers = b.grow(b.headers, len(r.Headers)*HeaderWords)
		for j := range r.Headers {
			h := &r.Headers[j]
			var e [HeaderWords]uint32
			k := j * HeaderWords
			if k < len(from) && b.reuse(h.Name, from[k+HeaderNameOffset], from[k+HeaderNameLen]) {
				e[HeaderNameOffset], e[HeaderNameLen] = from[k+HeaderNameOffset], from[k+HeaderNameLen]
			} else {
				if !utf8.ValidString(h.Name) {
					panic(fmt.Sprintf("header name %q is not UTF-8", h.Name))
				}
				e[HeaderNameOffset], e[HeaderNameLen] = b.text(h.Name)
			}
			if h.Value == nil {
				e[HeaderValueLen] = NullValueLen // a null header value (offset 0)
			} else {
				e[HeaderValueOffset], e[HeaderValueLen] = b.bytes(h.Value)
			}
			b.headers = append(b.headers, e[:]...)
		}
	}
	if r.Timestamp != nil {
		w[RecordFlags] |= FlagTimestamp
		t := uint64(*r.Timestamp)
		w[RecordTimestampLow], w[RecordTimestampHigh] = uint32(t), uint32(t>>32)
	}
	if r.Topic != nil {
		w[RecordFlags] |= FlagTopic
		if src != nil && src[RecordFlags]&FlagTopic != 0 && b.reuse(*r.Topic, src[RecordTopicOffset], src[RecordTopicLen]) {
			w[RecordTopicOffset], w[RecordTopicLen] = src[RecordTopicOffset], src[RecordTopicLen]
		} else {
			if !utf8.ValidString(*r.Topic) {
				panic(fmt.Sprintf("topic %q is not UTF-8", *r.Topic))
			}
			w[RecordTopicOffset], w[RecordTopicLen] = b.text(*r.Topic)
		}
	}
	if r.Partition != nil {
		w[RecordFlags] |= FlagPartition
		w[RecordPartition] = uint32(*r.Partition)
	}
	b.records = append(b.grow(b.records, RecordWords), w[:]...)
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
func (b *Builder) owns(src *[RecordWords]uint32) bool {
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
	records, err := DecodeBatch(&input)
	if err != nil {
		return witTypes.Err[tr.Transformed](wt.MakeCallErrorFatal("malformed input batch: " + err.Error()))
	}
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
