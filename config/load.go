package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// DefaultPath is the config file used when neither --config nor POLLUX_CONFIG
// names one. It is relative to the working directory.
const DefaultPath = "config.toml"

// Warning is a problem in the config file that does not stop Pollux: a key
// or table this version does not know (older Pollux files carry some), or a
// value that was mapped to a supported one.
type Warning struct {
	// Key is the dotted key path, e.g. "providers.geminicli.trace_header".
	Key string
	// Line is the 1-based line of the key in the file, or 0 when unknown.
	Line int
	// Message says what was wrong and what Pollux did about it.
	Message string
}

// String formats the warning for a log line or a terminal.
func (w Warning) String() string {
	if w.Line > 0 {
		return fmt.Sprintf("line %d: %s: %s", w.Line, w.Key, w.Message)
	}
	return w.Key + ": " + w.Message
}

// Default returns the configuration used for every key a file leaves out.
// PolluxKey is empty: there is no safe default for it.
func Default() Config {
	return Config{
		Basic: Basic{
			ListenAddr:          "0.0.0.0",
			ListenPort:          8188,
			DatabaseURL:         "sqlite://data.db",
			LogLevel:            "info",
			LogFormat:           "json",
			ShutdownTimeoutSecs: 30,
			TrustedProxies:      []string{},
		},
		Providers: Providers{
			Defaults: ProviderDefaults{
				RetryMaxTimes:    3,
				QueueTimeoutSecs: 10,
			},
			GeminiCLI: Provider{
				RetryMaxTimes:    3,
				QueueTimeoutSecs: 10,
				ModelList:        []string{"gemini-2.5-pro", "gemini-2.5-flash"},
				CustomAPIURL:     "https://cloudcode-pa.googleapis.com",
				OAuthAuthURL:     "https://accounts.google.com/o/oauth2/v2/auth",
				OAuthTokenURL:    "https://oauth2.googleapis.com/token",
				OAuthUserInfoURL: "https://www.googleapis.com/oauth2/v2/userinfo",
				OAuthTPS:         5,
				ClientVersion:    "0.61.0",

				NodeVersion:              "22.21.1",
				AuthLibraryVersion:       "10.9.0",
				ThoughtSignatureCacheMiB: 16,
				Routing:                  RoutingQuota,
				QuotaPollSecs:            300,
			},
			Codex: Provider{
				RetryMaxTimes:    3,
				QueueTimeoutSecs: 10,
				ModelList:        []string{"gpt-5.2-codex", "gpt-5.2"},
				CustomAPIURL:     "https://chatgpt.com",
				OAuthAuthURL:     "https://auth.openai.com/oauth/authorize",
				OAuthTokenURL:    "https://auth.openai.com/oauth/token",
				OAuthTPS:         5,
				ClientVersion:    "0.171.0",
				Routing:          RoutingQuota,
				QuotaPollSecs:    300,
			},
		},
	}
}

// ResolvePath picks the config file: the --config flag when given, else
// $POLLUX_CONFIG, else DefaultPath.
func ResolvePath(flagValue string, getenv func(string) string) string {
	path, _ := LocatePath(flagValue, getenv)
	return path
}

// LocatePath is ResolvePath that also says what named the file: "--config",
// "POLLUX_CONFIG", or "" for the default search. Only the default search may
// write a first-run config; a file named explicitly must exist, so a typo
// in a path never starts a second gateway with a fresh key.
func LocatePath(flagValue string, getenv func(string) string) (path, namedBy string) {
	if flagValue != "" {
		return flagValue, "--config"
	}
	if p := getenv("POLLUX_CONFIG"); p != "" {
		return p, "POLLUX_CONFIG"
	}
	return DefaultPath, ""
}

// EnvOverride is one environment variable that overrides a key of the file.
type EnvOverride struct {
	// Name is the variable, e.g. "POLLUX_KEY".
	Name string
	// Key is the dotted key it overrides, e.g. "basic.pollux_key".
	Key string
}

