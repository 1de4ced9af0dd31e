package quotasim

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Provider names, as in Pollux.
const (
	Gemini = "geminicli"
	Codex  = "codex"
)

// allModels is the key of an account-wide quota (Codex).
const allModels = "*"

// Config describes the quotas of one provider's accounts.
type Config struct {
	// Window is the quota window; Quota the requests per window (per model
	// on Gemini, per account on Codex).
	Window time.Duration
	Quota  int
	// Models are the models the Gemini quota RPC reports.
	Models []string
}

// Stats counts generate calls (Gemini generateContent and
// streamGenerateContent, Codex responses) and the 429s among them.
type Stats struct {
	Calls, Limited int64
}

// Sim holds the quota state of every account of one provider. It is safe
// for concurrent use.
type Sim struct {
	provider string
	cfg      Config
	epoch    time.Time
	now      func() time.Time

	mu       sync.Mutex
	accounts map[string]*account // by Gemini project or Codex account id
	order    []string
	stats    Stats
}

type account struct {
	offset time.Duration
	// used[model] counts the requests of window win[model].
	used map[string]int
	win  map[string]int64
	// hist[model][window] counts every window's requests.
	hist map[string]map[int64]int
}

// New returns a simulator for provider's accounts (Gemini projects or Codex
// account ids), their windows offset evenly over one window from epoch.
func New(provider string, cfg Config, accounts []string, epoch time.Time, now func() time.Time) *Sim {
	s := &Sim{provider: provider, cfg: cfg, epoch: epoch, now: now, accounts: make(map[string]*account, len(accounts))}
	for i, id := range accounts {
		off := time.Duration(int64(cfg.Window) * int64(i) / int64(max(len(accounts), 1)))
		s.accounts[id] = &account{offset: off, used: map[string]int{}, win: map[string]int64{}, hist: map[string]map[int64]int{}}
		s.order = append(s.order, id)
	}
	return s
}

// key is the quota a model's request counts against.
func (s *Sim) key(model string) string {
	if s.provider == Codex {
		return allModels
	}
	return model
}

// window returns the index of a's window at t and when it ends.
func (s *Sim) window(a *account, t time.Time) (int64, time.Time) {
	since := t.Sub(s.epoch) - a.offset
	idx := int64(math.Floor(float64(since) / float64(s.cfg.Window)))
	end := s.epoch.Add(a.offset + time.Duration(idx+1)*s.cfg.Window)
	return idx, end
}

// usedAt returns a's requests in its window at t for key, and that window's
// end.
func (s *Sim) usedAt(a *account, key string, t time.Time) (int, time.Time) {
	idx, end := s.window(a, t)
	if a.win[key] != idx {
		return 0, end
	}
	return a.used[key], end
}

// take counts one request of model on the account at t. It reports whether
// the quota allowed it, the account's usage after it and the window's end.
func (s *Sim) take(id, model string, t time.Time) (ok bool, used int, reset time.Time, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[id]
	if a == nil {
		return true, 0, time.Time{}, false
	}
	key := s.key(model)
	idx, end := s.window(a, t)
	if a.win[key] != idx {
		a.win[key], a.used[key] = idx, 0
	}
	s.stats.Calls++
	if a.used[key] >= s.cfg.Quota {
		s.stats.Limited++
		return false, a.used[key], end, true
	}
	a.used[key]++
	if a.hist[key] == nil {
		a.hist[key] = map[int64]int{}
	}
	a.hist[key][idx]++
	return true, a.used[key], end, true
}

// Unused counts the quota left unused in the windows that lie wholly
// between from and to, over every account and quota (a model's on Gemini,
// the account's on Codex).
func (s *Sim) Unused(from, to time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := s.cfg.Models
	if s.provider == Codex {
		keys = []string{allModels}
	}
	n := 0
	for _, a := range s.accounts {
		first, _ := s.window(a, from)
		for idx := first; ; idx++ {
			start := s.epoch.Add(a.offset + time.Duration(idx)*s.cfg.Window)
			end := start.Add(s.cfg.Window)
			if end.After(to) {
				break
			}
			if start.Before(from) {
				continue
			}
			for _, k := range keys {
				n += s.cfg.Quota - a.hist[k][idx]
			}
		}
	}
	return n
}

