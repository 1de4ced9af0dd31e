package geminicli

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanToolSchema(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"drops $schema and additionalProperties",
			`{"$schema":"x","type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}`,
			`{"properties":{"a":{"type":"string"}},"type":"object"}`},
		{"type with null becomes nullable",
			`{"type":["string","null"]}`,
			`{"nullable":true,"type":"string"}`},
		{"anyOf with null becomes nullable and merges",
			`{"anyOf":[{"type":"integer","minimum":1},{"type":"null"}],"description":"d"}`,
			`{"description":"d","minimum":1,"nullable":true,"type":"integer"}`},
		{"oneOf becomes anyOf",
			`{"oneOf":[{"type":"string"},{"type":"number"}]}`,
			`{"anyOf":[{"type":"string"},{"type":"number"}]}`},
		{"several types become anyOf",
			`{"type":["string","number","null"]}`,
			`{"anyOf":[{"type":"string"},{"type":"number"}],"nullable":true}`},
		{"const becomes enum",
			`{"const":"bash"}`,
			`{"enum":["bash"],"type":"string"}`},
		{"integer enum is dropped",
			`{"type":"integer","enum":[1,2]}`,
			`{"type":"integer"}`},
		{"string enum keeps strings of other values",
			`{"type":"string","enum":["a",1,null]}`,
			`{"enum":["a","1"],"nullable":true,"type":"string"}`},
		{"exclusive bounds become bounds",
			`{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":10.5}`,
			`{"maximum":10.5,"minimum":0,"type":"number"}`},
		{"draft-4 boolean exclusive bound is dropped",
			`{"type":"number","minimum":1,"exclusiveMinimum":true}`,
			`{"minimum":1,"type":"number"}`},
		{"unknown format dropped, known kept",
			`{"type":"object","properties":{"u":{"type":"string","format":"uri"},"d":{"type":"string","format":"date-time"},"i":{"type":"integer","format":"int64"}}}`,
			`{"properties":{"d":{"format":"date-time","type":"string"},"i":{"format":"int64","type":"integer"},"u":{"type":"string"}},"type":"object"}`},
		{"ref inlined, referrer's description wins",
			`{"$defs":{"P":{"type":"object","description":"a person","properties":{"n":{"type":"string"}}}},"type":"object","properties":{"p":{"$ref":"#/$defs/P","description":"the owner"}}}`,
			`{"properties":{"p":{"description":"the owner","properties":{"n":{"type":"string"}},"type":"object"}},"type":"object"}`},
		{"definitions ref inlined",
			`{"definitions":{"E":{"type":"string","enum":["x"]}},"type":"object","properties":{"e":{"$ref":"#/definitions/E"}}}`,
			`{"properties":{"e":{"enum":["x"],"type":"string"}},"type":"object"}`},
		{"recursive ref becomes open object",
			`{"$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"}}}},"$ref":"#/$defs/N"}`,
			`{"properties":{"next":{"type":"object"}},"type":"object"}`},
		{"unknown ref becomes open object",
			`{"type":"object","properties":{"x":{"$ref":"https://example.com/s.json"}}}`,
			`{"properties":{"x":{"type":"object"}},"type":"object"}`},
		{"required keeps only properties",
			`{"type":"object","properties":{"a":{"type":"string"}},"required":["a","b","a"]}`,
			`{"properties":{"a":{"type":"string"}},"required":["a"],"type":"object"}`},
		{"allOf merged",
			`{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},{"properties":{"b":{"type":"boolean"}},"required":["b"]}]}`,
			`{"properties":{"a":{"type":"string"},"b":{"type":"boolean"}},"required":["a","b"],"type":"object"}`},
		{"tuple items become anyOf",
			`{"type":"array","items":[{"type":"string"},{"type":"integer"}]}`,
			`{"items":{"anyOf":[{"type":"string"},{"type":"integer"}]},"type":"array"}`},
		{"false property removed, true property open",
			`{"type":"object","properties":{"no":false,"any":true}}`,
			`{"properties":{"any":{}},"type":"object"}`},
		{"keeps html characters unescaped",
			`{"type":"string","description":"a <b> & c"}`,
			`{"description":"a <b> & c","type":"string"}`},
		{"large integers keep their digits",
			`{"type":"integer","maximum":9007199254740993}`,
			`{"maximum":9007199254740993,"type":"integer"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CleanToolSchema(json.RawMessage(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestCleanToolSchemaRefuses(t *testing.T) {
	deep := strings.Repeat(`{"type":"array","items":`, 70) + `{}` + strings.Repeat(`}`, 70)
	for name, in := range map[string]string{
		"not json": `{"type":`, "array": `[1]`, "string": `"x"`, "trailing": `{} {}`, "too deep": deep,
	} {
		if _, err := CleanToolSchema(json.RawMessage(in)); !errors.Is(err, ErrBadSchema) {
			t.Errorf("%s: err = %v, want ErrBadSchema", name, err)
		}
	}
}

// TestCleanToolSchemaCorpus runs the cleaner over tool schemas modelled on
// common agent tools (testdata/toolschemas) and checks that what comes out
// is inside Gemini's Schema subset everywhere, and that the parts Gemini
// can express survived.
func TestCleanToolSchemaCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/toolschemas/*.json")
	if err != nil || len(files) < 6 {
		t.Fatalf("corpus: %d files, %v", len(files), err)
	}
	// Spot checks per file: JSON pointer-ish paths and the value wanted.
	spots := map[string]map[string]string{
		"edit_file.json": {
			"properties/edits/items/properties/replace_all/nullable": "true",
			"properties/edits/items/required":                        `["old_text","new_text"]`,
			"properties/path/format":                                 "",
		},
		"shell.json": {
			"properties/timeout_ms/minimum": "0",
			"properties/timeout_ms/maximum": "600000",
			"properties/cwd":                `{"nullable":true,"type":"string"}`,
			"properties/shell/enum":         `["bash"]`,
			"required":                      `["command"]`,
			"properties/env":                `{"type":"object"}`,
		},
		"web_fetch.json": {
			"properties/method/enum":                `["GET","POST","HEAD"]`,
			"properties/format/anyOf/0/description": `"as markdown"`,
			"properties/url/format":                 "",
		},
		"nested_json.json": {
			"properties/tasks/items/properties/assignee/description": `"who does it"`,
			"properties/tasks/items/properties/assignee/required":    `["name"]`,
			"properties/tasks/items/properties/subtasks/items":       `{"type":"object"}`,
			"properties/tasks/items/properties/due/format":           `"date-time"`,
			"properties/matrix/items/items/type":                     `"number"`,
			"properties/meta/required":                               `["a"]`,
			"properties/meta/properties/b/type":                      `"boolean"`,
		},
		"pydantic_model.json": {
			"properties/filters/items/properties/value/anyOf/2/type": `"boolean"`,
			"properties/cursor":        `{"default":null,"nullable":true,"title":"Cursor","type":"string"}`,
			"properties/limit/minimum": "0",
		},
		"zod_strict.json": {
			"properties/glob/nullable":    "true",
			"properties/context/maximum":  "100",
			"properties/empty/properties": "{}",
		},
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			in, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out, err := CleanToolSchema(in)
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatal(err)
			}
			checkGeminiSchema(t, "", v)
			for path, want := range spots[name] {
				got := lookup(v, path)
				if want == "" {
					if got != nil {
						t.Errorf("%s: present (%v), want absent", path, got)
					}
					continue
				}
				b, _ := json.Marshal(got)
				if got == nil || !jsonEqual(t, b, []byte(want)) {
					t.Errorf("%s = %s, want %s", path, b, want)
				}
			}
			// Cleaning is idempotent: Gemini's subset is a fixed point.
			again, err := CleanToolSchema(out)
			if err != nil || string(again) != string(out) {
				t.Errorf("second pass changed the schema:\n%s\n%s (%v)", out, again, err)
			}
		})
	}
}

// checkGeminiSchema fails for anything outside Gemini's Schema subset.
func checkGeminiSchema(t *testing.T, at string, v any) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Errorf("%s: schema is %T, want an object", at, v)
		return
	}
	allowed := map[string]bool{"type": true, "format": true, "properties": true, "items": true,
		"anyOf": true, "required": true, "enum": true}
	for k, val := range m {
		if !schemaKeep[k] && !allowed[k] {
			t.Errorf("%s: member %q is outside Gemini's schema", at, k)
		}
		switch k {
		case "type":
			if s, _ := val.(string); !schemaTypes[s] {
				t.Errorf("%s: type %v", at, val)
			}
		case "enum":
			for _, e := range val.([]any) {
				if _, ok := e.(string); !ok {
					t.Errorf("%s: enum value %v is not a string", at, e)
				}
			}
		case "required":
			props, _ := m["properties"].(map[string]any)
			for _, r := range val.([]any) {
				if _, ok := props[r.(string)]; !ok {
					t.Errorf("%s: required %v is not a property", at, r)
				}
			}
		case "properties":
			for name, p := range val.(map[string]any) {
				checkGeminiSchema(t, at+"/properties/"+name, p)
			}
		case "items":
			checkGeminiSchema(t, at+"/items", val)
		case "anyOf":
			for i, a := range val.([]any) {
				checkGeminiSchema(t, at+"/anyOf/"+string(rune('0'+i)), a)
			}
		}
	}
}

func lookup(v any, path string) any {
	for _, p := range strings.Split(path, "/") {
		switch n := v.(type) {
		case map[string]any:
			v = n[p]
		case []any:
			i := int(p[0] - '0')
			if len(p) != 1 || i >= len(n) {
				return nil
			}
			v = n[i]
		default:
			return nil
		}
	}
	return v
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ja, _ := json.Marshal(x)
	jb, _ := json.Marshal(y)
	return string(ja) == string(jb)
}
