package config

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"strings"
	"unicode"
)

// FieldError is one validation problem. Validate fills Key and Message;
// Load adds where the value came from: File and Line when the key was set in
// the file, Env when an environment variable set it.
type FieldError struct {
	// Key is the dotted key path, with an index for list items, e.g.
	// "providers.codex.model_list[1]".
	Key string
	// Message says what is wrong, without quoting secret values.
	Message string
	// File and Line locate the key in the config file, when known.
	File string
	Line int
	// Env names the environment variable that set the value, when one did.
	Env string
}

func (e *FieldError) Error() string {
	switch {
	case e.Env != "":
		return fmt.Sprintf("%s (from %s): %s", e.Key, e.Env, e.Message)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Key, e.Message)
	default:
		return e.Key + ": " + e.Message
	}
}

// Limits enforced by Validate.
const (
	maxRetryMaxTimes       = 20
	maxQueueTimeoutSecs    = 600
	maxShutdownTimeoutSecs = 3600
	maxSignatureCacheMiB   = 4096
	// Reading quota more often than every 10 s costs upstream calls for
	// nothing (every answer refreshes it too); less often than daily
	// makes it useless.
	minQuotaPollSecs = 10
	maxQuotaPollSecs = 86400
)

// Validate reports every problem in c at once, joined with errors.Join; each
// is a *FieldError naming its key path. It has no side effects. A provider
// value inherited unchanged from [providers.defaults] is checked, and
// reported, once, under providers.defaults.
func (c Config) Validate() error {
	var v validator
	v.basic(c.Basic)
	d := c.Providers.Defaults
	v.inheritable("providers.defaults", d.Proxy, d.RetryMaxTimes, d.MaxConcurrentPerCredential, d.QueueTimeoutSecs)
	if d.TraceHeader != "" {
		if msg := checkTraceHeader(d.TraceHeader); msg != "" {
			v.fail("providers.defaults.trace_header", "%s", msg)
		}
	}
	v.provider("providers.geminicli", c.Providers.GeminiCLI, d)
	v.provider("providers.codex", c.Providers.Codex, d)
	gemini, codex := pool{"providers.geminicli", c.Providers.GeminiCLI}, pool{"providers.codex", c.Providers.Codex}
	v.aliases(gemini, codex)
	v.aliases(codex, gemini)
	v.fallbacks(gemini, codex)
	v.fallbacks(codex, gemini)
	return errors.Join(v.errs...)
}

type validator struct {
	errs []error
}

func (v *validator) fail(key, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: key, Message: fmt.Sprintf(format, args...)})
}

func (v *validator) basic(b Basic) {
	switch key := b.PolluxKey.Reveal(); {
	case strings.TrimSpace(key) == "":
		v.fail("basic.pollux_key", "must be set: every client presents this key")
	case key == examplePlaceholder:
		v.fail("basic.pollux_key", "%s", placeholderKeyMessage)
	}
	if b.AdminKey.Reveal() == examplePlaceholder {
		v.fail("basic.admin_key", "is the example placeholder; set a long random key or leave it empty")
	}
	for i, tp := range b.TrustedProxies {
		if _, ok := parsePrefix(tp); !ok {
			v.fail(fmt.Sprintf("basic.trusted_proxies[%d]", i), "must be an IP address or a CIDR prefix such as 10.0.0.0/8")
		}
	}
	if !validHost(b.ListenAddr) {
		v.fail("basic.listen_addr", "must be an IP address or a host name")
	}
	if b.ListenPort < 1 || b.ListenPort > 65535 {
		v.fail("basic.listen_port", "must be 1..65535")
	}
	switch b.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		v.fail("basic.loglevel", "must be one of debug, info, warn, error (any case), or a filter such as \"pollux=debug\"")
	}
	switch b.LogFormat {
	case "json", "console":
	default:
		v.fail("basic.log_format", "must be json or console")
	}
	if scheme, _, ok := strings.Cut(b.DatabaseURL, "://"); ok && scheme != "sqlite" {
		v.fail("basic.database_url", "must be sqlite://PATH or a file path; only SQLite is supported")
	} else if b.DatabasePath() == "" {
		v.fail("basic.database_url", "names no file; use sqlite://PATH")
	}
	if b.ShutdownTimeoutSecs < 1 || b.ShutdownTimeoutSecs > maxShutdownTimeoutSecs {
		v.fail("basic.shutdown_timeout_secs", "must be 1..%d", maxShutdownTimeoutSecs)
	}
}

