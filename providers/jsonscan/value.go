package jsonscan

import (
	"bytes"
	"math"
	"unicode/utf8"
)

// Value validates one whole JSON text: b is exactly one value, with
// whitespace around it allowed. It returns the value's span b[start:end].
func Value(b []byte) (start, end int, err error) {
	start = SkipSpace(b, 0)
	if end, err = Skip(b, start); err != nil {
		return 0, 0, err
	}
	if SkipSpace(b, end) != len(b) {
		return 0, 0, ErrSyntax
	}
	return start, end, nil
}

// KeyIs reports how a member's key compares with name the way
// encoding/json matches a struct field's name: match when the key is
// exactly name, and odd when encoding/json might match it although the
// bytes differ (an escaped key, or one equal to name under case folding).
// Callers that see odd hand the input to encoding/json.
func KeyIs(m Member, name string) (match, odd bool) {
	if m.Escaped {
		return false, true
	}
	if string(m.Key) == name {
		return true, false
	}
	return false, bytes.EqualFold(m.Key, []byte(name))
}

// PlainString reads the string at b[i] when its bytes are what
// encoding/json would decode it to: no escape, valid UTF-8 (encoding/json
// would unescape the one and replace the other). content is the text
// between the quotes, end the offset after the closing quote; ok is false
// for any other string, or a value that is not a string.
func PlainString(b []byte, i int) (content []byte, end int, ok bool) {
	if i >= len(b) || b[i] != '"' {
		return nil, 0, false
	}
	end, escaped, err := String(b, i)
	if err != nil || escaped || !utf8.Valid(b[i+1:end-1]) {
		return nil, 0, false
	}
	return b[i+1 : end-1], end, true
}

// Int64 reads the integer at b[i], as encoding/json decodes a number into
// an int64: ok is false for anything else (a fraction, an exponent, a
// number out of range, a value that is not a number).
func Int64(b []byte, i int) (v int64, end int, ok bool) {
	end, integer, err := Number(b, i)
	if err != nil || !integer {
		return 0, 0, false
	}
	digits, neg := b[i:end], false
	if digits[0] == '-' {
		digits, neg = digits[1:], true
	}
	// Accumulate as a negative number: its range holds math.MinInt64.
	for _, d := range digits {
		if v < (math.MinInt64+int64(d-'0'))/10 {
			return 0, 0, false
		}
		v = v*10 - int64(d-'0')
	}
	if !neg {
		if v == math.MinInt64 {
			return 0, 0, false
		}
		v = -v
	}
	return v, end, true
}
