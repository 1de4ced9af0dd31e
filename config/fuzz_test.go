package config

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: any file parses to a config (then validates to nil or an
// error), warnings or an error, never a panic; a parse error names the
// file.
func FuzzParse(f *testing.F) {
	f.Add(exampleTOML)
	for _, seed := range []string{
		"[basic]\npollux_key = \"k\"\n", "[basic]\nlisten_port = \"x\"\n", "[basic]\npollux_key = 5\n",
		"[providers.geminicli]\nmodel_list = [1]\n", "[[basic]]\n", "a = \n", "[basic]\nloglevel = \"INFO,hyper=warn\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, _, err := Parse(bytes.NewReader(data), "fuzz.toml")
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz.toml") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		_ = c.Validate()
	})
}