// EnvOverrides lists the environment variables Load applies, in the order
// it applies them.
func EnvOverrides() []EnvOverride {
	return []EnvOverride{
		{"POLLUX_KEY", "basic.pollux_key"},
		{"POLLUX_LISTEN_ADDR", "basic.listen_addr"},
		{"POLLUX_LISTEN_PORT", "basic.listen_port"},
		{"POLLUX_DATABASE_URL", "basic.database_url"},
		{"POLLUX_LOGLEVEL", "basic.loglevel"},
	}
}

// Parse decodes a config file over the defaults. name is the file name used
// in error messages. Unknown keys do not fail the parse: they come back as
// warnings with their line. A syntax or type error is reported with
// name:line:column. Parse does not validate; Load does.
func Parse(r io.Reader, name string) (Config, []Warning, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return Config{}, nil, fmt.Errorf("read %s: %w", displayName(name), err)
	}
	c, warns, _, err := parse(data, name)
	return c, warns, err
}

// Load reads the file at path, applies the environment overrides read
// through getenv, and validates the result. Validation problems are all
// returned at once, joined; each names its key path and, when the key was
// set in the file, its line ("config.toml:4: basic.listen_port: must be
// 1..65535"). A missing file gives an error that matches fs.ErrNotExist.
func Load(path string, getenv func(string) string) (Config, []Warning, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, nil, fmt.Errorf("read config: %w", err)
	}
	c, warns, lines, err := parse(data, path)
	if err != nil {
		return Config{}, warns, err
	}
	fromEnv, err := applyEnv(&c, getenv)
	if err != nil {
		return Config{}, warns, err
	}
	// parse already mapped a "trace" from the file; only the environment
	// can bring it back.
	if w, ok := compatLogLevel(&c.Basic); ok {
		w.Message += " (from POLLUX_LOGLEVEL)"
		warns = append(warns, w)
	}
	if w, ok := shortKeyWarning(c.Basic.PolluxKey, "basic.pollux_key", lines, fromEnv); ok {
		warns = append(warns, w)
	}
	if w, ok := shortKeyWarning(c.Basic.AdminKey, "basic.admin_key", lines, fromEnv); ok {
		warns = append(warns, w)
	}
	if err := c.Validate(); err != nil {
		return Config{}, warns, locate(err, path, lines, fromEnv)
	}
	return c, warns, nil
}

// MinKeyLength is the shortest pollux_key or admin_key that loads without a
// warning. A generated key is 50 characters.
const MinKeyLength = 24

// shortKeyWarning warns about a set key shorter than MinKeyLength. An empty
// key or the example placeholder is Validate's to refuse.
func shortKeyWarning(key Secret, name string, lines map[string]int, fromEnv map[string]string) (Warning, bool) {
	k := key.Reveal()
	if k == "" || k == examplePlaceholder || len(k) >= MinKeyLength {
		return Warning{}, false
	}
	w := Warning{Key: name, Line: lines[name], Message: fmt.Sprintf(
		"is only %d characters: anyone who can reach Pollux can try keys, so use %d or more random characters (openssl rand -hex 32)",
		len(k), MinKeyLength)}
	if env := fromEnv[name]; env != "" {
		w.Line = 0
		w.Message += " (from " + env + ")"
	}
	return w, true
}

// applyEnv applies the non-empty overrides and returns, for each key it set,
// the variable that set it.
func applyEnv(c *Config, getenv func(string) string) (map[string]string, error) {
	set := make(map[string]string)
	for _, ev := range EnvOverrides() {
		v := getenv(ev.Name)
		if v == "" {
			continue
		}
		switch ev.Name {
		case "POLLUX_KEY":
			c.Basic.PolluxKey = Secret(v)
		case "POLLUX_LISTEN_ADDR":
			c.Basic.ListenAddr = v
		case "POLLUX_LISTEN_PORT":
			port, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not an integer", ev.Name, v)
			}
			c.Basic.ListenPort = port
		case "POLLUX_DATABASE_URL":
			c.Basic.DatabaseURL = v
		case "POLLUX_LOGLEVEL":
			c.Basic.LogLevel = v
		}
		set[ev.Key] = ev.Name
	}
	return set, nil
}

