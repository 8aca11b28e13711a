// Package serdejson reads and writes JSON objects exactly as the Rust plugins do
// (serde_json 1.0.15x with preserve_order, default features), so Go transforms are
// byte-identical to them.
//
// Accepts: UTF-8 text of one JSON value (RFC 8259; no BOM, no lone-surrogate escapes,
// nesting at most 127 deep, numbers inside the f64 range). Writes compact JSON: keys in
// first-seen order (a repeated key keeps its first place and its last value), strings
// escaped like serde_json, integers in [-2^63, 2^64-1] as written, every other number
// as serde_json reads and prints it (1.0, 1e+21, 1.5e-7, -0.0).
package serdejson

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

var errNotJSON = errors.New("not JSON")

const maxDepth = 127

// Object is a parsed top-level JSON object.
type Object struct {
	raw     []byte
	members []member
	set     map[string]string // string values set with SetString
	setKeys []string          // keys appended by SetString, in order
}

type member struct {
	key        string
	start, end int // value bytes in raw
}

// ParseObject parses data; ok is false when data is not exactly one JSON object.
func ParseObject(data []byte) (o *Object, ok bool) {
	if !utf8.Valid(data) {
		return nil, false
	}
	p := parser{s: data}
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, false
	}
	o = &Object{raw: data}
	if p.object(0, o) != nil {
		return nil, false
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false
	}
	return o, true
}

// Has reports whether the object has the top-level key.
func (o *Object) Has(key string) bool {
	if _, ok := o.set[key]; ok {
		return true
	}
	for i := range o.members {
		if o.members[i].key == key {
			return true
		}
	}
	return false
}

// SetString sets a top-level key to a string value (keeps its position, or appends it).
func (o *Object) SetString(key, value string) {
	if o.set == nil {
		o.set = map[string]string{}
	}
	if !o.Has(key) {
		o.setKeys = append(o.setKeys, key)
	}
	o.set[key] = value
}

// AppendCompact appends the object as compact JSON to dst.
func (o *Object) AppendCompact(dst []byte) []byte {
	dst = append(dst, '{')
	first := true
	seen := make(map[string]struct{}, len(o.members))
	for i := range o.members {
		k := o.members[i].key
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, k)
		dst = append(dst, ':')
		if v, ok := o.set[k]; ok {
			dst = appendString(dst, v)
			continue
		}
		last := i
		for j := i + 1; j < len(o.members); j++ {
			if o.members[j].key == k {
				last = j
			}
		}
		dst = appendValue(dst, o.raw[o.members[last].start:o.members[last].end])
	}
	for _, k := range o.setKeys {
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, k)
		dst = append(dst, ':')
		dst = appendString(dst, o.set[k])
	}
	return append(dst, '}')
}

// ---------------------------------------------------------------------------
// Validating parser

type parser struct {
	s []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.s) {
		switch p.s[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// object parses {...} at p.i; top, when not nil, records the members.
func (p *parser) object(depth int, top *Object) error {
	if depth >= maxDepth {
		return errNotJSON
	}
	p.i++ // {
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return nil
	}
	for {
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != '"' {
			return errNotJSON
		}
		ks := p.i
		if err := p.str(); err != nil {
			return err
		}
		ke := p.i
		p.ws()
		if p.i >= len(p.s) || p.s[p.i] != ':' {
			return errNotJSON
		}
		p.i++
		p.ws()
		vs := p.i
		if err := p.value(depth + 1); err != nil {
			return err
		}
		if top != nil {
			k, _ := decodeString(p.s[ks:ke])
			top.members = append(top.members, member{key: k, start: vs, end: p.i})
		}
		p.ws()
		if p.i >= len(p.s) {
			return errNotJSON
		}
		switch p.s[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return nil
		default:
			return errNotJSON
		}
	}
}

func (p *parser) value(depth int) error {
	if p.i >= len(p.s) {
		return errNotJSON
	}
	switch c := p.s[p.i]; {
	case c == '{':
		return p.object(depth, nil)
	case c == '[':
		if depth >= maxDepth {
			return errNotJSON
		}
		p.i++
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == ']' {
			p.i++
			return nil
		}
		for {
			p.ws()
			if err := p.value(depth + 1); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.s) {
				return errNotJSON
			}
			switch p.s[p.i] {
			case ',':
				p.i++
			case ']':
				p.i++
				return nil
			default:
				return errNotJSON
			}
		}
	case c == '"':
		return p.str()
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	return errNotJSON
}

func (p *parser) lit(word string) error {
	if len(p.s)-p.i < len(word) || string(p.s[p.i:p.i+len(word)]) != word {
		return errNotJSON
	}
	p.i += len(word)
	return nil
}

func (p *parser) number() error {
	start := p.i
	if err := p.numberSyntax(); err != nil {
		return err
	}
	if _, _, err := Number(string(p.s[start:p.i])); err != nil {
		return err
	}
	return nil
}

// str validates a string token at p.i (UTF-8 is already known to be valid).
func (p *parser) str() error {
	p.i++ // "
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return nil
		case c < 0x20:
			return errNotJSON
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				return errNotJSON
			}
			switch p.s[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				r, ok := hex4(p.s, p.i+1)
				if !ok {
					return errNotJSON
				}
				p.i += 5
				if r >= 0xdc00 && r <= 0xdfff {
					return errNotJSON // lone trailing surrogate
				}
				if r >= 0xd800 && r <= 0xdbff {
					if p.i+1 >= len(p.s) || p.s[p.i] != '\\' || p.s[p.i+1] != 'u' {
						return errNotJSON
					}
					r2, ok := hex4(p.s, p.i+2)
					if !ok || r2 < 0xdc00 || r2 > 0xdfff {
						return errNotJSON
					}
					p.i += 6
				}
			default:
				return errNotJSON
			}
		default:
			p.i++
		}
	}
	return errNotJSON
}

