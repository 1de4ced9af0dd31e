package jsonscan

import (
	"encoding/binary"
	"errors"
)

var (
	// ErrSyntax is returned for bytes that are not valid JSON where a value
	// or a delimiter was expected.
	ErrSyntax = errors.New("jsonscan: invalid JSON")
	// ErrDepth is returned for values nested deeper than MaxDepth; they may
	// still be valid JSON (encoding/json allows 10,000 levels).
	ErrDepth = errors.New("jsonscan: nesting too deep")
)

// MaxDepth is the deepest nesting of objects and arrays Skip follows.
const MaxDepth = 1024

// class of each byte inside a string: 0 plain, 1 ends the plain run.
var stringStop = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// isSpace reports whether c is JSON whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace (len(b) when there is none).
func SkipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// String validates the string whose opening quote is at b[i] and returns
// the index just past its closing quote, and whether it holds an escape
// (when it does not, b[i+1:end-1] is its value).
func String(b []byte, i int) (end int, escaped bool, err error) {
	if i >= len(b) || b[i] != '"' {
		return 0, false, ErrSyntax
	}
	i++
	for {
		i = plainRun(b, i)
		for i < len(b) && !stringStop[b[i]] {
			i++
		}
		if i >= len(b) {
			return 0, false, ErrSyntax
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c < 0x20:
			return 0, false, ErrSyntax
		}
		// A backslash.
		escaped = true
		if i+1 >= len(b) {
			return 0, false, ErrSyntax
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) {
				return 0, false, ErrSyntax
			}
			for _, h := range b[i+2 : i+6] {
				if !isHex(h) {
					return 0, false, ErrSyntax
				}
			}
			i += 6
		default:
			return 0, false, ErrSyntax
		}
	}
}

// Eight bytes at a time: lanes holds 0x01 in every byte, high 0x80.
const (
	lanes = 0x0101010101010101
	high  = 0x8080808080808080
)

// plainRun skips, eight bytes at a time, the bytes of a string that need
// no attention (not a quote, a backslash or a control byte) and returns
// where the byte-wise scan should go on. It may stop early, never late.
func plainRun(b []byte, i int) int {
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		quote, backslash := x^(lanes*'"'), x^(lanes*'\\')
		// (v - lanes*n) & ^v & high is non-zero when some byte of v is
		// below n (n <= 0x80); n = 1 finds a zero byte.
		if ((x-lanes*0x20)&^x|(quote-lanes)&^quote|(backslash-lanes)&^backslash)&high != 0 {
			return i
		}
	}
	return i
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// Number validates the number starting at b[i] and returns the index just
// past it, and whether it is an integer (no fraction, no exponent).
func Number(b []byte, i int) (end int, integer bool, err error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return 0, false, ErrSyntax
	case b[i] == '0':
		i++
	case '1' <= b[i] && b[i] <= '9':
		for i++; i < len(b) && isDigit(b[i]); i++ {
		}
	default:
		return 0, false, ErrSyntax
	}
	integer = true
	if i < len(b) && b[i] == '.' {
		integer = false
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false, ErrSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		integer = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false, ErrSyntax
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i, integer, nil
}

// literal checks that b[i:] starts with word and returns the index past it.
func literal(b []byte, i int, word string) (int, error) {
	if len(b)-i < len(word) || string(b[i:i+len(word)]) != word {
		return 0, ErrSyntax
	}
	return i + len(word), nil
}

// scalar validates the string, number or literal at b[i].
func scalar(b []byte, i int) (int, error) {
	switch c := b[i]; {
	case c == '"':
		end, _, err := String(b, i)
		return end, err
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	case c == '-' || isDigit(c):
		end, _, err := Number(b, i)
		return end, err
	}
	return 0, ErrSyntax
}

// Skip validates the value that starts at b[i] (no leading whitespace) and
// returns the index just past it. It does not recurse: nesting costs one
// bit per level.
func Skip(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, ErrSyntax
	}
	if c := b[i]; c != '{' && c != '[' {
		return scalar(b, i)
	}
	// inObject has bit d set when level d is an object.
	var inObject [MaxDepth / 64]uint64
	depth := 0
	var err error
	for {
		// i is at a value.
		if i >= len(b) {
			return 0, ErrSyntax
		}
		switch b[i] {
		case '{', '[':
			if depth == MaxDepth {
				return 0, ErrDepth
			}
			obj := b[i] == '{'
			closer := byte(']')
			if obj {
				closer = '}'
			}
			i = SkipSpace(b, i+1)
			if i < len(b) && b[i] == closer {
				i++
				break // an empty container is a finished value
			}
			if obj {
				inObject[depth/64] |= 1 << (depth % 64)
				if i, err = memberKey(b, i); err != nil {
					return 0, err
				}
			} else {
				inObject[depth/64] &^= 1 << (depth % 64)
			}
			depth++
			continue
		default:
			if i, err = scalar(b, i); err != nil {
				return 0, err
			}
		}
		// A value ended at i: close containers until one goes on.
		for {
			if depth == 0 {
				return i, nil
			}
			i = SkipSpace(b, i)
			if i >= len(b) {
				return 0, ErrSyntax
			}
			obj := inObject[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			if b[i] == ',' {
				i = SkipSpace(b, i+1)
				if obj {
					if i, err = memberKey(b, i); err != nil {
						return 0, err
					}
				}
				break
			}
			if obj && b[i] == '}' || !obj && b[i] == ']' {
				i++
				depth--
				continue
			}
			return 0, ErrSyntax
		}
	}
}

// memberKey validates a member's key and colon at b[i] and returns the
// index of its value.
func memberKey(b []byte, i int) (int, error) {
	end, _, err := String(b, i)
	if err != nil {
		return 0, err
	}
	i = SkipSpace(b, end)
	if i >= len(b) || b[i] != ':' {
		return 0, ErrSyntax
	}
	return SkipSpace(b, i+1), nil
}