// locate rewrites the validation errors in err so that each names the file
// and line of its key, or the environment variable that set it.
func locate(err error, path string, lines map[string]int, fromEnv map[string]string) error {
	joined, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return err
	}
	errs := joined.Unwrap()
	out := make([]error, 0, len(errs))
	for _, e := range errs {
		var fe *FieldError
		if !errors.As(e, &fe) {
			out = append(out, e)
			continue
		}
		located := *fe
		base := baseKey(fe.Key)
		if env := fromEnv[base]; env != "" {
			located.Env = env
		} else if line := lines[base]; line > 0 {
			located.File, located.Line = path, line
		}
		out = append(out, &located)
	}
	return errors.Join(out...)
}

// baseKey drops a trailing list index: "x.model_list[2]" → "x.model_list".
func baseKey(key string) string {
	if i := strings.IndexByte(key, '['); i >= 0 {
		return key[:i]
	}
	return key
}

// The file* types mirror the public ones for decoding. They differ where the
// file format needs more than the resolved value: a provider's inheritable
// keys are pointers so that "not set" can be told from "set to zero", and
// the keys are decoded as any because the original Pollux accepted a bare
// number for pollux_key.
type fileConfig struct {
	Basic     fileBasic     `toml:"basic"`
	Providers fileProviders `toml:"providers"`
}

type fileBasic struct {
	ListenAddr          string   `toml:"listen_addr"`
	ListenPort          int      `toml:"listen_port"`
	DatabaseURL         string   `toml:"database_url"`
	LogLevel            string   `toml:"loglevel"`
	LogFormat           string   `toml:"log_format"`
	PolluxKey           any      `toml:"pollux_key"`
	AdminKey            any      `toml:"admin_key"`
	InsecureCookie      bool     `toml:"insecure_cookie"`
	TrustedProxies      []string `toml:"trusted_proxies"`
	MetricsPublic       bool     `toml:"metrics_public"`
	ShutdownTimeoutSecs int      `toml:"shutdown_timeout_secs"`
	EncryptSecrets      bool     `toml:"encrypt_secrets"`
	SecretsKeyFile      string   `toml:"secrets_key_file"`
}

type fileProviders struct {
	Defaults  ProviderDefaults `toml:"defaults"`
	GeminiCLI fileProvider     `toml:"geminicli"`
	Codex     fileProvider     `toml:"codex"`
}

type fileProvider struct {
	Proxy                      *string             `toml:"proxy"`
	RetryMaxTimes              *int                `toml:"retry_max_times"`
	MaxConcurrentPerCredential *int                `toml:"max_concurrent_per_credential"`
	QueueTimeoutSecs           *int                `toml:"queue_timeout_secs"`
	TraceHeader                *string             `toml:"trace_header"`
	ModelList                  []string            `toml:"model_list"`
	CustomAPIURL               string              `toml:"custom_api_url"`
	OAuthAuthURL               string              `toml:"oauth_auth_url"`
	OAuthTokenURL              string              `toml:"oauth_token_url"`
	OAuthUserInfoURL           string              `toml:"oauth_userinfo_url"`
	OAuthTPS                   float64             `toml:"oauth_tps"`
	ClientVersion              string              `toml:"client_version"`
	NodeVersion                string              `toml:"node_version"`
	AuthLibraryVersion         string              `toml:"auth_library_version"`
	ThoughtSignatureCacheMiB   int                 `toml:"thought_signature_cache_mib"`
	Routing                    string              `toml:"routing"`
	QuotaPollSecs              int                 `toml:"quota_poll_secs"`
	Aliases                    map[string]string   `toml:"aliases"`
	Fallbacks                  map[string][]string `toml:"fallbacks"`
}

