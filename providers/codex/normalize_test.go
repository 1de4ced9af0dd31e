package codex

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/normalize")

// renderNormalize is the golden form of one Normalize result.
func renderNormalize(out []byte, stream bool, dropped []string, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "stream: %v\n", stream)
	fmt.Fprintf(&b, "dropped: %s\n", strings.Join(dropped, ","))
	fmt.Fprintf(&b, "body: %s\n", out)
	return b.String()
}

func TestNormalizeGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "normalize", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no cases in testdata/normalize")
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".json"), func(t *testing.T) {
			in, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			out, stream, dropped, err := Normalize(in)
			if err != nil && !errors.Is(err, ErrBadRequestBody) {
				t.Errorf("err = %v, want it to wrap ErrBadRequestBody", err)
			}
			if err == nil && !json.Valid(out) {
				t.Errorf("output is not valid JSON: %s", out)
			}
			got := renderNormalize(out, stream, dropped, err)
			golden := strings.TrimSuffix(file, ".json") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), got); diff != "" {
				t.Errorf("Normalize(%s) (-want +got):\n%s", file, diff)
			}
		})
	}
}

// TestNormalizeKeepsBytes: every member Normalize does not own comes out
// byte for byte, and the forced members have their fixed values.
func TestNormalizeKeepsBytes(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "normalize", "codex_cli_verbatim.json"))
	if err != nil {
		t.Fatal(err)
	}
	out, stream, dropped, err := Normalize(in)
	if err != nil {
		t.Fatal(err)
	}
	if !stream || len(dropped) != 0 {
		t.Errorf("stream, dropped = %v, %v; want true, none", stream, dropped)
	}
	var before, after map[string]json.RawMessage
	if err := json.Unmarshal(in, &before); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &after); err != nil {
		t.Fatal(err)
	}
	for k, v := range before {
		if k == "stream" || k == "store" {
			continue
		}
		if !bytes.Equal(v, after[k]) {
			t.Errorf("%s changed:\n got %s\nwant %s", k, after[k], v)
		}
	}
	for k, want := range map[string]string{"stream": "true", "store": "false", "instructions": `""`} {
		if got := string(after[k]); got != want {
			t.Errorf("%s = %s, want %s", k, got, want)
		}
	}
}

func TestNormalizeStreamFlag(t *testing.T) {
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"true", `{"model":"m","stream":true}`, true},
		{"false", `{"model":"m","stream":false}`, false},
		{"absent", `{"model":"m"}`, false},
		{"null", `{"model":"m","stream":null}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, got, _, err := Normalize([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("stream = %v, want %v", got, tt.want)
			}
			if !bytes.Contains(out, []byte(`"stream":true`)) {
				t.Errorf("upstream body %s does not ask for a stream", out)
			}
		})
	}
}

func TestNormalizeCompact(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr bool
	}{
		{"kept verbatim", `{"model":"gpt-5-codex", "input":[{"type":"message","role":"user","content":"hi"}],"instructions":"x","temperature":1}`, false},
		{"no model", `{"input":[]}`, true},
		{"not an object", `[]`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := NormalizeCompact([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil && string(out) != tt.body {
				t.Errorf("body = %s, want it unchanged", out)
			}
			if err != nil && !errors.Is(err, ErrBadRequestBody) {
				t.Errorf("err = %v, want it to wrap ErrBadRequestBody", err)
			}
		})
	}
}

func TestWithModel(t *testing.T) {
	tests := []struct {
		name, body, want string
		err              bool
	}{
		{"replaces the model, keeps the rest", `{"model":"fast","input":[{"type":"message","content":"a <b>"}],"stream":true}`,
			`{"input":[{"type":"message","content":"a <b>"}],"model":"gpt-5.2","stream":true}`, false},
		{"not an object", `[]`, "", true},
		{"no model", `{"input":"x"}`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := WithModel([]byte(tt.body), "gpt-5.2")
			if (err != nil) != tt.err {
				t.Fatalf("WithModel error = %v, want error %v", err, tt.err)
			}
			if string(got) != tt.want {
				t.Errorf("WithModel = %s, want %s", got, tt.want)
			}
		})
	}
}