// inheritable checks the keys a provider may inherit from
// [providers.defaults].
func (v *validator) inheritable(prefix, proxy string, retry, maxConcurrent, queueTimeout int) {
	if msg := checkProxy(proxy); msg != "" {
		v.fail(prefix+".proxy", "%s", msg)
	}
	if retry < 0 || retry > maxRetryMaxTimes {
		v.fail(prefix+".retry_max_times", "must be 0..%d", maxRetryMaxTimes)
	}
	if maxConcurrent < 0 {
		v.fail(prefix+".max_concurrent_per_credential", "must be 0 (no cap) or more")
	}
	if queueTimeout < 0 || queueTimeout > maxQueueTimeoutSecs {
		v.fail(prefix+".queue_timeout_secs", "must be 0..%d", maxQueueTimeoutSecs)
	}
}

func (v *validator) provider(prefix string, p Provider, d ProviderDefaults) {
	// A value equal to the default's is either inherited or the same
	// mistake, which was already reported under providers.defaults.
	var own validator
	own.inheritable(prefix, p.Proxy, p.RetryMaxTimes, p.MaxConcurrentPerCredential, p.QueueTimeoutSecs)
	inherited := map[string]bool{
		prefix + ".proxy":                         p.Proxy == d.Proxy,
		prefix + ".retry_max_times":               p.RetryMaxTimes == d.RetryMaxTimes,
		prefix + ".max_concurrent_per_credential": p.MaxConcurrentPerCredential == d.MaxConcurrentPerCredential,
		prefix + ".queue_timeout_secs":            p.QueueTimeoutSecs == d.QueueTimeoutSecs,
	}
	for _, err := range own.errs {
		var fe *FieldError
		if errors.As(err, &fe) && inherited[fe.Key] {
			continue
		}
		v.errs = append(v.errs, err)
	}

	v.models(prefix+".model_list", p.ModelList)
	for _, u := range []struct{ key, value string }{
		{prefix + ".custom_api_url", p.CustomAPIURL},
		{prefix + ".oauth_auth_url", p.OAuthAuthURL},
		{prefix + ".oauth_token_url", p.OAuthTokenURL},
	} {
		if !validHTTPURL(u.value) {
			v.fail(u.key, "must be an absolute http:// or https:// URL")
		}
	}
	if p.OAuthUserInfoURL != "" && !validHTTPURL(p.OAuthUserInfoURL) {
		v.fail(prefix+".oauth_userinfo_url", "must be an absolute http:// or https:// URL")
	}
	if !(p.OAuthTPS > 0) || math.IsInf(p.OAuthTPS, 0) {
		v.fail(prefix+".oauth_tps", "must be a number greater than 0")
	}
	if p.TraceHeader != "" && p.TraceHeader != d.TraceHeader {
		if msg := checkTraceHeader(p.TraceHeader); msg != "" {
			v.fail(prefix+".trace_header", "%s", msg)
		}
	}
	if p.ThoughtSignatureCacheMiB < 0 || p.ThoughtSignatureCacheMiB > maxSignatureCacheMiB {
		v.fail(prefix+".thought_signature_cache_mib", "must be 0 (off)..%d", maxSignatureCacheMiB)
	}
	if !validClientVersion(p.ClientVersion) {
		v.fail(prefix+".client_version", "must be a version such as \"1.2.3\" (digits, letters, dots and dashes)")
	}
	if p.NodeVersion != "" && !validClientVersion(p.NodeVersion) {
		v.fail(prefix+".node_version", "must be a version such as \"22.21.1\" (digits, letters, dots and dashes)")
	}
	if p.AuthLibraryVersion != "" && !validClientVersion(p.AuthLibraryVersion) {
		v.fail(prefix+".auth_library_version", "must be a version such as \"10.9.0\" (digits, letters, dots and dashes)")
	}
	if p.Routing != RoutingQuota && p.Routing != RoutingLRU {
		v.fail(prefix+".routing", "must be %q or %q", RoutingQuota, RoutingLRU)
	}
	if p.QuotaPollSecs != 0 && (p.QuotaPollSecs < minQuotaPollSecs || p.QuotaPollSecs > maxQuotaPollSecs) {
		v.fail(prefix+".quota_poll_secs", "must be 0 (off) or %d..%d", minQuotaPollSecs, maxQuotaPollSecs)
	}
}

