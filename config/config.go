package config

import "time"

// Config is the whole configuration of one Pollux process. The TOML key of
// every field is part of the operator contract: files written for the original
// Pollux load unchanged.
type Config struct {
	// Basic holds the listener, storage, logging and client-key settings.
	Basic Basic `toml:"basic"`
	// Providers holds the upstream settings of each provider.
	Providers Providers `toml:"providers"`
}

// Basic is the [basic] table.
type Basic struct {
	// ListenAddr is the address the HTTP server binds. Default "0.0.0.0".
	ListenAddr string `toml:"listen_addr"`
	// ListenPort is the TCP port of the HTTP server. Default 8188.
	ListenPort int `toml:"listen_port"`
	// DatabaseURL names the SQLite file, as "sqlite://PATH" (a bare path is
	// accepted too). Relative paths are relative to the working directory.
	// Default "sqlite://data.db".
	DatabaseURL string `toml:"database_url"`
	// LogLevel is one of debug, info, warn, error. Default "info".
	LogLevel string `toml:"loglevel"`
	// LogFormat is "json" or "console". Default "json".
	LogFormat string `toml:"log_format"`
	// PolluxKey is the key every client presents (Bearer, x-goog-api-key or
	// ?key=). Required, non-empty.
	PolluxKey Secret `toml:"pollux_key"`
	// AdminKey, when set, is the only key the admin API accepts; when empty the
	// admin API accepts PolluxKey.
	AdminKey Secret `toml:"admin_key"`
	// InsecureCookie never marks the sign-in cookies Secure, whatever the
	// request's scheme; an override for set-ups where Pollux cannot tell
	// that the browser uses HTTPS. Default false: the cookies are Secure
	// exactly when the request came over HTTPS (directly, or per
	// X-Forwarded-Proto from a trusted proxy).
	InsecureCookie bool `toml:"insecure_cookie"`
	// TrustedProxies lists the reverse proxies (IP addresses or CIDR
	// prefixes) whose X-Forwarded-Proto header Pollux believes. Default
	// none.
	TrustedProxies []string `toml:"trusted_proxies"`
	// MetricsPublic serves /metrics without a key. Default false.
	MetricsPublic bool `toml:"metrics_public"`
	// ShutdownTimeoutSecs bounds the graceful drain of in-flight requests on
	// SIGINT/SIGTERM. Default 30.
	ShutdownTimeoutSecs int `toml:"shutdown_timeout_secs"`
	// EncryptSecrets stores the OAuth tokens in the database encrypted
	// (AES-256-GCM) with the key from POLLUX_SECRETS_KEY or SecretsKeyFile.
	// Turning it on encrypts the stored tokens at start; turning it off
	// with the key still given decrypts them. Default false.
	EncryptSecrets bool `toml:"encrypt_secrets"`
	// SecretsKeyFile names a file holding the secrets key: 32 random bytes,
	// raw or base64. POLLUX_SECRETS_KEY (base64) wins over it. Keep it
	// outside the database's folder and its backups. Default "".
	SecretsKeyFile string `toml:"secrets_key_file"`
}

// Providers is the [providers] table.
type Providers struct {
	// Defaults is inherited by every provider section; a key set in a
	// provider section wins.
	Defaults ProviderDefaults `toml:"defaults"`
	// GeminiCLI configures the Gemini CLI / Code Assist pool.
	GeminiCLI Provider `toml:"geminicli"`
	// Codex configures the Codex / ChatGPT pool.
	Codex Provider `toml:"codex"`
}

// ProviderDefaults is the [providers.defaults] table.
type ProviderDefaults struct {
	// Proxy is an egress proxy for upstream calls: http://, https:// or
	// socks5:// (with optional user:pass@). Empty means direct.
	Proxy string `toml:"proxy"`
	// RetryMaxTimes is how many further credentials a request may try after
	// the first one fails with a retryable error. Default 3.
	RetryMaxTimes int `toml:"retry_max_times"`
	// MaxConcurrentPerCredential caps the in-flight requests on one
	// credential; 0 means no cap. Default 0.
	MaxConcurrentPerCredential int `toml:"max_concurrent_per_credential"`
	// QueueTimeoutSecs is how long a request may wait for a credential to
	// become ready before it is answered 429 (all cooling) or 503 (none).
	// Default 10.
	QueueTimeoutSecs int `toml:"queue_timeout_secs"`
	// TraceHeader, when set, names a header added to every upstream call,
	// valued "<provider>:<account email or unknown>:<lease id>", as the
	// original Pollux did. Empty (the default) sends none.
	TraceHeader string `toml:"trace_header"`
}

