package config

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// valid returns a configuration that passes Validate.
func valid() Config {
	c := Default()
	c.Basic.PolluxKey = "pollux-test-key"
	return c
}

// fieldErrors returns "key: message" for each *FieldError joined in err.
func fieldErrors(t *testing.T, err error) []string {
	t.Helper()
	if err == nil {
		return nil
	}
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("Validate error %v is not a joined error", err)
	}
	var out []string
	for _, e := range joined.Unwrap() {
		var fe *FieldError
		if !errors.As(e, &fe) {
			t.Fatalf("error %v (%T) is not a *FieldError", e, e)
		}
		out = append(out, fe.Key+": "+fe.Message)
	}
	return out
}

func TestValidateDefaultsWithKey(t *testing.T) {
	if err := valid().Validate(); err != nil {
		t.Errorf("Validate(defaults + key) = %v, want nil", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   []string
	}{
		{"empty key", func(c *Config) { c.Basic.PolluxKey = "" },
			[]string{"basic.pollux_key: must be set: every client presents this key"}},
		{"blank key", func(c *Config) { c.Basic.PolluxKey = "  " },
			[]string{"basic.pollux_key: must be set: every client presents this key"}},
		{"placeholder key", func(c *Config) { c.Basic.PolluxKey = "change-me" },
			[]string{"basic.pollux_key: " + placeholderKeyMessage}},
		{"placeholder admin key", func(c *Config) { c.Basic.AdminKey = "change-me" },
			[]string{"basic.admin_key: is the example placeholder; set a long random key or leave it empty"}},
		{"empty listen_addr", func(c *Config) { c.Basic.ListenAddr = "" },
			[]string{"basic.listen_addr: must be an IP address or a host name"}},
		{"listen_addr with port", func(c *Config) { c.Basic.ListenAddr = "0.0.0.0:80" },
			[]string{"basic.listen_addr: must be an IP address or a host name"}},
		{"ipv6 listen_addr", func(c *Config) { c.Basic.ListenAddr = "::" }, nil},
		{"host name listen_addr", func(c *Config) { c.Basic.ListenAddr = "localhost" }, nil},
		{"port 0", func(c *Config) { c.Basic.ListenPort = 0 }, []string{"basic.listen_port: must be 1..65535"}},
		{"port 65536", func(c *Config) { c.Basic.ListenPort = 65536 }, []string{"basic.listen_port: must be 1..65535"}},
		{"port 65535", func(c *Config) { c.Basic.ListenPort = 65535 }, nil},
		{"loglevel", func(c *Config) { c.Basic.LogLevel = "verbose" },
			[]string{`basic.loglevel: must be one of debug, info, warn, error (any case), or a filter such as "pollux=debug"`}},
		// Parse and Load normalise "INFO"; Validate sees only the result.
		{"loglevel not normalised", func(c *Config) { c.Basic.LogLevel = "INFO" },
			[]string{`basic.loglevel: must be one of debug, info, warn, error (any case), or a filter such as "pollux=debug"`}},
		{"trace header", func(c *Config) { c.Providers.Codex.TraceHeader = "x trace" },
			[]string{"providers.codex.trace_header: must be a header name (letters, digits, - and _)"}},
		{"trace header pollux sets", func(c *Config) {
			c.Providers.Defaults.TraceHeader = "Authorization"
			c.Providers.Codex.TraceHeader = "Authorization"
			c.Providers.GeminiCLI.TraceHeader = "Authorization"
		},
			[]string{"providers.defaults.trace_header: names a header Pollux sets itself; choose another, e.g. x-pollux-trace"}},
		{"client version", func(c *Config) { c.Providers.GeminiCLI.ClientVersion = "0.61 beta" },
			[]string{`providers.geminicli.client_version: must be a version such as "1.2.3" (digits, letters, dots and dashes)`}},
		{"node version", func(c *Config) { c.Providers.GeminiCLI.NodeVersion = "v22 lts" },
			[]string{`providers.geminicli.node_version: must be a version such as "22.21.1" (digits, letters, dots and dashes)`}},
		{"auth library version", func(c *Config) { c.Providers.GeminiCLI.AuthLibraryVersion = "10/9" },
			[]string{`providers.geminicli.auth_library_version: must be a version such as "10.9.0" (digits, letters, dots and dashes)`}},
		{"trace header x-goog-api-client", func(c *Config) { c.Providers.GeminiCLI.TraceHeader = "X-Goog-Api-Client" },
			[]string{"providers.geminicli.trace_header: names a header Pollux sets itself; choose another, e.g. x-pollux-trace"}},
		{"log_format", func(c *Config) { c.Basic.LogFormat = "text" },
			[]string{"basic.log_format: must be json or console"}},
		{"console log_format", func(c *Config) { c.Basic.LogFormat = "console" }, nil},
		{"database_url other scheme", func(c *Config) { c.Basic.DatabaseURL = "postgres://db/pollux" },
			[]string{"basic.database_url: must be sqlite://PATH or a file path; only SQLite is supported"}},
		{"database_url without path", func(c *Config) { c.Basic.DatabaseURL = "sqlite://" },
			[]string{"basic.database_url: names no file; use sqlite://PATH"}},
		{"database_url empty", func(c *Config) { c.Basic.DatabaseURL = "" },
			[]string{"basic.database_url: names no file; use sqlite://PATH"}},
		{"database_url bare path", func(c *Config) { c.Basic.DatabaseURL = "/var/lib/pollux/pollux.db" }, nil},
		{"shutdown timeout 0", func(c *Config) { c.Basic.ShutdownTimeoutSecs = 0 },
			[]string{"basic.shutdown_timeout_secs: must be 1..3600"}},
		{"proxy scheme", func(c *Config) { c.Providers.Defaults.Proxy = "ftp://proxy:21" },
			[]string{"providers.defaults.proxy: scheme must be http, https, socks5 or socks5h"}},
		{"proxy without host", func(c *Config) { c.Providers.Defaults.Proxy = "socks5://" },
			[]string{"providers.defaults.proxy: must name a host, e.g. socks5://127.0.0.1:1080"}},
		{"proxy not a URL", func(c *Config) { c.Providers.Defaults.Proxy = "http://[::1" },
			[]string{"providers.defaults.proxy: is not a valid URL"}},
		{"proxy forms", func(c *Config) {
			c.Providers.Defaults.Proxy = "http://127.0.0.1:3128"
			c.Providers.GeminiCLI.Proxy = "socks5h://user:pw@proxy:1080"
			c.Providers.Codex.Proxy = "https://proxy.example"
		}, nil},
		{"retry_max_times", func(c *Config) { c.Providers.Defaults.RetryMaxTimes = 21 },
			[]string{"providers.defaults.retry_max_times: must be 0..20"}},
		{"negative max concurrency", func(c *Config) { c.Providers.Defaults.MaxConcurrentPerCredential = -1 },
			[]string{"providers.defaults.max_concurrent_per_credential: must be 0 (no cap) or more"}},
		{"unknown routing", func(c *Config) { c.Providers.Codex.Routing = "random" }, []string{`providers.codex.routing: must be "quota" or "lru"`}},
		{"quota poll too often", func(c *Config) { c.Providers.GeminiCLI.QuotaPollSecs = 2 }, []string{"providers.geminicli.quota_poll_secs: must be 0 (off) or 10..86400"}},
		{"queue timeout", func(c *Config) { c.Providers.Defaults.QueueTimeoutSecs = 601 },
			[]string{"providers.defaults.queue_timeout_secs: must be 0..600"}},
		{"inherited bad value is reported once, under defaults", func(c *Config) {
			c.Providers.Defaults.RetryMaxTimes = -1
			c.Providers.GeminiCLI.RetryMaxTimes = -1
			c.Providers.Codex.RetryMaxTimes = -1
		}, []string{"providers.defaults.retry_max_times: must be 0..20"}},
		{"provider's own bad value", func(c *Config) { c.Providers.Codex.QueueTimeoutSecs = -5 },
			[]string{"providers.codex.queue_timeout_secs: must be 0..600"}},
		{"provider's own bad proxy", func(c *Config) { c.Providers.GeminiCLI.Proxy = "gopher://x" },
			[]string{"providers.geminicli.proxy: scheme must be http, https, socks5 or socks5h"}},
		{"oauth_tps zero", func(c *Config) { c.Providers.GeminiCLI.OAuthTPS = 0 },
			[]string{"providers.geminicli.oauth_tps: must be a number greater than 0"}},
		{"oauth_tps NaN", func(c *Config) { c.Providers.Codex.OAuthTPS = math.NaN() },
			[]string{"providers.codex.oauth_tps: must be a number greater than 0"}},
		{"oauth_tps infinite", func(c *Config) { c.Providers.Codex.OAuthTPS = math.Inf(1) },
			[]string{"providers.codex.oauth_tps: must be a number greater than 0"}},
		{"oauth_tps fraction", func(c *Config) { c.Providers.Codex.OAuthTPS = 0.5 }, nil},
		{"empty model_list", func(c *Config) { c.Providers.Codex.ModelList = nil },
			[]string{"providers.codex.model_list: must list at least one model"}},
		{"bad model ids", func(c *Config) {
			c.Providers.GeminiCLI.ModelList = []string{"gemini-2.5-pro", "", "models/gemini-2.5-flash", "gemini-2.5-pro", "gemini 2"}
		}, []string{
			"providers.geminicli.model_list[1]: must not be empty",
			`providers.geminicli.model_list[2]: "models/gemini-2.5-flash": write the bare id, without the "models/" prefix`,
			`providers.geminicli.model_list[3]: "gemini-2.5-pro" is listed twice`,
			`providers.geminicli.model_list[4]: "gemini 2" must not contain white space`,
		}},
		{"urls", func(c *Config) {
			c.Providers.GeminiCLI.CustomAPIURL = "cloudcode-pa.googleapis.com"
			c.Providers.GeminiCLI.OAuthAuthURL = "ftp://accounts.google.com"
			c.Providers.Codex.OAuthTokenURL = ""
		}, []string{
			"providers.geminicli.custom_api_url: must be an absolute http:// or https:// URL",
			"providers.geminicli.oauth_auth_url: must be an absolute http:// or https:// URL",
			"providers.codex.oauth_token_url: must be an absolute http:// or https:// URL",
		}},
		{"loopback http urls for tests", func(c *Config) {
			c.Providers.Codex.CustomAPIURL = "http://127.0.0.1:4010"
			c.Providers.Codex.OAuthTokenURL = "http://127.0.0.1:4010/oauth/token"
		}, nil},
		{"every problem at once, in key order", func(c *Config) {
			c.Basic.PolluxKey = ""
			c.Basic.ListenPort = -1
			c.Basic.LogFormat = "xml"
			c.Providers.Defaults.QueueTimeoutSecs = 1000
			c.Providers.Codex.ModelList = []string{}
		}, []string{
			"basic.pollux_key: must be set: every client presents this key",
			"basic.listen_port: must be 1..65535",
			"basic.log_format: must be json or console",
			"providers.defaults.queue_timeout_secs: must be 0..600",
			"providers.codex.model_list: must list at least one model",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := valid()
			tc.modify(&c)
			got := fieldErrors(t, c.Validate())
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Validate problems (-want +got):\n%s", diff)
			}
		})
	}
}