func hex4(s []byte, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	var r rune
	for _, c := range s[i : i+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			r |= rune(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	return r, true
}

// decodeString decodes a validated string token (with quotes).
func decodeString(tok []byte) (string, bool) {
	body := tok[1 : len(tok)-1]
	if !containsByte(body, '\\') {
		return string(body), true
	}
	var b strings.Builder
	b.Grow(len(body))
	for i := 0; i < len(body); {
		c := body[i]
		if c != '\\' {
			b.WriteByte(c)
			i++
			continue
		}
		switch body[i+1] {
		case '"':
			b.WriteByte('"')
		case '\\':
			b.WriteByte('\\')
		case '/':
			b.WriteByte('/')
		case 'b':
			b.WriteByte('\b')
		case 'f':
			b.WriteByte('\f')
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'u':
			r, _ := hex4(body, i+2)
			if r >= 0xd800 && r <= 0xdbff {
				r2, _ := hex4(body, i+8)
				r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
				i += 6
			}
			b.WriteRune(r)
			i += 6
			continue
		}
		i += 2
	}
	return b.String(), true
}

func containsByte(s []byte, c byte) bool {
	for _, x := range s {
		if x == c {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// Writer

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as serde_json does.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// appendValue appends a validated JSON value in compact, serde_json form.
func appendValue(dst []byte, v []byte) []byte {
	p := parser{s: v}
	return p.write(dst)
}

func (p *parser) write(dst []byte) []byte {
	p.ws()
	switch c := p.s[p.i]; {
	case c == '{':
		p.i++
		type kv struct {
			key        string
			start, end int
		}
		var members []kv
		p.ws()
		if p.s[p.i] != '}' {
			for {
				p.ws()
				ks := p.i
				_ = p.str()
				k, _ := decodeString(p.s[ks:p.i])
				p.ws()
				p.i++ // :
				p.ws()
				vs := p.i
				_ = p.value(0)
				members = append(members, kv{k, vs, p.i})
				p.ws()
				if p.s[p.i] == '}' {
					break
				}
				p.i++ // ,
			}
		}
		p.i++
		dst = append(dst, '{')
		first := true
		for i, m := range members {
			dup := false
			for j := 0; j < i; j++ {
				if members[j].key == m.key {
					dup = true
					break
				}
			}
			if dup {
				continue
			}
			last := m
			for j := i + 1; j < len(members); j++ {
				if members[j].key == m.key {
					last = members[j]
				}
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = appendString(dst, m.key)
			dst = append(dst, ':')
			dst = appendValue(dst, p.s[last.start:last.end])
		}
		return append(dst, '}')
	case c == '[':
		p.i++
		dst = append(dst, '[')
		p.ws()
		if p.s[p.i] == ']' {
			p.i++
			return append(dst, ']')
		}
		for n := 0; ; n++ {
			if n > 0 {
				dst = append(dst, ',')
			}
			dst = p.write(dst)
			p.ws()
			if p.s[p.i] == ']' {
				p.i++
				return append(dst, ']')
			}
			p.i++ // ,
		}
	case c == '"':
		s := p.i
		_ = p.str()
		str, _ := decodeString(p.s[s:p.i])
		return appendString(dst, str)
	case c == 't':
		p.i += 4
		return append(dst, "true"...)
	case c == 'f':
		p.i += 5
		return append(dst, "false"...)
	case c == 'n':
		p.i += 4
		return append(dst, "null"...)
	default:
		s := p.i
		_ = p.number()
		text, _, _ := Number(string(p.s[s:p.i]))
		return append(dst, text...)
	}
}

// ---------------------------------------------------------------------------
// Numbers, as serde_json 1.0.15x reads (without float_roundtrip) and writes them

var pow10 [309]float64

func init() {
	for i := range pow10 {
		pow10[i], _ = strconv.ParseFloat("1e"+strconv.Itoa(i), 64)
	}
}

var errOutOfRange = errors.New("number out of range")

// Number returns the text serde_json writes for a valid JSON number token, and
// whether serde_json holds it as an integer (u64 / i64).
func Number(tok string) (text string, integer bool, err error) {
	i := 0
	positive := tok[0] != '-'
	if !positive {
		i = 1
	}
	var sig uint64
	if tok[i] == '0' {
		i++
	} else {
		for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
			d := uint64(tok[i] - '0')
			if sig > math.MaxUint64/10 || (sig == math.MaxUint64/10 && d > math.MaxUint64%10) {
				exponent := 0
				for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
					exponent++
				}
				f, err := fractionAndExponent(tok, i, positive, sig, exponent)
				if err != nil {
					return "", false, err
				}
				return FormatF64(f), false, nil
			}
			sig = sig*10 + d
		}
	}
	if i == len(tok) {
		if positive || (sig != 0 && sig <= 1<<63) {
			return tok, true, nil
		}
		return FormatF64(-float64(sig)), false, nil
	}
	f, err := fractionAndExponent(tok, i, positive, sig, 0)
	if err != nil {
		return "", false, err
	}
	return FormatF64(f), false, nil
}

func fractionAndExponent(tok string, i int, positive bool, sig uint64, exponent int) (float64, error) {
	if i < len(tok) && tok[i] == '.' {
		i++
		overflowed := false
		for ; i < len(tok) && tok[i] >= '0' && tok[i] <= '9'; i++ {
			if overflowed {
				continue
			}
			d := uint64(tok[i] - '0')
			if sig > math.MaxUint64/10 || (sig == math.MaxUint64/10 && d > math.MaxUint64%10) {
				overflowed = true
				continue
			}
			sig = sig*10 + d
			exponent--
		}
	}
	if i < len(tok) { // e / E
		i++
		positiveExp := true
		if tok[i] == '+' {
			i++
		} else if tok[i] == '-' {
			positiveExp = false
			i++
		}
		exp := int64(0)
		for ; i < len(tok); i++ {
			d := int64(tok[i] - '0')
			if exp > math.MaxInt32/10 || (exp == math.MaxInt32/10 && d > math.MaxInt32%10) {
				if sig != 0 && positiveExp {
					return 0, errOutOfRange
				}
				if positive {
					return 0, nil
				}
				return math.Copysign(0, -1), nil
			}
			exp = exp*10 + d
		}
		e := int64(exponent)
		if positiveExp {
			e += exp
			if e > math.MaxInt32 {
				e = math.MaxInt32
			}
		} else {
			e -= exp
			if e < math.MinInt32 {
				e = math.MinInt32
			}
		}
		exponent = int(e)
	}
	return fromParts(positive, sig, exponent)
}

func fromParts(positive bool, sig uint64, exponent int) (float64, error) {
	f := float64(sig)
	for {
		a := exponent
		if a < 0 {
			a = -a
		}
		if a <= 308 {
			if exponent >= 0 {
				f *= pow10[a]
				if math.IsInf(f, 0) {
					return 0, errOutOfRange
				}
			} else {
				f /= pow10[a]
			}
			break
		}
		if f == 0 {
			break
		}
		if exponent >= 0 {
			return 0, errOutOfRange
		}
		f /= 1e308
		exponent += 308
	}
	if positive {
		return f, nil
	}
	return -f, nil
}

// FormatF64 formats a finite float64 as serde_json 1.0.15x (zmij) does.
func FormatF64(f float64) string {
	if f == 0 {
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // shortest round-trip: d.ddde±XX
	sign := ""
	if s[0] == '-' {
		sign, s = "-", s[1:]
	}
	ei := strings.IndexByte(s, 'e')
	digits := s[:1]
	if ei > 1 {
		digits += s[2:ei]
	}
	e, _ := strconv.Atoi(s[ei+1:])
	n := len(digits)
	if e >= -5 && e <= 15 {
		switch {
		case n-1 <= e:
			return sign + digits + strings.Repeat("0", e-n+1) + ".0"
		case e >= 0:
			return sign + digits[:e+1] + "." + digits[e+1:]
		default:
			return sign + "0." + strings.Repeat("0", -e-1) + digits
		}
	}
	out := sign + digits[:1]
	if n > 1 {
		out += "." + digits[1:]
	}
	if e >= 0 {
		return out + "e+" + strconv.Itoa(e)
	}
	return out + "e-" + strconv.Itoa(-e)
}

// ---------------------------------------------------------------------------
// One top-level field, validated the way the Rust SDK's json::field does

// Field finds the top-level key name in data without building the document, with
// exactly the checks serde_json makes when it deserializes one wanted key and
// skips the rest (serde's IgnoredAny): the whole text must be one JSON object
// (syntax, no control characters in strings, valid escapes, nothing after it); the
// top-level keys and the wanted value(s) are fully checked (UTF-8, surrogates,
// number range, depth); skipped values are only checked for syntax. ok is false
// when data is not accepted; raw is the last value of the key, when found.
func Field(data []byte, name string) (raw []byte, found, ok bool) {
	p := parser{s: data}
	p.ws()
	if p.i >= len(p.s) || p.s[p.i] != '{' {
		return nil, false, false
	}
	p.i++
	p.ws()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
	} else {
		for {
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != '"' {
				return nil, false, false
			}
			ks := p.i
			if p.str() != nil || !utf8.Valid(p.s[ks:p.i]) {
				return nil, false, false
			}
			ke := p.i
			p.ws()
			if p.i >= len(p.s) || p.s[p.i] != ':' {
				return nil, false, false
			}
			p.i++
			p.ws()
			vs := p.i
			key, _ := decodeString(p.s[ks:ke])
			if key == name {
				if p.value(1) != nil || !utf8.Valid(p.s[vs:p.i]) {
					return nil, false, false
				}
				raw, found = p.s[vs:p.i], true
			} else if p.skip() != nil {
				return nil, false, false
			}
			p.ws()
			if p.i >= len(p.s) {
				return nil, false, false
			}
			if p.s[p.i] == '}' {
				p.i++
				break
			}
			if p.s[p.i] != ',' {
				return nil, false, false
			}
			p.i++
		}
	}
	p.ws()
	if p.i != len(p.s) {
		return nil, false, false
	}
	return raw, found, true
}

// ScalarText is the text the filter compares for a value found by Field: a string's
// text, a number as serde_json writes it, true, false or null; ok is false for
// arrays and objects.
func ScalarText(raw []byte) (text string, ok bool) {
	switch c := raw[0]; {
	case c == '"':
		return decodeString(raw)
	case c == 't':
		return "true", true
	case c == 'f':
		return "false", true
	case c == 'n':
		return "null", true
	case c == '-' || (c >= '0' && c <= '9'):
		t, _, err := Number(string(raw))
		return t, err == nil
	}
	return "", false
}

// skip checks only the syntax of one value (serde_json's ignore_value): any depth,
// any number, any bytes and \u escapes inside strings.
func (p *parser) skip() error {
	if p.i >= len(p.s) {
		return errNotJSON
	}
	switch c := p.s[p.i]; {
	case c == '{' || c == '[':
		closing := byte('}')
		if c == '[' {
			closing = ']'
		}
		p.i++
		p.ws()
		if p.i < len(p.s) && p.s[p.i] == closing {
			p.i++
			return nil
		}
		for {
			p.ws()
			if c == '{' {
				if p.i >= len(p.s) || p.s[p.i] != '"' || p.skipString() != nil {
					return errNotJSON
				}
				p.ws()
				if p.i >= len(p.s) || p.s[p.i] != ':' {
					return errNotJSON
				}
				p.i++
				p.ws()
			}
			if err := p.skip(); err != nil {
				return err
			}
			p.ws()
			if p.i >= len(p.s) {
				return errNotJSON
			}
			if p.s[p.i] == closing {
				p.i++
				return nil
			}
			if p.s[p.i] != ',' {
				return errNotJSON
			}
			p.i++
		}
	case c == '"':
		return p.skipString()
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.numberSyntax()
	}
	return errNotJSON
}

func (p *parser) skipString() error {
	p.i++ // "
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == '"':
			p.i++
			return nil
		case c < 0x20:
			return errNotJSON
		case c == '\\':
			p.i++
			if p.i >= len(p.s) {
				return errNotJSON
			}
			switch p.s[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if _, ok := hex4(p.s, p.i+1); !ok {
					return errNotJSON
				}
				p.i += 5
			default:
				return errNotJSON
			}
		default:
			p.i++
		}
	}
	return errNotJSON
}

// numberSyntax checks a number token's syntax only.
func (p *parser) numberSyntax() error {
	if p.s[p.i] == '-' {
		p.i++
	}
	if p.i >= len(p.s) {
		return errNotJSON
	}
	if p.s[p.i] == '0' {
		p.i++
	} else if p.s[p.i] >= '1' && p.s[p.i] <= '9' {
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
	} else {
		return errNotJSON
	}
	if p.i < len(p.s) && p.s[p.i] == '.' {
		p.i++
		d := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return errNotJSON
		}
	}
	if p.i < len(p.s) && (p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		p.i++
		if p.i < len(p.s) && (p.s[p.i] == '+' || p.s[p.i] == '-') {
			p.i++
		}
		d := p.i
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		if p.i == d {
			return errNotJSON
		}
	}
	return nil
}