// Provider is one [providers.<name>] table, after the defaults were applied:
// Proxy, RetryMaxTimes, MaxConcurrentPerCredential and QueueTimeoutSecs hold
// the provider's own value when its section sets the key and the default's
// value otherwise.
type Provider struct {
	// Proxy: see ProviderDefaults.Proxy.
	Proxy string `toml:"proxy"`
	// RetryMaxTimes: see ProviderDefaults.RetryMaxTimes.
	RetryMaxTimes int `toml:"retry_max_times"`
	// MaxConcurrentPerCredential: see ProviderDefaults.MaxConcurrentPerCredential.
	MaxConcurrentPerCredential int `toml:"max_concurrent_per_credential"`
	// QueueTimeoutSecs: see ProviderDefaults.QueueTimeoutSecs.
	QueueTimeoutSecs int `toml:"queue_timeout_secs"`
	// TraceHeader: see ProviderDefaults.TraceHeader.
	TraceHeader string `toml:"trace_header"`
	// ModelList is the models this provider serves; requests for any other
	// model are answered 404.
	ModelList []string `toml:"model_list"`
	// CustomAPIURL is the upstream API base URL.
	CustomAPIURL string `toml:"custom_api_url"`
	// OAuthAuthURL is the OAuth authorize endpoint.
	OAuthAuthURL string `toml:"oauth_auth_url"`
	// OAuthTokenURL is the OAuth token endpoint.
	OAuthTokenURL string `toml:"oauth_token_url"`
	// OAuthUserInfoURL is the endpoint that names the account behind a token
	// when the token response carries no id_token (geminicli only). Default
	// "https://www.googleapis.com/oauth2/v2/userinfo".
	OAuthUserInfoURL string `toml:"oauth_userinfo_url"`
	// OAuthTPS paces calls to the token endpoint (refresh and onboarding),
	// in calls per second. Default 5.
	OAuthTPS float64 `toml:"oauth_tps"`
	// ClientVersion is the version of the official client (Gemini CLI,
	// Codex CLI) Pollux presents upstream in its User-Agent and version
	// headers. Defaults track recent releases.
	ClientVersion string `toml:"client_version"`
	// NodeVersion is the Node.js version the Gemini CLI runs on, as its
	// Google libraries report it upstream (x-goog-api-client: gl-node/<v>).
	// Default a current Node 22 LTS release (geminicli only).
	NodeVersion string `toml:"node_version"`
	// AuthLibraryVersion is the version of google-auth-library the Gemini
	// CLI ships, which appends google-api-nodejs-client/<v> to its
	// User-Agent. Defaults track the Gemini CLI's releases (geminicli only).
	AuthLibraryVersion string `toml:"auth_library_version"`
	// ThoughtSignatureCacheMiB is the memory budget, in MiB, of the
	// geminicli pool's thought-signature cache, which repairs multi-turn
	// function calling for clients that drop Gemini's thoughtSignature.
	// 0 turns the repair off. Default 16 (geminicli only).
	ThoughtSignatureCacheMiB int `toml:"thought_signature_cache_mib"`
	// Routing picks among the credentials ready for a request: "quota"
	// spends first the upstream quota that resets soonest and keeps
	// credentials with almost nothing left for last, from the quota the
	// upstream reports; "lru" rotates least recently used first, blind to
	// quota. Default "quota".
	Routing string `toml:"routing"`
	// QuotaPollSecs is how often each credential's remaining quota is read
	// from the upstream (Code Assist retrieveUserQuota, Codex wham/usage),
	// besides after every limit answer; 0 turns reading off. Default 300.
	QuotaPollSecs int `toml:"quota_poll_secs"`
	// Aliases are other names for models of this pool, the
	// [providers.<name>.aliases] table: "fast" = "gemini-2.5-flash". A
	// request may name an alias wherever it names a model (the Gemini path,
	// a body's "model"), on every surface of the pool, and is served by
	// the model it points at. An alias must point at a model of
	// model_list, must not be a model name itself, and must not be a name
	// the other pool serves. Default none.
	Aliases map[string]string `toml:"aliases"`
	// Fallbacks are the chains of models that serve a model's requests
	// while every credential for it is cooling beyond the request's
	// patience, the [providers.<name>.fallbacks] table:
	// "gemini-2.5-pro" = ["gemini-2.5-flash"]. The request goes to the
	// first listed model, then the next, before anything reached the
	// client. Keys and chain members are models of model_list (an alias
	// follows its model's chain); a chain is the whole list, the listed
	// models' own chains are not followed, so no chain loops. Default
	// none.
	Fallbacks map[string][]string `toml:"fallbacks"`
}

// Routing policies.
const (
	RoutingQuota = "quota"
	RoutingLRU   = "lru"
)

// QueueTimeout returns QueueTimeoutSecs as a duration.
func (p Provider) QueueTimeout() time.Duration {
	return time.Duration(p.QueueTimeoutSecs) * time.Second
}