// Available reports whether some account had quota left for model at t.
func (s *Sim) Available(model string, t time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.key(model)
	for _, a := range s.accounts {
		if used, _ := s.usedAt(a, key, t); used < s.cfg.Quota {
			return true
		}
	}
	return false
}

// NextAvailable returns the earliest time at or after t when some account
// has quota for model.
func (s *Sim) NextAvailable(model string, t time.Time) time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.key(model)
	var next time.Time
	for _, a := range s.accounts {
		used, end := s.usedAt(a, key, t)
		at := end
		if used < s.cfg.Quota {
			at = t
		}
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	return next
}

// Stats returns the counts so far.
func (s *Sim) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats
}

// Capacity is the pool's requests per second for one model (Gemini) or for
// all models together (Codex).
func (s *Sim) Capacity() float64 {
	return float64(len(s.accounts)*s.cfg.Quota) / s.cfg.Window.Seconds()
}

// Offsets returns every account's window offset, in registration order.
func (s *Sim) Offsets() []time.Duration {
	out := make([]time.Duration, len(s.order))
	for i, id := range s.order {
		out[i] = s.accounts[id].offset
	}
	return out
}

// ceilSecs is d in whole seconds, rounded up (a reset is never told early).
func ceilSecs(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// Handler wraps the provider's fake: generate calls go through the quota,
// the quota endpoints are answered here.
func (s *Sim) Handler(next http.Handler) http.Handler {
	if s.provider == Codex {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveCodex(w, r, next) })
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { s.serveGemini(w, r, next) })
}

func (s *Sim) serveGemini(w http.ResponseWriter, r *http.Request, next http.Handler) {
	switch r.URL.Path {
	case "/v1internal:generateContent", "/v1internal:streamGenerateContent":
	case "/v1internal:retrieveUserQuota":
		s.geminiQuota(w, r)
		return
	default:
		next.ServeHTTP(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	var env struct {
		Model   string `json:"model"`
		Project string `json:"project"`
	}
	_ = json.Unmarshal(body, &env)
	now := s.now()
	ok, _, reset, known := s.take(env.Project, env.Model, now)
	if ok || !known {
		next.ServeHTTP(w, r)
		return
	}
	delay := reset.Sub(now)
	secs := fmt.Sprintf("%.3fs", delay.Seconds())
	writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{
		"code": 429, "status": "RESOURCE_EXHAUSTED",
		"message": "You have exhausted your capacity on this model. Your quota will reset after " + secs + ".",
		"details": []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXHAUSTED",
				"domain": "cloudcode-pa.googleapis.com", "metadata": map[string]string{
					"quotaResetDelay": secs, "quotaResetTimeStamp": reset.UTC().Format(time.RFC3339Nano), "model": env.Model}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": secs},
		},
	}})
}