// newFileConfig returns the decode target, filled with the defaults.
func newFileConfig() fileConfig {
	d := Default()
	b := d.Basic
	return fileConfig{
		Basic: fileBasic{
			ListenAddr:          b.ListenAddr,
			ListenPort:          b.ListenPort,
			DatabaseURL:         b.DatabaseURL,
			LogLevel:            b.LogLevel,
			LogFormat:           b.LogFormat,
			InsecureCookie:      b.InsecureCookie,
			TrustedProxies:      b.TrustedProxies,
			MetricsPublic:       b.MetricsPublic,
			ShutdownTimeoutSecs: b.ShutdownTimeoutSecs,
			EncryptSecrets:      b.EncryptSecrets,
			SecretsKeyFile:      b.SecretsKeyFile,
		},
		Providers: fileProviders{
			Defaults:  d.Providers.Defaults,
			GeminiCLI: newFileProvider(d.Providers.GeminiCLI),
			Codex:     newFileProvider(d.Providers.Codex),
		},
	}
}

// newFileProvider keeps the provider's own defaults and leaves the
// inheritable keys unset.
func newFileProvider(p Provider) fileProvider {
	return fileProvider{
		ModelList:        p.ModelList,
		CustomAPIURL:     p.CustomAPIURL,
		OAuthAuthURL:     p.OAuthAuthURL,
		OAuthTokenURL:    p.OAuthTokenURL,
		OAuthUserInfoURL: p.OAuthUserInfoURL,
		OAuthTPS:         p.OAuthTPS,
		ClientVersion:    p.ClientVersion,

		NodeVersion:              p.NodeVersion,
		AuthLibraryVersion:       p.AuthLibraryVersion,
		ThoughtSignatureCacheMiB: p.ThoughtSignatureCacheMiB,
		Routing:                  p.Routing,
		QuotaPollSecs:            p.QuotaPollSecs,
	}
}

// resolve applies [providers.defaults] to every key the section left unset.
func (f fileProvider) resolve(d ProviderDefaults) Provider {
	return Provider{
		Proxy:                      valueOr(f.Proxy, d.Proxy),
		RetryMaxTimes:              valueOr(f.RetryMaxTimes, d.RetryMaxTimes),
		MaxConcurrentPerCredential: valueOr(f.MaxConcurrentPerCredential, d.MaxConcurrentPerCredential),
		QueueTimeoutSecs:           valueOr(f.QueueTimeoutSecs, d.QueueTimeoutSecs),
		TraceHeader:                valueOr(f.TraceHeader, d.TraceHeader),
		ModelList:                  f.ModelList,
		CustomAPIURL:               f.CustomAPIURL,
		OAuthAuthURL:               f.OAuthAuthURL,
		OAuthTokenURL:              f.OAuthTokenURL,
		OAuthUserInfoURL:           f.OAuthUserInfoURL,
		OAuthTPS:                   f.OAuthTPS,
		ClientVersion:              f.ClientVersion,
		NodeVersion:                f.NodeVersion,
		AuthLibraryVersion:         f.AuthLibraryVersion,
		ThoughtSignatureCacheMiB:   f.ThoughtSignatureCacheMiB,
		Routing:                    f.Routing,
		QuotaPollSecs:              f.QuotaPollSecs,
		Aliases:                    f.Aliases,
		Fallbacks:                  f.Fallbacks,
	}
}

func valueOr[T any](p *T, fallback T) T {
	if p != nil {
		return *p
	}
	return fallback
}