// placeholderKeyMessage explains why the example key is refused and how to
// fix it in one line.
const placeholderKeyMessage = `is still the example placeholder "change-me", which is published in the README: ` +
	`a gateway listening on 0.0.0.0 with that key is an open door to the team's accounts. ` +
	`Fix: sed -i "s/^pollux_key = .*/pollux_key = \"$(openssl rand -hex 32)\"/" config.toml (or set POLLUX_KEY)`

// checkTraceHeader returns why name cannot be the trace header, or "".
func checkTraceHeader(name string) string {
	for _, r := range name {
		ok := r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return "must be a header name (letters, digits, - and _)"
		}
	}
	switch strings.ToLower(name) {
	case "authorization", "content-type", "content-length", "user-agent", "accept", "host",
		"chatgpt-account-id", "originator", "version", "session_id", "connection", "transfer-encoding",
		"x-goog-api-client", "accept-encoding", "accept-language", "sec-fetch-mode":
		return "names a header Pollux sets itself; choose another, e.g. x-pollux-trace"
	}
	return ""
}

// validClientVersion reports whether v can go into a User-Agent as is.
func validClientVersion(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		ok := r == '.' || r == '-' || r == '+' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}

func (v *validator) models(key string, ids []string) {
	if len(ids) == 0 {
		v.fail(key, "must list at least one model")
		return
	}
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		item := fmt.Sprintf("%s[%d]", key, i)
		switch {
		case strings.TrimSpace(id) == "":
			v.fail(item, "must not be empty")
		case strings.ContainsFunc(id, unicode.IsSpace):
			v.fail(item, "%q must not contain white space", id)
		case strings.HasPrefix(id, "models/"):
			v.fail(item, "%q: write the bare id, without the \"models/\" prefix", id)
		case seen[id]:
			v.fail(item, "%q is listed twice", id)
		}
		seen[id] = true
	}
}

// checkProxy returns why raw is not a usable proxy URL, or "" when it is
// (empty means direct). The message never quotes the URL: it may carry a
// password.
func checkProxy(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "is not a valid URL"
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return "scheme must be http, https, socks5 or socks5h"
	}
	if u.Hostname() == "" {
		return "must name a host, e.g. socks5://127.0.0.1:1080"
	}
	return ""
}

// validHTTPURL reports whether raw is an absolute http or https URL with a
// host.
func validHTTPURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil {
		return false
	}
	return (u.Scheme == "http" || u.Scheme == "https") && u.Hostname() != ""
}

// validHost reports whether s is an IP address or a plausible host name.
func validHost(s string) bool {
	if s == "" {
		return false
	}
	if net.ParseIP(s) != nil {
		return true
	}
	for _, r := range s {
		ok := r == '-' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z'
		if !ok {
			return false
		}
	}
	return true
}