func (s *Sim) geminiQuota(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Project string `json:"project"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	now := s.now()
	s.mu.Lock()
	a := s.accounts[req.Project]
	buckets := make([]map[string]any, 0, len(s.cfg.Models))
	if a != nil {
		for _, m := range s.cfg.Models {
			used, end := s.usedAt(a, m, now)
			buckets = append(buckets, map[string]any{"modelId": m, "tokenType": "REQUESTS",
				"remainingFraction": float64(s.cfg.Quota-used) / float64(s.cfg.Quota),
				"resetTime":         end.UTC().Format(time.RFC3339Nano)})
		}
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"buckets": buckets})
}

func (s *Sim) serveCodex(w http.ResponseWriter, r *http.Request, next http.Handler) {
	id := r.Header.Get("chatgpt-account-id")
	switch r.URL.Path {
	case "/backend-api/codex/responses":
	case "/backend-api/wham/usage":
		s.codexUsage(w, id)
		return
	default:
		next.ServeHTTP(w, r)
		return
	}
	now := s.now()
	ok, used, reset, known := s.take(id, "", now)
	if !known {
		next.ServeHTTP(w, r)
		return
	}
	pct := 100 * float64(used) / float64(s.cfg.Quota)
	if !ok {
		s.codexHeaders(w.Header(), 100, reset, now)
		in := ceilSecs(reset.Sub(now))
		writeJSON(w, http.StatusTooManyRequests, map[string]any{"error": map[string]any{
			"type": "usage_limit_reached", "message": "The usage limit has been reached", "plan_type": "pro",
			"resets_at": now.Unix() + in, "resets_in_seconds": in}})
		return
	}
	next.ServeHTTP(&codexHeaderWriter{ResponseWriter: w, set: func(h http.Header) { s.codexHeaders(h, pct, reset, now) }}, r)
}

func (s *Sim) codexHeaders(h http.Header, pct float64, reset, now time.Time) {
	h.Set("x-codex-primary-used-percent", strconv.FormatFloat(pct, 'f', -1, 64))
	h.Set("x-codex-primary-window-minutes", strconv.Itoa(max(1, int(s.cfg.Window/time.Minute))))
	h.Set("x-codex-primary-reset-after-seconds", strconv.FormatInt(ceilSecs(reset.Sub(now)), 10))
	h.Del("x-codex-primary-reset-at")
	h.Del("x-codex-secondary-used-percent")
	h.Del("x-codex-secondary-window-minutes")
	h.Del("x-codex-secondary-reset-after-seconds")
}

func (s *Sim) codexUsage(w http.ResponseWriter, id string) {
	now := s.now()
	s.mu.Lock()
	a := s.accounts[id]
	var used int
	var end time.Time
	if a != nil {
		used, end = s.usedAt(a, allModels, now)
	}
	s.mu.Unlock()
	if a == nil {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"detail": "unknown account"})
		return
	}
	pct := 100 * float64(used) / float64(s.cfg.Quota)
	writeJSON(w, http.StatusOK, map[string]any{"plan_type": "pro", "rate_limit": map[string]any{
		"allowed": used < s.cfg.Quota, "limit_reached": used >= s.cfg.Quota,
		"primary_window": map[string]any{"used_percent": pct, "limit_window_seconds": int64(s.cfg.Window / time.Second),
			"reset_after_seconds": ceilSecs(end.Sub(now))},
	}})
}

// codexHeaderWriter puts the truthful usage headers over the fake's fixed
// ones just before the answer's header is written.
type codexHeaderWriter struct {
	http.ResponseWriter
	set  func(http.Header)
	done bool
}

func (c *codexHeaderWriter) WriteHeader(code int) {
	if !c.done {
		c.done = true
		c.set(c.Header())
	}
	c.ResponseWriter.WriteHeader(code)
}

func (c *codexHeaderWriter) Write(b []byte) (int, error) {
	if !c.done {
		c.WriteHeader(http.StatusOK)
	}
	return c.ResponseWriter.Write(b)
}

// Flush lets streams through at once.
func (c *codexHeaderWriter) Flush() {
	if !c.done {
		c.WriteHeader(http.StatusOK)
	}
	if f, ok := c.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (c *codexHeaderWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// WithEpoch moves the start of every account's windows to epoch (the start
// of the load) and forgets all use; it returns s.
func (s *Sim) WithEpoch(epoch time.Time) *Sim {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.epoch = epoch
	for _, a := range s.accounts {
		a.used, a.win = map[string]int{}, map[string]int64{}
	}
	s.stats = Stats{}
	return s
}

// AvailableAccounts lists the accounts with quota left for model at t, with
// how much.
func (s *Sim) AvailableAccounts(model string, t time.Time) map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := s.key(model)
	out := map[string]int{}
	for id, a := range s.accounts {
		if used, _ := s.usedAt(a, key, t); used < s.cfg.Quota {
			out[id] = s.cfg.Quota - used
		}
	}
	return out
}

// LastReset returns when account id's current window for model began (its
// quota's last true reset) at t, and false for an unknown account.
func (s *Sim) LastReset(id, model string, t time.Time) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a := s.accounts[id]
	if a == nil {
		return time.Time{}, false
	}
	_, end := s.window(a, t)
	return end.Add(-s.cfg.Window), true
}