// parse decodes data over the defaults and also returns the line of every
// key set in the file, keyed by dotted path.
func parse(data []byte, name string) (Config, []Warning, map[string]int, error) {
	name = displayName(name)

	var warns []Warning
	strict := newFileConfig()
	err := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields().Decode(&strict)
	var missing *toml.StrictMissingError
	switch {
	case err == nil:
	case errors.As(err, &missing):
		for i := range missing.Errors {
			e := &missing.Errors[i]
			line, _ := e.Position()
			msg := "unknown key; ignored"
			if strings.Contains(e.Error(), "table") {
				msg = "unknown table; ignored"
			}
			warns = append(warns, Warning{Key: strings.Join(e.Key(), "."), Line: line, Message: msg})
		}
	default:
		return Config{}, nil, nil, decodeError(name, err)
	}

	fc := newFileConfig()
	if err := toml.NewDecoder(bytes.NewReader(data)).Decode(&fc); err != nil {
		return Config{}, nil, nil, decodeError(name, err)
	}
	lines := keyLines(data)
	for i := range warns {
		warns[i].Key = fullKey(lines, warns[i])
	}
	warns = antigravityWarning(warns)
	misplacedBasicKeys(warns)

	polluxKey, err := laxSecret(fc.Basic.PolluxKey)
	if err != nil {
		return Config{}, nil, nil, keyError(name, lines, "basic.pollux_key", err)
	}
	adminKey, err := laxSecret(fc.Basic.AdminKey)
	if err != nil {
		return Config{}, nil, nil, keyError(name, lines, "basic.admin_key", err)
	}

	b := fc.Basic
	c := Config{
		Basic: Basic{
			ListenAddr:          b.ListenAddr,
			ListenPort:          b.ListenPort,
			DatabaseURL:         b.DatabaseURL,
			LogLevel:            b.LogLevel,
			LogFormat:           b.LogFormat,
			PolluxKey:           polluxKey,
			AdminKey:            adminKey,
			InsecureCookie:      b.InsecureCookie,
			TrustedProxies:      b.TrustedProxies,
			MetricsPublic:       b.MetricsPublic,
			ShutdownTimeoutSecs: b.ShutdownTimeoutSecs,
		},
		Providers: Providers{
			Defaults:  fc.Providers.Defaults,
			GeminiCLI: fc.Providers.GeminiCLI.resolve(fc.Providers.Defaults),
			Codex:     fc.Providers.Codex.resolve(fc.Providers.Defaults),
		},
	}
	if w, ok := compatLogLevel(&c.Basic); ok {
		w.Line = lines[w.Key]
		warns = append(warns, w)
	}
	return c, warns, lines, nil
}

// misplacedBasicKeys rewords the warning of a top-level key that belongs in
// [basic]: a file that forgot the [basic] header would otherwise report
// only that basic.pollux_key is not set.
func misplacedBasicKeys(warns []Warning) {
	for i := range warns {
		if basicKeyName(warns[i].Key) {
			warns[i].Message = "unknown top-level key; ignored: it belongs under the [basic] header (is the header missing, or is the key above it?)"
		}
	}
}

// basicKeyName reports whether key is the name of a [basic] key.
func basicKeyName(key string) bool {
	t := reflect.TypeFor[fileBasic]()
	for i := range t.NumField() {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("toml"), ","); name == key {
			return true
		}
	}
	return false
}

func displayName(name string) string {
	if name == "" {
		return "config"
	}
	return name
}

// decodeError prefixes a go-toml error with name:line:column when it has a
// position, and rewords type mismatches in terms of the file rather than Go
// types. Only the short message is used: go-toml's long form quotes the
// document, which may hold a key.
func decodeError(name string, err error) error {
	var de *toml.DecodeError
	if !errors.As(err, &de) {
		return fmt.Errorf("%s: %w", name, err)
	}
	line, col := de.Position()
	msg := de.Error()
	if got, want, ok := typeMismatch(msg); ok && len(de.Key()) > 0 {
		msg = fmt.Sprintf("%s: got %s, want %s", strings.Join(de.Key(), "."), got, want)
	}
	return &positionError{msg: fmt.Sprintf("%s:%d:%d: %s", name, line, col, msg), err: err}
}

