package config

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
)

// redacted is what every printing path of a Secret shows instead of its value.
const redacted = "[REDACTED]"

// Secret is a string that must never reach a log, an error message or a JSON
// body by accident: every formatting and marshalling path prints a fixed mask.
// Code that really needs the value (an HTTP header, a SQL parameter) calls
// Reveal, which makes each such place easy to find.
type Secret string

// Reveal returns the secret's value.
func (s Secret) Reveal() string { return string(s) }

// IsZero reports whether the secret is empty.
func (s Secret) IsZero() bool { return s == "" }

// String implements fmt.Stringer with a fixed mask.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString implements fmt.GoStringer so %#v masks too.
func (s Secret) GoString() string { return fmt.Sprintf("config.Secret(%q)", s.String()) }

// Format masks the value for every verb, including %s, %q, %v and %x.
func (s Secret) Format(f fmt.State, verb rune) {
	if verb == 'v' && f.Flag('#') {
		_, _ = f.Write([]byte(s.GoString()))
		return
	}
	_, _ = f.Write([]byte(s.String()))
}

// MarshalText masks the value in encoders that use encoding.TextMarshaler.
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// MarshalJSON masks the value in JSON (zap.Any on a struct uses it).
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + s.String() + `"`), nil }

// Matches reports whether candidate equals the secret. It compares SHA-256
// digests in constant time, so neither the content nor the length of the
// secret leaks through timing. An empty secret matches nothing.
func (s Secret) Matches(candidate string) bool {
	if s == "" {
		return false
	}
	want := sha256.Sum256([]byte(s))
	got := sha256.Sum256([]byte(candidate))
	return subtle.ConstantTimeCompare(want[:], got[:]) == 1
}
