package jsonscan

import (
	"bytes"
	"encoding/json"
	"testing"
)

// marshalString is encoding/json's encoding of s, with or without HTML
// escaping.
func marshalString(t testing.TB, s string, escapeHTML bool) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(escapeHTML)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}))
}

var appendStringSeeds = []string{
	"", "plain", `quote " and \ backslash`, "tab\t nl\n cr\r bs\b ff\f nul\x00 us\x1f del\x7f",
	"<script>&amp;</script>", "émoji 🙂 and 中文", "bad utf-8 \xff\xfe end", "cut rune \xe2\x82",
	"line sep \u2028 para sep \u2029", "\xed\xa0\x80 surrogate half",
}

// TestAppendString: the bytes are encoding/json's, both ways of HTML
// escaping, appended after what dst held.
func TestAppendString(t *testing.T) {
	for _, s := range appendStringSeeds {
		for _, html := range []bool{true, false} {
			got := string(AppendString([]byte("x:"), s, html))
			if want := "x:" + marshalString(t, s, html); got != want {
				t.Errorf("AppendString(%q, html=%v) = %s, want %s", s, html, got, want)
			}
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		_ = AppendString(make([]byte, 0, 64)[:0], "hello \"world\"\n", false)
	}); n > 1 {
		t.Errorf("allocations = %v, want only dst's", n)
	}
}

func FuzzAppendString(f *testing.F) {
	for _, s := range appendStringSeeds {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, html bool) {
		if got, want := string(AppendString(nil, s, html)), marshalString(t, s, html); got != want {
			t.Errorf("AppendString(%q, html=%v) = %s, want %s", s, html, got, want)
		}
	})
}
