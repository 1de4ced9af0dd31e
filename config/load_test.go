package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/pelletier/go-toml/v2"
)

// originalPollux is a config.toml as written for the original Pollux,
// including keys this version does not use.
const originalPollux = `[basic]
listen_addr = "127.0.0.1"
listen_port = 9000
database_url = "sqlite://pollux.db"
loglevel = "debug"
pollux_key = "sk-original"
insecure_cookie = true

[providers.defaults]
proxy = "socks5://127.0.0.1:1080"
enable_multiplexing = false
retry_max_times = 5

[providers.geminicli]
model_list = ["gemini-2.5-pro"]
custom_api_url = "https://cloudcode-pa.googleapis.com"
oauth_tps = 10
trace_header = "x-trace"

[providers.codex]
model_list = ["gpt-5.2-codex"]
retry_max_times = 1

[providers.antigravity]
model_list = ["claude"]
`

func envFrom(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func mustParse(t *testing.T, doc string) (Config, []Warning) {
	t.Helper()
	c, warns, err := Parse(strings.NewReader(doc), "config.toml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c, warns
}

func TestDefault(t *testing.T) {
	d := Default()
	checks := []struct {
		name      string
		got, want any
	}{
		{"listen_addr", d.Basic.ListenAddr, "0.0.0.0"},
		{"listen_port", d.Basic.ListenPort, 8188},
		{"database_url", d.Basic.DatabaseURL, "sqlite://data.db"},
		{"loglevel", d.Basic.LogLevel, "info"},
		{"log_format", d.Basic.LogFormat, "json"},
		{"pollux_key", d.Basic.PolluxKey, Secret("")},
		{"admin_key", d.Basic.AdminKey, Secret("")},
		{"insecure_cookie", d.Basic.InsecureCookie, false},
		{"metrics_public", d.Basic.MetricsPublic, false},
		{"shutdown_timeout_secs", d.Basic.ShutdownTimeoutSecs, 30},
		{"defaults", d.Providers.Defaults, ProviderDefaults{RetryMaxTimes: 3, QueueTimeoutSecs: 10}},
		{"geminicli", d.Providers.GeminiCLI, Provider{
			RetryMaxTimes: 3, QueueTimeoutSecs: 10,
			ModelList:     []string{"gemini-2.5-pro", "gemini-2.5-flash"},
			CustomAPIURL:  "https://cloudcode-pa.googleapis.com",
			OAuthAuthURL:  "https://accounts.google.com/o/oauth2/v2/auth",
			OAuthTokenURL: "https://oauth2.googleapis.com/token", OAuthUserInfoURL: "https://www.googleapis.com/oauth2/v2/userinfo",
			OAuthTPS: 5, ClientVersion: "0.61.0", ThoughtSignatureCacheMiB: 16,
			NodeVersion: "22.21.1", AuthLibraryVersion: "10.9.0",
			Routing: RoutingQuota, QuotaPollSecs: 300,
		}},
		{"codex", d.Providers.Codex, Provider{
			RetryMaxTimes: 3, QueueTimeoutSecs: 10,
			ModelList:     []string{"gpt-5.2-codex", "gpt-5.2"},
			CustomAPIURL:  "https://chatgpt.com",
			OAuthAuthURL:  "https://auth.openai.com/oauth/authorize",
			OAuthTokenURL: "https://auth.openai.com/oauth/token",
			OAuthTPS:      5, ClientVersion: "0.171.0",
			Routing: RoutingQuota, QuotaPollSecs: 300,
		}},
	}
	for _, tc := range checks {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("Default() %s (-want +got):\n%s", tc.name, diff)
		}
	}

	// Each call returns fresh slices: a caller editing one cannot change
	// the next.
	d.Providers.GeminiCLI.ModelList[0] = "edited"
	if got := Default().Providers.GeminiCLI.ModelList[0]; got != "gemini-2.5-pro" {
		t.Errorf("Default() after editing an earlier result: model_list[0] = %q, want gemini-2.5-pro", got)
	}
}

func TestParseEmptyFileGivesDefaults(t *testing.T) {
	got, warns := mustParse(t, "")
	if diff := cmp.Diff(Default(), got); diff != "" {
		t.Errorf("Parse(empty) (-want +got):\n%s", diff)
	}
	if len(warns) != 0 {
		t.Errorf("warnings = %v, want none", warns)
	}
}

func TestLoadOriginalPolluxFile(t *testing.T) {
	path := writeFile(t, originalPollux)
	got, warns, err := Load(path, envFrom(nil))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}

	want := Default()
	want.Basic.ListenAddr = "127.0.0.1"
	want.Basic.ListenPort = 9000
	want.Basic.DatabaseURL = "sqlite://pollux.db"
	want.Basic.LogLevel = "debug"
	want.Basic.PolluxKey = "sk-original"
	want.Basic.InsecureCookie = true
	want.Providers.Defaults.Proxy = "socks5://127.0.0.1:1080"
	want.Providers.Defaults.RetryMaxTimes = 5
	want.Providers.GeminiCLI.Proxy = "socks5://127.0.0.1:1080"
	want.Providers.GeminiCLI.RetryMaxTimes = 5
	want.Providers.GeminiCLI.ModelList = []string{"gemini-2.5-pro"}
	want.Providers.GeminiCLI.OAuthTPS = 10
	want.Providers.GeminiCLI.TraceHeader = "x-trace"
	want.Providers.Codex.Proxy = "socks5://127.0.0.1:1080"
	want.Providers.Codex.RetryMaxTimes = 1
	want.Providers.Codex.ModelList = []string{"gpt-5.2-codex"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}

	wantWarns := []Warning{
		{Key: "providers.defaults.enable_multiplexing", Line: 11, Message: "unknown key; ignored"},
		{Key: "providers.antigravity", Line: 24, Message: AntigravityMessage},
		{Key: "basic.pollux_key", Line: 6, Message: "is only 11 characters: anyone who can reach Pollux can try keys, so use 24 or more random characters (openssl rand -hex 32)"},
	}
	if diff := cmp.Diff(wantWarns, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestParseProviderInheritance(t *testing.T) {
	const defaults = `
[providers.defaults]
proxy = "http://proxy.internal:3128"
retry_max_times = 7
max_concurrent_per_credential = 4
queue_timeout_secs = 20
`
	tests := []struct {
		name string
		doc  string
		want Provider // only the four inheritable fields are compared
	}{
		{
			name: "section sets nothing: inherits every key",
			doc:  defaults,
			want: Provider{Proxy: "http://proxy.internal:3128", RetryMaxTimes: 7, MaxConcurrentPerCredential: 4, QueueTimeoutSecs: 20},
		},
		{
			name: "section overrides every key, zero values included",
			doc: defaults + `
[providers.codex]
proxy = ""
retry_max_times = 0
max_concurrent_per_credential = 0
queue_timeout_secs = 0
`,
			want: Provider{},
		},
		{
			name: "section overrides some keys",
			doc: defaults + `
[providers.codex]
retry_max_times = 1
`,
			want: Provider{Proxy: "http://proxy.internal:3128", RetryMaxTimes: 1, MaxConcurrentPerCredential: 4, QueueTimeoutSecs: 20},
		},
		{
			name: "no defaults table: built-in defaults",
			doc: `
[providers.codex]
queue_timeout_secs = 5
`,
			want: Provider{RetryMaxTimes: 3, QueueTimeoutSecs: 5},
		},
		{
			name: "dotted keys set in another order",
			doc: `
providers.codex.max_concurrent_per_credential = 2
providers.defaults.max_concurrent_per_credential = 9
`,
			want: Provider{RetryMaxTimes: 3, MaxConcurrentPerCredential: 2, QueueTimeoutSecs: 10},
		},
	}
	inheritable := func(p Provider) Provider {
		return Provider{Proxy: p.Proxy, RetryMaxTimes: p.RetryMaxTimes, MaxConcurrentPerCredential: p.MaxConcurrentPerCredential, QueueTimeoutSecs: p.QueueTimeoutSecs}
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := mustParse(t, tc.doc)
			if diff := cmp.Diff(tc.want, inheritable(c.Providers.Codex)); diff != "" {
				t.Errorf("codex (-want +got):\n%s", diff)
			}
		})
	}

	// The other provider is unaffected by the codex section.
	c, _ := mustParse(t, defaults+"[providers.codex]\nretry_max_times = 1\n")
	if got := c.Providers.GeminiCLI.RetryMaxTimes; got != 7 {
		t.Errorf("geminicli retry_max_times = %d, want 7 (inherited)", got)
	}
}

