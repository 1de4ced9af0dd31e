package jsonscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
)

func TestValue(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	tooDeep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	tests := []struct {
		name string
		in   string
		err  error // nil: valid
	}{
		{"object", `{"a":1,"b":[true,false,null],"c":{"d":"e"}}`, nil},
		{"whitespace everywhere", " \t\n{ \"a\" : [ 1 , 2 ] , \"b\" : { } }\r\n", nil},
		{"empty containers", `[{},[],"",0]`, nil},
		{"string escapes", `"\" \\ \/ \b \f \n \r \t \u00e9 \uD83D\uDE00"`, nil},
		{"invalid utf-8 is kept, as encoding/json does", "\"\xff\xfe\"", nil},
		{"numbers", `[0,-0,1.5,-2e10,3E+2,4e-3,123456789012345678901234567890]`, nil},
		{"nested to the limit", deep, nil},
		{"nested past the limit", tooDeep, ErrDepth},
		{"empty input", ``, ErrSyntax},
		{"only space", `  `, ErrSyntax},
		{"truncated object", `{"a":1`, ErrSyntax},
		{"truncated key", `{"a`, ErrSyntax},
		{"truncated string", `"abc`, ErrSyntax},
		{"truncated escape", `"ab\`, ErrSyntax},
		{"truncated unicode escape", `"\u12"`, ErrSyntax},
		{"bad escape", `"\x41"`, ErrSyntax},
		{"control byte in string", "\"a\x01b\"", ErrSyntax},
		{"missing colon", `{"a" 1}`, ErrSyntax},
		{"missing comma", `[1 2]`, ErrSyntax},
		{"trailing comma in array", `[1,]`, ErrSyntax},
		{"trailing comma in object", `{"a":1,}`, ErrSyntax},
		{"non-string key", `{1:2}`, ErrSyntax},
		{"mismatched closer", `[1}`, ErrSyntax},
		{"leading zero", `01`, ErrSyntax},
		{"bare minus", `-`, ErrSyntax},
		{"fraction without digits", `1.`, ErrSyntax},
		{"exponent without digits", `1e+`, ErrSyntax},
		{"bad literal", `nul`, ErrSyntax},
		{"two values", `{} {}`, ErrSyntax},
		{"trailing garbage", `{"a":1}x`, ErrSyntax},
		{"single quotes", `{'a':1}`, ErrSyntax},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Value([]byte(tc.in))
			if !errors.Is(err, tc.err) {
				t.Fatalf("Value(%.40q) error = %v, want %v", tc.in, err, tc.err)
			}
			if tc.err != ErrDepth && (err == nil) != json.Valid([]byte(tc.in)) {
				t.Fatalf("Value(%.40q) error = %v, but json.Valid = %v", tc.in, err, json.Valid([]byte(tc.in)))
			}
		})
	}
}

func TestValueSpan(t *testing.T) {
	in := []byte("  {\"a\": [1, 2]}\n")
	start, end, err := Value(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(in[start:end]); got != `{"a": [1, 2]}` {
		t.Fatalf("span = %q", got)
	}
}

func TestObjectWalk(t *testing.T) {
	in := []byte(`{ "a" : 1, "b\n": {"x":[1,{"y":2}]}, "c":"s", "A":null }`)
	o, err := OpenObject(in, 0)
	if err != nil {
		t.Fatal(err)
	}
	type member struct {
		key     string
		escaped bool
		value   string
	}
	var got []member
	for {
		m, ok, err := o.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		end, err := o.Skip()
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, member{string(m.Key), m.Escaped, string(in[m.Value:end])})
	}
	want := []member{{"a", false, "1"}, {`b\n`, true, `{"x":[1,{"y":2}]}`}, {"c", false, `"s"`}, {"A", false, "null"}}
	if len(got) != len(want) {
		t.Fatalf("members = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("member %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if o.End() != len(in) {
		t.Errorf("End = %d, want %d", o.End(), len(in))
	}
}

// TestObjectResume reads a nested value with its own walk and resumes the
// outer one after it, the way callers descend into the members they need.
func TestObjectResume(t *testing.T) {
	in := []byte(`{"skip":[1,2],"list":[ {"k":"v"} , 7 ],"after":true}`)
	o, _ := OpenObject(in, 0)
	var keys []string
	elements := 0
	for {
		m, ok, err := o.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			break
		}
		keys = append(keys, string(m.Key))
		if string(m.Key) != "list" {
			continue // Next skips it
		}
		a, err := OpenArray(in, m.Value)
		if err != nil {
			t.Fatal(err)
		}
		for {
			_, ok, err := a.Next()
			if err != nil {
				t.Fatal(err)
			}
			if !ok {
				break
			}
			elements++
		}
		o.Resume(a.End())
	}
	if strings.Join(keys, ",") != "skip,list,after" || elements != 2 {
		t.Fatalf("keys %v, elements %d", keys, elements)
	}
}

func TestArrayWalkErrors(t *testing.T) {
	for _, in := range []string{`[1,`, `[1, `, `[`, `[1 2]`, `{}`} {
		a, err := OpenArray([]byte(in), 0)
		for err == nil {
			var ok bool
			var v int
			if v, ok, err = a.Next(); !ok {
				break
			}
			if v >= len(in) {
				t.Fatalf("walk of %q: element index %d outside the input", in, v)
			}
		}
		if !errors.Is(err, ErrSyntax) {
			t.Errorf("walk of %q: error %v, want ErrSyntax", in, err)
		}
	}
}

func TestWalkErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"not an object", `[1]`},
		{"truncated after member", `{"a":1`},
		{"truncated after comma", `{"a":1,`},
		{"bad member value", `{"a":tru}`},
		{"missing comma", `{"a":1 "b":2}`},
		{"leading comma", `{,"a":1}`},
		{"truncated after colon", `{"a":`},
		{"truncated after colon and space", `{"a": `},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := OpenObject([]byte(tc.in), 0)
			for err == nil {
				var ok bool
				if _, ok, err = o.Next(); !ok {
					break
				}
			}
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("walk of %q: error %v, want ErrSyntax", tc.in, err)
			}
		})
	}
}

func TestKeyIs(t *testing.T) {
	tests := []struct {
		key        string
		escaped    bool
		match, odd bool
	}{
		{"response", false, true, false},
		{"responses", false, false, false},
		{"Response", false, false, true},
		{"RESPONSE", false, false, true},
		{"re\\u0073ponse", true, false, true},
		{"error", false, false, false},
		// U+017F LATIN SMALL LETTER LONG S folds to s, as encoding/json knows.
		{"re\u017fponse", false, false, true},
	}
	for _, tc := range tests {
		match, odd := KeyIs(Member{Key: []byte(tc.key), Escaped: tc.escaped}, "response")
		if match != tc.match || odd != tc.odd {
			t.Errorf("KeyIs(%q) = %v, %v; want %v, %v", tc.key, match, odd, tc.match, tc.odd)
		}
	}
}

func TestInt64(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"-0", 0, true},
		{"42", 42, true},
		{"-17", -17, true},
		{"9223372036854775807", math.MaxInt64, true},
		{"-9223372036854775808", math.MinInt64, true},
		{"9223372036854775808", 0, false},
		{"-9223372036854775809", 0, false},
		{"99999999999999999999", 0, false},
		{"1.0", 0, false},
		{"1e3", 0, false},
		{`"1"`, 0, false},
		{"null", 0, false},
	}
	for _, tc := range tests {
		got, end, ok := Int64([]byte(tc.in), 0)
		if ok != tc.ok || got != tc.want || ok && end != len(tc.in) {
			t.Errorf("Int64(%s) = %d, %d, %v; want %d, %v", tc.in, got, end, ok, tc.want, tc.ok)
		}
		var v int64
		if jsonOK := json.Unmarshal([]byte(tc.in), &v) == nil && tc.in != "null"; jsonOK != tc.ok || jsonOK && v != got {
			t.Errorf("Int64(%s) disagrees with encoding/json: %d, %v", tc.in, v, jsonOK)
		}
	}
}

// FuzzValue holds Value to json.Valid, and an object walk to
// encoding/json's reading of the same object's members.
func FuzzValue(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[true,false,null],"c":{"d":"e\u00e9"}}`,
		`{"response":{"candidates":[{"content":{"parts":[{"text":"hi\n"}]},"finishReason":"STOP"}]}}`,
		`[1,-2.5e3,"x",{}]`, `"\ud83d"`, `{"a":{"a":{"a":[[[]]]}}}`, `01`, `{"a" 1}`, "\"\x00\"",
		`-9223372036854775808`, `{"Usage":{"input_tokens":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		start, end, err := Value(in)
		if errors.Is(err, ErrDepth) {
			return
		}
		// Walking by hand (descending into every container) agrees with
		// Value on any input, valid or not, and never indexes outside it.
		if i := SkipSpace(in, 0); i < len(in) {
			wend, werr := walkAll(in, i, 0)
			if werr == nil && SkipSpace(in, wend) != len(in) {
				werr = ErrSyntax
			}
			if (werr == nil) != (err == nil) || err == nil && wend != end {
				t.Fatalf("walk of %q: %d, %v; Value: %d, %v", in, wend, werr, end, err)
			}
		}
		if valid := json.Valid(in); (err == nil) != valid {
			t.Fatalf("Value(%q) error = %v, json.Valid = %v", in, err, valid)
		}
		if err != nil {
			return
		}
		if in[start] == '-' || in[start] >= '0' && in[start] <= '9' {
			checkInt64(t, in[start:end])
		}
		if in[start] == '{' {
			checkWalk(t, in[start:end])
		}
	})
}

// walkAll walks the value at b[i], descending into every container with
// Object and Array.
func walkAll(b []byte, i, depth int) (int, error) {
	if depth > 100 {
		return Skip(b, i)
	}
	switch b[i] {
	case '{':
		o, err := OpenObject(b, i)
		if err != nil {
			return 0, err
		}
		for {
			m, ok, err := o.Next()
			if err != nil {
				return 0, err
			}
			if !ok {
				return o.End(), nil
			}
			end, err := walkAll(b, m.Value, depth+1)
			if err != nil {
				return 0, err
			}
			o.Resume(end)
		}
	case '[':
		a, err := OpenArray(b, i)
		if err != nil {
			return 0, err
		}
		for {
			v, ok, err := a.Next()
			if err != nil {
				return 0, err
			}
			if !ok {
				return a.End(), nil
			}
			end, err := walkAll(b, v, depth+1)
			if err != nil {
				return 0, err
			}
			a.Resume(end)
		}
	}
	return Skip(b, i)
}

func checkInt64(t *testing.T, num []byte) {
	got, _, ok := Int64(num, 0)
	var want int64
	jsonOK := json.Unmarshal(num, &want) == nil
	if ok != jsonOK || got != want {
		t.Fatalf("Int64(%s) = %d, %v; encoding/json: %d, %v", num, got, ok, want, jsonOK)
	}
}

// spaceBefore counts the whitespace and the colon between a key and its
// value at v.
func spaceBefore(b []byte, v int) int {
	n := 0
	for v-n-1 >= 0 && (isSpace(b[v-n-1]) || b[v-n-1] == ':') {
		n++
	}
	return n
}

// checkWalk compares an object walk with json.Decoder's tokens.
func checkWalk(t *testing.T, obj []byte) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil {
		t.Fatal(err)
	}
	o, err := OpenObject(obj, 0)
	if err != nil {
		t.Fatal(err)
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		m, ok, err := o.Next()
		if err != nil || !ok {
			t.Fatalf("walk ended early (%v) at key %q", err, tok)
		}
		end, err := o.Skip()
		if err != nil {
			t.Fatal(err)
		}
		key, _ := tok.(string)
		var unq string
		if err := json.Unmarshal(obj[m.Value-len(m.Key)-2-spaceBefore(obj, m.Value):][:len(m.Key)+2], &unq); err != nil || unq != key {
			t.Fatalf("key %q (%v), encoding/json read %q", m.Key, err, key)
		}
		if m.Escaped != bytes.ContainsRune(m.Key, '\\') {
			t.Fatalf("key %q: Escaped = %v", m.Key, m.Escaped)
		}
		if !bytes.Equal(obj[m.Value:end], raw) {
			t.Fatalf("value of %q = %q, encoding/json read %q", key, obj[m.Value:end], raw)
		}
	}
	if _, ok, err := o.Next(); ok || err != nil {
		t.Fatalf("walk goes on after encoding/json's last member (%v)", err)
	}
	if o.End() != len(obj) {
		t.Fatalf("End = %d, want %d", o.End(), len(obj))
	}
}

// TestStringLanes puts each byte that matters at every offset of a long
// string, so the eight-byte skip meets it in every lane.
func TestStringLanes(t *testing.T) {
	for _, special := range []string{`\"`, `\\`, `\n`, `\u00e9`, "\x01", "\x1f", "\x7f", "é", "\xff", `"`, `\`} {
		for pos := range 20 {
			s := `"` + strings.Repeat("a", pos) + special + strings.Repeat("b", 24-pos) + `"`
			_, end, err := Value([]byte(s))
			if valid := json.Valid([]byte(s)); (err == nil) != valid || valid && end != len(s) {
				t.Errorf("Value(%q) = %d, %v; json.Valid = %v", s, end, err, valid)
			}
			_, escaped, _ := String([]byte(s), 0)
			if want := strings.Contains(special, `\`); escaped != want && err == nil {
				t.Errorf("String(%q) escaped = %v, want %v", s, escaped, want)
			}
		}
	}
}

func BenchmarkSkipText(b *testing.B) {
	doc := []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"` + strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20) + `\n"}]}}]}`)
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Skip(doc, 0); err != nil {
			b.Fatal(err)
		}
	}
}

func TestPlainString(t *testing.T) {
	tests := []struct {
		in      string
		i       int
		content string
		end     int
		ok      bool
	}{
		{in: `"abc",`, content: "abc", end: 5, ok: true},
		{in: `{"k":"v"}`, i: 5, content: "v", end: 8, ok: true},
		{in: `""`, content: "", end: 2, ok: true},
		{in: `"héllo"`, content: "héllo", end: 8, ok: true},
		{in: `"a\"b"`},     // an escape: encoding/json unescapes
		{in: `"a\u00e9"`},  // likewise
		{in: "\"a\xffb\""}, // invalid UTF-8: encoding/json replaces it
		{in: `"abc`},       // unterminated
		{in: `123`},        // not a string
		{in: `"x"`, i: 3},  // past the end
	}
	for _, tc := range tests {
		content, end, ok := PlainString([]byte(tc.in), tc.i)
		if ok != tc.ok || string(content) != tc.content || end != tc.end {
			t.Errorf("PlainString(%q, %d) = %q, %d, %v; want %q, %d, %v", tc.in, tc.i, content, end, ok, tc.content, tc.end, tc.ok)
		}
		if ok && content == nil {
			t.Errorf("PlainString(%q): nil content for a string (callers tell an empty string from none by nil)", tc.in)
		}
	}
}