// positionError is a decode error located in the file; it unwraps to the
// go-toml error.
type positionError struct {
	msg string
	err error
}

func (e *positionError) Error() string { return e.msg }
func (e *positionError) Unwrap() error { return e.err }

// typeMismatch parses go-toml's "cannot decode TOML <kind> into ... <type>"
// message into what the file held and what the key wants.
func typeMismatch(msg string) (got, want string, ok bool) {
	rest, ok := strings.CutPrefix(strings.TrimPrefix(msg, "toml: "), "cannot decode TOML ")
	if !ok {
		return "", "", false
	}
	kind, target, ok := strings.Cut(rest, " into ")
	if !ok {
		return "", "", false
	}
	if i := strings.LastIndex(target, " of type "); i >= 0 {
		target = target[i+len(" of type "):]
	}
	switch strings.TrimLeft(target, "*") {
	case "int", "int64":
		want = "an integer"
	case "float64":
		want = "a number"
	case "string":
		want = "a string"
	case "bool":
		want = "true or false"
	case "[]string":
		want = "an array of strings"
	default:
		want = "a table"
	}
	return "a TOML " + kind, want, true
}

func keyError(name string, lines map[string]int, key string, err error) error {
	if line := lines[key]; line > 0 {
		return fmt.Errorf("%s:%d: %s: %w", name, line, key, err)
	}
	return fmt.Errorf("%s: %s: %w", name, key, err)
}

// laxSecret accepts a string or, like the original Pollux, a bare number.
func laxSecret(v any) (Secret, error) {
	switch v := v.(type) {
	case nil:
		return "", nil
	case string:
		return Secret(v), nil
	case int64:
		return Secret(strconv.FormatInt(v, 10)), nil
	case float64:
		return Secret(strconv.FormatFloat(v, 'f', -1, 64)), nil
	default:
		return "", errors.New("must be a string")
	}
}

// keyLines returns the line of every key and table header in a document
// that go-toml already accepted, keyed by dotted path. The first occurrence
// wins.
func keyLines(data []byte) map[string]int {
	lines := make(map[string]int)
	var p unstable.Parser
	p.Reset(data)
	var table []string
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			table = nil
			it := e.Key()
			line := 0
			for it.Next() {
				n := it.Node()
				if line == 0 {
					line = p.Shape(n.Raw).Start.Line
				}
				table = append(table, string(n.Data))
			}
			record(lines, table, line)
		case unstable.KeyValue:
			keyValueLines(&p, lines, table, e)
		}
	}
	return lines
}

func keyValueLines(p *unstable.Parser, lines map[string]int, prefix []string, kv *unstable.Node) {
	path := append([]string(nil), prefix...)
	it := kv.Key()
	line := 0
	for it.Next() {
		n := it.Node()
		if line == 0 {
			line = p.Shape(n.Raw).Start.Line
		}
		path = append(path, string(n.Data))
	}
	record(lines, path, line)
	if v := kv.Value(); v.Kind == unstable.InlineTable {
		children := v.Children()
		for children.Next() {
			if c := children.Node(); c.Kind == unstable.KeyValue {
				keyValueLines(p, lines, path, c)
			}
		}
	}
}

// fullKey returns the full path of an unknown key. go-toml names a key
// inside an inline table without the table's path; the key-line index knows
// the path of every key on that line.
func fullKey(lines map[string]int, w Warning) string {
	if lines[w.Key] == w.Line {
		return w.Key
	}
	found := ""
	for path, line := range lines {
		if line == w.Line && strings.HasSuffix(path, "."+w.Key) {
			if found != "" {
				return w.Key // ambiguous: keep what go-toml said
			}
			found = path
		}
	}
	if found == "" {
		return w.Key
	}
	return found
}

func record(lines map[string]int, path []string, line int) {
	key := strings.Join(path, ".")
	if _, ok := lines[key]; !ok && line > 0 {
		lines[key] = line
	}
}