func TestParseModelListReplacesDefault(t *testing.T) {
	c, _ := mustParse(t, "[providers.geminicli]\nmodel_list = [\"gemini-3-pro-preview\"]\n")
	if diff := cmp.Diff([]string{"gemini-3-pro-preview"}, c.Providers.GeminiCLI.ModelList); diff != "" {
		t.Errorf("model_list (-want +got):\n%s", diff)
	}
}

func TestParsePolluxKeyForms(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want Secret
	}{
		{"string", `pollux_key = "abc"`, "abc"},
		{"bare integer, as the original Pollux accepted", `pollux_key = 123456`, "123456"},
		{"absent", ``, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _ := mustParse(t, "[basic]\n"+tc.doc+"\n")
			if got := c.Basic.PolluxKey.Reveal(); got != tc.want.Reveal() {
				t.Errorf("pollux_key = %q, want %q", got, tc.want.Reveal())
			}
		})
	}
}

func TestParseUnknownKeysAreWarnings(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		want []Warning
	}{
		{
			name: "unknown key in a known table",
			doc:  "[basic]\nlisten_port = 1\nnexus_key = \"x\"\n",
			want: []Warning{{Key: "basic.nexus_key", Line: 3, Message: "unknown key; ignored"}},
		},
		{
			name: "unknown top-level table",
			doc:  "\n\n[antigravity]\na = 1\nb = 2\n",
			want: []Warning{{Key: "antigravity", Line: 3, Message: "unknown table; ignored"}},
		},
		{
			name: "unknown key in an inline table keeps its full path",
			doc:  "providers = { codex = { retry_max_times = 2, bogus = 1 } }\n",
			want: []Warning{{Key: "providers.codex.bogus", Line: 1, Message: "unknown key; ignored"}},
		},
		{
			name: "several, in file order",
			doc:  "top = 1\n[basic]\nx = 1\n[providers.defaults]\nenable_multiplexing = true\n",
			want: []Warning{
				{Key: "top", Line: 1, Message: "unknown key; ignored"},
				{Key: "basic.x", Line: 3, Message: "unknown key; ignored"},
				{Key: "providers.defaults.enable_multiplexing", Line: 5, Message: "unknown key; ignored"},
			},
		},
		{
			name: "trace log level maps to debug",
			doc:  "[basic]\nloglevel = \"trace\"\n",
			want: []Warning{{Key: "basic.loglevel", Line: 2, Message: `"trace" is not supported; using "debug"`}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, warns := mustParse(t, tc.doc)
			if diff := cmp.Diff(tc.want, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseKnownValuesSurviveUnknownKeys(t *testing.T) {
	c, _ := mustParse(t, "[basic]\nbogus = 1\nlisten_port = 4000\n")
	if c.Basic.ListenPort != 4000 {
		t.Errorf("listen_port = %d, want 4000", c.Basic.ListenPort)
	}
}

func TestParseErrorsHavePositions(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		wantMsg string
	}{
		{"unterminated string", "[basic]\nloglevel = \"info\n", "config.toml:2:"},
		{"missing value", "[basic]\n\nlisten_port =\n", "config.toml:3:"},
		{"duplicate key", "[basic]\nlisten_port = 1\nlisten_port = 2\n", "config.toml:3:1: "},
		{"wrong type", "[basic]\nlisten_port = \"8188\"\n", "config.toml:2:15: basic.listen_port: got a TOML string, want an integer"},
		{"wrong type in provider", "[providers.codex]\noauth_tps = \"fast\"\n", "config.toml:2:13: providers.codex.oauth_tps: got a TOML string, want a number"},
		{"key not text", "[basic]\npollux_key = [1, 2]\n", "config.toml:2: basic.pollux_key: must be a string"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Parse(strings.NewReader(tc.doc), "config.toml")
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			if !strings.HasPrefix(err.Error(), tc.wantMsg) {
				t.Errorf("error = %q, want prefix %q", err, tc.wantMsg)
			}
		})
	}
}

func TestParseSyntaxErrorIsDecodeError(t *testing.T) {
	_, _, err := Parse(strings.NewReader("[basic\n"), "x.toml")
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) does not unwrap to *toml.DecodeError", err, err)
	}
}

