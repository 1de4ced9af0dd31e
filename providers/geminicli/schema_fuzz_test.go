package geminicli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzCleanToolSchema: any input either is refused with ErrBadSchema or
// cleans to a JSON object inside Gemini's subset that a second pass leaves
// unchanged.
func FuzzCleanToolSchema(f *testing.F) {
	files, _ := filepath.Glob("testdata/toolschemas/*.json")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`))
	f.Add([]byte(`{"anyOf":[{"type":"null"}],"allOf":[{"required":["x"]}],"items":[true,false]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := CleanToolSchema(in)
		if err != nil {
			if !errors.Is(err, ErrBadSchema) {
				t.Fatalf("error %v does not wrap ErrBadSchema", err)
			}
			return
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("output is not JSON: %s", out)
		}
		checkGeminiSchema(t, "", v)
		again, err := CleanToolSchema(out)
		if err != nil || string(again) != string(out) {
			t.Fatalf("not idempotent:\n%s\n%s (%v)", out, again, err)
		}
	})
}