func TestValidateDoesNotModify(t *testing.T) {
	c := valid()
	c.Basic.LogLevel = "trace"
	c.Providers.Codex.ModelList = []string{"a", "a"}
	before := c
	before.Providers.Codex.ModelList = []string{"a", "a"}
	_ = c.Validate()
	if diff := cmp.Diff(before, c); diff != "" {
		t.Errorf("Validate changed the config (-before +after):\n%s", diff)
	}
}

func TestValidateNeverQuotesSecrets(t *testing.T) {
	const password = "hunter2-proxy-password"
	c := valid()
	c.Basic.PolluxKey = " "
	c.Basic.AdminKey = "admin-secret"
	c.Providers.Defaults.Proxy = "ftp://user:" + password + "@proxy:21"
	c.Providers.Codex.Proxy = "socks5://user:" + password + "@"
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate succeeded, want errors")
	}
	for _, s := range []string{password, "admin-secret"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestFieldErrorString(t *testing.T) {
	tests := []struct {
		name string
		e    FieldError
		want string
	}{
		{"bare", FieldError{Key: "basic.listen_port", Message: "must be 1..65535"}, "basic.listen_port: must be 1..65535"},
		{"from file", FieldError{Key: "basic.listen_port", Message: "must be 1..65535", File: "config.toml", Line: 4},
			"config.toml:4: basic.listen_port: must be 1..65535"},
		{"from env", FieldError{Key: "basic.listen_port", Message: "must be 1..65535", Env: "POLLUX_LISTEN_PORT"},
			"basic.listen_port (from POLLUX_LISTEN_PORT): must be 1..65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.e.Error(); got != tc.want {
				t.Errorf("Error() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDatabasePath(t *testing.T) {
	tests := []struct {
		url, want string
	}{
		{"sqlite://data.db", "data.db"},
		{"sqlite:///app/data/pollux.db", "/app/data/pollux.db"},
		{"sqlite:data.db", "data.db"},
		{"sqlite:/var/lib/pollux/pollux.db", "/var/lib/pollux/pollux.db"},
		{"data/pollux.db", "data/pollux.db"},
		{"/abs/pollux.db", "/abs/pollux.db"},
		{"sqlite://data.db?mode=rwc&_journal=WAL", "data.db"},
		{"pollux.db?cache=shared", "pollux.db"},
		{"sqlite://", ""},
		{"", ""},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			if got := (Basic{DatabaseURL: tc.url}).DatabasePath(); got != tc.want {
				t.Errorf("DatabasePath(%q) = %q, want %q", tc.url, got, tc.want)
			}
		})
	}
}

func TestAddr(t *testing.T) {
	tests := []struct {
		addr string
		port int
		want string
	}{
		{"0.0.0.0", 8188, "0.0.0.0:8188"},
		{"::", 8188, "[::]:8188"},
		{"localhost", 80, "localhost:80"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			if got := (Basic{ListenAddr: tc.addr, ListenPort: tc.port}).Addr(); got != tc.want {
				t.Errorf("Addr() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestDurations(t *testing.T) {
	if got, want := (Basic{ShutdownTimeoutSecs: 30}).ShutdownTimeout(), 30*time.Second; got != want {
		t.Errorf("ShutdownTimeout() = %v, want %v", got, want)
	}
	if got, want := (Provider{QueueTimeoutSecs: 10}).QueueTimeout(), 10*time.Second; got != want {
		t.Errorf("QueueTimeout() = %v, want %v", got, want)
	}
}