// A syntax error on the pollux_key line must not quote the key: go-toml's
// long error form prints the offending line.
func TestParseErrorDoesNotQuoteKey(t *testing.T) {
	const key = "sk-very-secret-value"
	for _, doc := range []string{
		"[basic]\npollux_key = \"" + key + "\n",
		"[basic]\npollux_key = \"" + key + "\" junk\n",
		"[basic]\npollux_key = \"" + key + "\"\npollux_key = \"" + key + "\"\n",
	} {
		_, _, err := Parse(strings.NewReader(doc), "config.toml")
		if err == nil {
			t.Fatalf("Parse(%q) succeeded, want an error", doc)
		}
		if strings.Contains(err.Error(), key) {
			t.Errorf("error %q quotes the key", err)
		}
	}
}

func TestLoadEnvOverrides(t *testing.T) {
	const file = "[basic]\npollux_key = \"from-file\"\n"
	tests := []struct {
		name  string
		env   map[string]string
		check func(Basic) (got, want any)
	}{
		{"POLLUX_KEY", map[string]string{"POLLUX_KEY": "from-env"},
			func(b Basic) (any, any) { return b.PolluxKey.Reveal(), "from-env" }},
		{"POLLUX_LISTEN_ADDR", map[string]string{"POLLUX_LISTEN_ADDR": "::1"},
			func(b Basic) (any, any) { return b.ListenAddr, "::1" }},
		{"POLLUX_LISTEN_PORT", map[string]string{"POLLUX_LISTEN_PORT": "9999"},
			func(b Basic) (any, any) { return b.ListenPort, 9999 }},
		{"POLLUX_DATABASE_URL", map[string]string{"POLLUX_DATABASE_URL": "sqlite:///app/data/pollux.db"},
			func(b Basic) (any, any) { return b.DatabasePath(), "/app/data/pollux.db" }},
		{"POLLUX_LOGLEVEL", map[string]string{"POLLUX_LOGLEVEL": "warn"},
			func(b Basic) (any, any) { return b.LogLevel, "warn" }},
		{"empty variable is not an override", map[string]string{"POLLUX_KEY": ""},
			func(b Basic) (any, any) { return b.PolluxKey.Reveal(), "from-file" }},
		{"other variables are ignored", map[string]string{"LISTEN_PORT": "1"},
			func(b Basic) (any, any) { return b.ListenPort, 8188 }},
	}
	path := writeFile(t, file)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, _, err := Load(path, envFrom(tc.env))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got, want := tc.check(c.Basic); got != want {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
}

func TestLoadEnvKeyMakesMissingFileKeyValid(t *testing.T) {
	path := writeFile(t, "[basic]\n")
	if _, _, err := Load(path, envFrom(nil)); err == nil {
		t.Fatal("Load without any pollux_key succeeded, want an error")
	}
	c, _, err := Load(path, envFrom(map[string]string{"POLLUX_KEY": "k"}))
	if err != nil {
		t.Fatalf("Load with POLLUX_KEY: %v", err)
	}
	if !c.Basic.PolluxKey.Matches("k") {
		t.Error("pollux_key does not match POLLUX_KEY")
	}
}

func TestLoadEnvErrors(t *testing.T) {
	path := writeFile(t, "[basic]\npollux_key = \"k\"\nlisten_port = 8000\n")
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"port not an integer", map[string]string{"POLLUX_LISTEN_PORT": "http"}, `POLLUX_LISTEN_PORT: "http" is not an integer`},
		{"port out of range names the variable, not the file line", map[string]string{"POLLUX_LISTEN_PORT": "70000"},
			"basic.listen_port (from POLLUX_LISTEN_PORT): must be 1..65535"},
		{"bad log level", map[string]string{"POLLUX_LOGLEVEL": "loud"},
			`basic.loglevel (from POLLUX_LOGLEVEL): must be one of debug, info, warn, error (any case), or a filter such as "pollux=debug"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(path, envFrom(tc.env))
			if err == nil {
				t.Fatal("Load succeeded, want an error")
			}
			if err.Error() != tc.want {
				t.Errorf("error = %q, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadEnvTraceLogLevel(t *testing.T) {
	path := writeFile(t, "[basic]\npollux_key = \"a-long-enough-test-key-0001\"\n")
	c, warns, err := Load(path, envFrom(map[string]string{"POLLUX_LOGLEVEL": "trace"}))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Basic.LogLevel != "debug" {
		t.Errorf("loglevel = %q, want debug", c.Basic.LogLevel)
	}
	want := []Warning{{Key: "basic.loglevel", Message: `"trace" is not supported; using "debug" (from POLLUX_LOGLEVEL)`}}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestLoadValidationErrorsHaveLines(t *testing.T) {
	path := writeFile(t, `[basic]
pollux_key = "k"
loglevel = "info"
listen_port = 0

[providers.codex]
model_list = ["gpt-5.2", "models/gpt-5.2"]
`)
	_, _, err := Load(path, envFrom(nil))
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	want := []string{
		path + ":4: basic.listen_port: must be 1..65535",
		path + `:7: providers.codex.model_list[1]: "models/gpt-5.2": write the bare id, without the "models/" prefix`,
	}
	if diff := cmp.Diff(want, strings.Split(err.Error(), "\n")); diff != "" {
		t.Errorf("error lines (-want +got):\n%s", diff)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("error does not unwrap to *FieldError")
	}
	if fe.Key != "basic.listen_port" || fe.Line != 4 || fe.File != path {
		t.Errorf("first FieldError = %+v, want key basic.listen_port at %s:4", fe, path)
	}
}

func TestLoadValidationErrorWithoutLine(t *testing.T) {
	// The key is missing from the file, so there is no line to point at.
	path := writeFile(t, "[basic]\nlisten_port = 8188\n")
	_, _, err := Load(path, envFrom(nil))
	if err == nil {
		t.Fatal("Load succeeded, want an error")
	}
	if got, want := err.Error(), "basic.pollux_key: must be set: every client presents this key"; got != want {
		t.Errorf("error = %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, _, err := Load(filepath.Join(t.TempDir(), "none.toml"), envFrom(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("error = %v, want one matching fs.ErrNotExist", err)
	}
}

func TestLoadSyntaxErrorNamesFile(t *testing.T) {
	path := writeFile(t, "[basic]\npollux_key = \"k\"\nlisten_port = = 1\n")
	_, _, err := Load(path, envFrom(nil))
	if err == nil || !strings.HasPrefix(err.Error(), path+":3:") {
		t.Errorf("error = %v, want prefix %q", err, path+":3:")
	}
}

func TestResolvePath(t *testing.T) {
	tests := []struct {
		name string
		flag string
		env  map[string]string
		want string
	}{
		{"flag wins", "/etc/pollux.toml", map[string]string{"POLLUX_CONFIG": "/env.toml"}, "/etc/pollux.toml"},
		{"env when no flag", "", map[string]string{"POLLUX_CONFIG": "/env.toml"}, "/env.toml"},
		{"default", "", nil, "config.toml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ResolvePath(tc.flag, envFrom(tc.env)); got != tc.want {
				t.Errorf("ResolvePath(%q) = %q, want %q", tc.flag, got, tc.want)
			}
		})
	}
}

func TestWarningString(t *testing.T) {
	tests := []struct {
		name string
		w    Warning
		want string
	}{
		{"with line", Warning{Key: "basic.x", Line: 3, Message: "unknown key; ignored"}, "line 3: basic.x: unknown key; ignored"},
		{"without line", Warning{Key: "basic.loglevel", Message: "m"}, "basic.loglevel: m"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.w.String(); got != tc.want {
				t.Errorf("String() = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLoadWarningsComeWithErrors: a file that forgot its [basic] header
// fails validation, and the warnings that explain why (the ignored
// top-level keys, with their lines) come back with the error.
func TestLoadWarningsComeWithErrors(t *testing.T) {
	path := writeFile(t, "# no [basic] header\npollux_key = \"a-long-enough-test-key-0001\"\nlisten_port = 9000\n")
	_, warns, err := Load(path, envFrom(nil))
	if err == nil || !strings.Contains(err.Error(), "basic.pollux_key: must be set") {
		t.Fatalf("err = %v, want basic.pollux_key: must be set", err)
	}
	const msg = "unknown top-level key; ignored: it belongs under the [basic] header (is the header missing, or is the key above it?)"
	want := []Warning{
		{Key: "pollux_key", Line: 2, Message: msg},
		{Key: "listen_port", Line: 3, Message: msg},
	}
	if diff := cmp.Diff(want, warns); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

// TestLoadShortKeyWarning: a key shorter than MinKeyLength loads with a
// warning that names its length, never its value.
func TestLoadShortKeyWarning(t *testing.T) {
	long := strings.Repeat("x", MinKeyLength)
	cases := []struct {
		name string
		file string
		env  map[string]string
		want []Warning
	}{
		{"long key", "[basic]\npollux_key = \"" + long + "\"\n", nil, nil},
		{"short key in the file", "[basic]\npollux_key = \"short-key-1\"\n", nil, []Warning{{Key: "basic.pollux_key", Line: 2,
			Message: "is only 11 characters: anyone who can reach Pollux can try keys, so use 24 or more random characters (openssl rand -hex 32)"}}},
		{"short key from the environment", "[basic]\npollux_key = \"" + long + "\"\n", map[string]string{"POLLUX_KEY": "short-key-2"}, []Warning{{Key: "basic.pollux_key",
			Message: "is only 11 characters: anyone who can reach Pollux can try keys, so use 24 or more random characters (openssl rand -hex 32) (from POLLUX_KEY)"}}},
		{"short admin key", "[basic]\npollux_key = \"" + long + "\"\nadmin_key = \"adm\"\n", nil, []Warning{{Key: "basic.admin_key", Line: 3,
			Message: "is only 3 characters: anyone who can reach Pollux can try keys, so use 24 or more random characters (openssl rand -hex 32)"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, warns, err := Load(writeFile(t, tc.file), envFrom(tc.env))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, warns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
			for _, w := range warns {
				if strings.Contains(w.String(), "short-key") || strings.Contains(w.String(), `"adm"`) {
					t.Errorf("warning quotes the key: %s", w)
				}
			}
		})
	}
}
