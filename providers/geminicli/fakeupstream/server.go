package fakeupstream

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Tier is one entry of loadCodeAssist's allowedTiers.
type Tier struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	IsDefault bool   `json:"isDefault,omitempty"`
}

// Ineligible is one entry of loadCodeAssist's ineligibleTiers.
type Ineligible struct {
	ReasonCode    string `json:"reasonCode"`
	ReasonMessage string `json:"reasonMessage"`
	TierID        string `json:"tierId,omitempty"`
	ValidationURL string `json:"validationUrl,omitempty"`
}

// Account is the upstream state behind one refresh token.
type Account struct {
	Email string
	Sub   string
	// Tier is the current tier id; empty means not onboarded yet.
	Tier string
	// Project is the cloudaicompanionProject loadCodeAssist reports.
	Project string
	// ProjectAsObject makes replies carry the project as {id,name}.
	ProjectAsObject bool
	// AllowedTiers is what loadCodeAssist offers a user without a tier;
	// nil means [{free-tier, default}] unless Ineligible is set.
	AllowedTiers []Tier
	// Ineligible, when set and Tier is empty, is reported as the only
	// ineligible tier.
	Ineligible *Ineligible
	// InvalidGrant makes every refresh with this token fail invalid_grant.
	InvalidGrant bool
	// ManagedProject is the project onboardUser assigns on the free tier.
	ManagedProject string
	// OnboardPolls is how many polls the onboardUser operation takes to be
	// done (0: done at once).
	OnboardPolls int
	// OnboardWithoutName makes the operation carry no name, so the client
	// must re-post onboardUser to poll.
	OnboardWithoutName bool
	// LoadError and OnboardError, when set, answer loadCodeAssist and
	// onboardUser.
	LoadError    *Response
	OnboardError *Response
}

// Response is a scripted HTTP answer. A generate answer with only Delay set
// delays the unscripted answer instead of replacing it.
type Response struct {
	Status int
	Body   string
	Header http.Header
	// Delay holds the answer back (headers included) for that long, or
	// until the request is cancelled: a slow first byte.
	Delay time.Duration
	// Reset drops the connection without any answer, as a connection reset
	// before the headers would; Status, Body and Header are ignored.
	Reset bool
}

// Event is one scripted stream event.
type Event struct {
	// Data is the whole data payload (the v1internal envelope or an error
	// object), written as one "data: ..." event.
	Data string
	// Gate, when set, must yield (or be closed) before the event is written.
	Gate <-chan struct{}
}

// Stream is a scripted streamGenerateContent answer (status 200).
type Stream struct {
	// Events are sent in order; nil means DefaultStream for the requested
	// model (so a cut or a delay can apply to the default answer).
	Events []Event
	// CutAfter > 0 aborts the connection after that many events.
	CutAfter int
	// Delay holds the headers back for that long, or until the request is
	// cancelled.
	Delay time.Duration
}

// Request is one recorded request.
type Request struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// Server is the fake. Its zero value is not usable; call New.
type Server struct {
	mux *http.ServeMux

	mu sync.Mutex
	// mu guards the following fields.
	n             int
	accounts      map[string]*Account // by refresh token
	codes         map[string]string   // authorization code → refresh token
	access        map[string]string   // access token → refresh token
	ops           map[string]*pendingOp
	requests      []Request
	refreshes     map[string]int
	generateCalls map[string]int
	accountCalls  map[string]int // generate-family calls by refresh token
	quota         int
	overQuota     Response
	tokenScript   []Response
	genScript     []Response
	streamScript  []Stream
	latency       time.Duration
	omitIDToken   bool
	expiresIn     int
	noRecord      bool
	// quotaBuckets answer retrieveUserQuota, by refresh token.
	quotaBuckets map[string][]QuotaBucket
	quotaErr     *Response
}

// QuotaBucket is one bucket of a retrieveUserQuota answer.
type QuotaBucket struct {
	ModelID           string
	RemainingFraction float64
	ResetTime         time.Time
}

// SetQuotaBuckets sets what retrieveUserQuota answers for the account with
// this refresh token (no buckets until set).
func (s *Server) SetQuotaBuckets(refreshToken string, buckets []QuotaBucket) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quotaBuckets == nil {
		s.quotaBuckets = map[string][]QuotaBucket{}
	}
	s.quotaBuckets[refreshToken] = buckets
}

// FailQuota makes every retrieveUserQuota call answer resp (nil restores
// normal answers).
func (s *Server) FailQuota(resp *Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quotaErr = resp
}

// retrieveUserQuota answers v1internal:retrieveUserQuota with the buckets
// set for the caller's account.
func (s *Server) retrieveUserQuota(w http.ResponseWriter, r *http.Request) {
	_, tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	var req struct {
		Project string `json:"project"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Project == "" {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "project is required")
		return
	}
	s.mu.Lock()
	failed := s.quotaErr
	buckets := s.quotaBuckets[s.access[tok]]
	s.mu.Unlock()
	if failed != nil {
		serveResponse(w, r, *failed)
		return
	}
	out := make([]map[string]any, 0, len(buckets))
	for _, b := range buckets {
		out = append(out, map[string]any{"modelId": b.ModelID, "tokenType": "REQUESTS",
			"remainingFraction": b.RemainingFraction, "resetTime": b.ResetTime.UTC().Format(time.RFC3339Nano)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"buckets": out})
}

type pendingOp struct {
	refresh   string
	remaining int
	tier      string
	project   string
}

// New returns a fake with no accounts.
func New() *Server {
	s := &Server{
		mux:           http.NewServeMux(),
		accounts:      map[string]*Account{},
		codes:         map[string]string{},
		access:        map[string]string{},
		ops:           map[string]*pendingOp{},
		refreshes:     map[string]int{},
		generateCalls: map[string]int{},
		accountCalls:  map[string]int{},
		expiresIn:     3599,
	}
	s.mux.HandleFunc("POST /token", s.token)
	s.mux.HandleFunc("GET /userinfo", s.userinfo)
	s.mux.HandleFunc("POST /v1internal:loadCodeAssist", s.loadCodeAssist)
	s.mux.HandleFunc("POST /v1internal:onboardUser", s.onboardUser)
	s.mux.HandleFunc("GET /v1internal/operations/{id}", s.getOperation)
	s.mux.HandleFunc("POST /v1internal:generateContent", s.generate)
	s.mux.HandleFunc("POST /v1internal:streamGenerateContent", s.stream)
	s.mux.HandleFunc("POST /v1internal:countTokens", s.countTokens)
	s.mux.HandleFunc("POST /v1internal:retrieveUserQuota", s.retrieveUserQuota)
	return s
}

// AddAccount registers the account behind refreshToken.
func (s *Server) AddAccount(refreshToken string, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[refreshToken] = &a
}

// Account returns a copy of the account behind refreshToken (onboarding
// updates Tier and Project).
func (s *Server) Account(refreshToken string) (Account, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[refreshToken]
	if !ok {
		return Account{}, false
	}
	return *a, true
}

// AddAuthCode makes code exchangeable (authorization_code grant) for the
// account behind refreshToken.
func (s *Server) AddAuthCode(code, refreshToken string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = refreshToken
}

// OmitIDToken makes token replies carry no id_token, so clients must ask
// userinfo who the account is.
func (s *Server) OmitIDToken(omit bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.omitIDToken = omit
}

// SetExpiresIn sets the expires_in of issued access tokens (default 3599).
func (s *Server) SetExpiresIn(secs int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expiresIn = secs
}

// ScriptToken queues answers for the next token endpoint calls.
func (s *Server) ScriptToken(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenScript = append(s.tokenScript, rs...)
}

// ScriptGenerate queues answers for the next generateContent,
// streamGenerateContent and countTokens calls (ahead of stream scripts).
func (s *Server) ScriptGenerate(rs ...Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.genScript = append(s.genScript, rs...)
}

// ScriptStream queues streams for the next streamGenerateContent calls.
func (s *Server) ScriptStream(st ...Stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.streamScript = append(s.streamScript, st...)
}

// SetRecord turns request recording on (the default) or off; benchmarks and
// long simulator runs turn it off so memory stays flat.
func (s *Server) SetRecord(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noRecord = !on
}

// SetLatency delays every answer by d (until the request is cancelled).
func (s *Server) SetLatency(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.latency = d
}

// ExpireAccessTokens forgets every issued access token, so the next call
// with one gets 401 until the client refreshes.
func (s *Server) ExpireAccessTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.access)
}

// Requests returns a copy of every request received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Method: r.Method, Path: r.Path, Query: r.Query, Header: r.Header.Clone(), Body: slices.Clone(r.Body)}
	}
	return out
}

// RequestsTo returns the recorded requests whose path is path.
func (s *Server) RequestsTo(path string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == path {
			out = append(out, r)
		}
	}
	return out
}

// Refreshes returns how many refresh_token grants used refreshToken.
func (s *Server) Refreshes(refreshToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes[refreshToken]
}

// GenerateCalls returns how many generate-family calls used accessToken.
func (s *Server) GenerateCalls(accessToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.generateCalls[accessToken]
}

// AccountCalls returns how many generate-family calls (generateContent and
// streamGenerateContent) the account behind refreshToken has made, whatever
// they were answered.
func (s *Server) AccountCalls(refreshToken string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accountCalls[refreshToken]
}

// SetAccountQuota makes every account answer over to each generate-family
// call after its first n (n <= 0 lifts the quota). Calls made before are
// counted too.
func (s *Server) SetAccountQuota(n int, over Response) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota, s.overQuota = n, over
}

// ServeHTTP records the request, applies latency and dispatches.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "read body", http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.mu.Lock()
	if !s.noRecord {
		s.requests = append(s.requests, Request{
			Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: body,
		})
	}
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	s.mux.ServeHTTP(w, r)
}

// --- OAuth -----------------------------------------------------------------

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeOAuthError(w, http.StatusBadRequest, "invalid_request", "unparseable form")
		return
	}
	s.mu.Lock()
	if len(s.tokenScript) > 0 {
		resp := s.tokenScript[0]
		s.tokenScript = s.tokenScript[1:]
		s.mu.Unlock()
		serveResponse(w, r, resp)
		return
	}
	defer s.mu.Unlock()
	if r.PostForm.Get("client_id") == "" {
		writeOAuthError(w, http.StatusUnauthorized, "invalid_client", "The OAuth client was not found.")
		return
	}
	var refresh string
	switch r.PostForm.Get("grant_type") {
	case "refresh_token":
		refresh = r.PostForm.Get("refresh_token")
		s.refreshes[refresh]++
		a, ok := s.accounts[refresh]
		if !ok || a.InvalidGrant {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Token has been expired or revoked.")
			return
		}
	case "authorization_code":
		code := r.PostForm.Get("code")
		var ok bool
		refresh, ok = s.codes[code]
		if !ok || r.PostForm.Get("code_verifier") == "" || r.PostForm.Get("redirect_uri") == "" {
			writeOAuthError(w, http.StatusBadRequest, "invalid_grant", "Malformed auth code.")
			return
		}
		delete(s.codes, code)
	default:
		writeOAuthError(w, http.StatusBadRequest, "unsupported_grant_type", "Invalid grant_type.")
		return
	}
	a := s.accounts[refresh]
	s.n++
	access := "ya29.fake-" + strconv.Itoa(s.n)
	s.access[access] = refresh
	reply := map[string]any{
		"access_token": access,
		"expires_in":   s.expiresIn,
		"token_type":   "Bearer",
		"scope":        "https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile openid",
	}
	if r.PostForm.Get("grant_type") == "authorization_code" {
		reply["refresh_token"] = refresh
	}
	if !s.omitIDToken {
		reply["id_token"] = idToken(a.Sub, a.Email, r.PostForm.Get("client_id"))
	}
	writeJSON(w, http.StatusOK, reply)
}

// idToken builds an unsigned-looking JWT with Google's claim set.
func idToken(sub, email, aud string) string {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","kid":"fake","typ":"JWT"}`))
	now := time.Now().Unix()
	payload, _ := json.Marshal(map[string]any{
		"iss": "https://accounts.google.com", "aud": aud, "azp": aud,
		"sub": sub, "email": email, "email_verified": true,
		"iat": now, "exp": now + 3600,
	})
	return header + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("fake-signature"))
}

func (s *Server) userinfo(w http.ResponseWriter, r *http.Request) {
	a, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	reply := map[string]any{"id": a.Sub, "email": a.Email, "verified_email": true}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, reply)
}

// authorize checks the Bearer token against issued tokens; on failure it
// has written a Google 401.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) (*Account, string, bool) {
	tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	s.mu.Lock()
	refresh, issued := s.access[tok]
	a := s.accounts[refresh]
	s.mu.Unlock()
	if !found || !issued || a == nil {
		writeGoogleError(w, http.StatusUnauthorized, "UNAUTHENTICATED",
			"Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return nil, "", false
	}
	return a, tok, true
}

// --- onboarding --------------------------------------------------------------

func (s *Server) loadCodeAssist(w http.ResponseWriter, r *http.Request) {
	a, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	var req struct {
		Project  string          `json:"cloudaicompanionProject"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || len(req.Metadata) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.LoadError != nil {
		writeResponse(w, *a.LoadError)
		return
	}
	reply := map[string]any{}
	switch {
	case a.Tier != "":
		reply["currentTier"] = Tier{ID: a.Tier, Name: tierName(a.Tier)}
		reply["allowedTiers"] = []Tier{{ID: a.Tier, Name: tierName(a.Tier), IsDefault: true}}
		if p := firstNonEmpty(a.Project, req.Project); p != "" {
			reply["cloudaicompanionProject"] = projectValue(p, a.ProjectAsObject)
		}
	case a.Ineligible != nil:
		reply["ineligibleTiers"] = []Ineligible{*a.Ineligible}
		if a.AllowedTiers != nil {
			reply["allowedTiers"] = a.AllowedTiers
		}
	default:
		allowed := a.AllowedTiers
		if allowed == nil {
			allowed = []Tier{{ID: "free-tier", Name: tierName("free-tier"), IsDefault: true}}
		}
		reply["allowedTiers"] = allowed
	}
	writeJSON(w, http.StatusOK, reply)
}

func (s *Server) onboardUser(w http.ResponseWriter, r *http.Request) {
	a, tok, ok := s.authorize(w, r)
	if !ok {
		return
	}
	var req struct {
		TierID   string          `json:"tierId"`
		Project  *string         `json:"cloudaicompanionProject"`
		Metadata json.RawMessage `json:"metadata"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.TierID == "" || len(req.Metadata) == 0 {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "Invalid JSON payload received.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if a.OnboardError != nil {
		writeResponse(w, *a.OnboardError)
		return
	}
	var project string
	switch {
	case req.TierID == "free-tier" && req.Project != nil:
		writeGoogleError(w, http.StatusBadRequest, "FAILED_PRECONDITION", "Precondition check failed.")
		return
	case req.TierID == "free-tier":
		project = firstNonEmpty(a.ManagedProject, "managed-project-0")
	case req.Project == nil || *req.Project == "":
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "A Google Cloud project is required for this tier.")
		return
	default:
		project = *req.Project
	}
	refresh := s.access[tok]
	// Re-posting continues the pending operation of this account.
	var op *pendingOp
	var name string
	for n, p := range s.ops {
		if p.refresh == refresh {
			op, name = p, n
		}
	}
	if op == nil {
		s.n++
		name = "operations/onboard-" + strconv.Itoa(s.n)
		op = &pendingOp{refresh: refresh, remaining: a.OnboardPolls, tier: req.TierID, project: project}
		s.ops[name] = op
	} else {
		op.remaining--
	}
	if a.OnboardWithoutName {
		name = ""
	}
	s.writeOperation(w, name, op, a)
}

func (s *Server) getOperation(w http.ResponseWriter, r *http.Request) {
	a, _, ok := s.authorize(w, r)
	if !ok {
		return
	}
	name := "operations/" + r.PathValue("id")
	s.mu.Lock()
	defer s.mu.Unlock()
	op, found := s.ops[name]
	if !found {
		writeGoogleError(w, http.StatusNotFound, "NOT_FOUND", "Operation not found.")
		return
	}
	op.remaining--
	s.writeOperation(w, name, op, a)
}

// writeOperation answers with the operation's state; when it is done it
// completes the account's onboarding. Callers hold s.mu.
func (s *Server) writeOperation(w http.ResponseWriter, name string, op *pendingOp, a *Account) {
	if op.remaining > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"name": name, "done": false})
		return
	}
	for n, p := range s.ops {
		if p == op {
			delete(s.ops, n)
		}
	}
	a.Tier, a.Project = op.tier, op.project
	writeJSON(w, http.StatusOK, map[string]any{
		"name": name,
		"done": true,
		"response": map[string]any{
			"@type":                   "type.googleapis.com/google.internal.cloud.code.v1internal.OnboardUserResponse",
			"cloudaicompanionProject": map[string]string{"id": op.project, "name": op.project},
		},
	})
}

// --- generation --------------------------------------------------------------

// envelope is the v1internal generate request.
type envelope struct {
	Model        string          `json:"model"`
	Project      string          `json:"project"`
	UserPromptID string          `json:"user_prompt_id"`
	Request      json.RawMessage `json:"request"`
}

// generateCall authorizes, counts and validates a generate-family call. It
// returns false when it has answered already (error or scripted reply).
func (s *Server) generateCall(w http.ResponseWriter, r *http.Request) (envelope, bool) {
	_, tok, ok := s.authorize(w, r)
	if !ok {
		return envelope{}, false
	}
	s.mu.Lock()
	s.generateCalls[tok]++
	refresh := s.access[tok]
	s.accountCalls[refresh]++
	over := s.quota > 0 && s.accountCalls[refresh] > s.quota
	overQuota := s.overQuota
	s.mu.Unlock()
	var env envelope
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &env); err != nil || env.Model == "" || env.Project == "" ||
		len(env.Request) == 0 || env.Request[0] != '{' {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"Invalid JSON payload received: the envelope needs model, project and request.")
		return envelope{}, false
	}
	if over {
		serveResponse(w, r, overQuota)
		return envelope{}, false
	}
	if s.scripted(w, r) {
		return envelope{}, false
	}
	return env, true
}

// scripted writes the next scripted generate answer, if any, and reports
// whether the request is done with (answered, or cancelled during a delay).
func (s *Server) scripted(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	if len(s.genScript) == 0 {
		s.mu.Unlock()
		return false
	}
	resp := s.genScript[0]
	s.genScript = s.genScript[1:]
	s.mu.Unlock()
	if resp.Delay > 0 && resp.Status == 0 && resp.Body == "" && resp.Header == nil && !resp.Reset {
		// Only a delay: the unscripted answer follows it (unless the
		// client gave up meanwhile, which ends the request).
		return !wait(r, resp.Delay)
	}
	serveResponse(w, r, resp)
	return true
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request) {
	env, ok := s.generateCall(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"response": map[string]any{
			"candidates": []any{map[string]any{
				"content":      map[string]any{"role": "model", "parts": []any{map[string]any{"text": "echo: " + env.Model}}},
				"finishReason": "STOP",
			}},
			"usageMetadata": map[string]any{"promptTokenCount": 4, "candidatesTokenCount": 3, "totalTokenCount": 7},
			"modelVersion":  env.Model,
			"responseId":    "fake-response",
		},
		"traceId": "fake-trace",
	})
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("alt") != "sse" {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "streamGenerateContent needs alt=sse here.")
		return
	}
	env, ok := s.generateCall(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	var st Stream
	if len(s.streamScript) > 0 {
		st = s.streamScript[0]
		s.streamScript = s.streamScript[1:]
	}
	if st.Events == nil {
		st.Events = DefaultStream(env.Model).Events
	}
	s.mu.Unlock()
	if !wait(r, st.Delay) {
		return
	}

	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	_ = rc.Flush()
	for i, ev := range st.Events {
		if st.CutAfter > 0 && i >= st.CutAfter {
			panic(http.ErrAbortHandler)
		}
		if ev.Gate != nil {
			select {
			case <-ev.Gate:
			case <-r.Context().Done():
				return
			}
		}
		if _, err := fmt.Fprintf(w, "data: %s\r\n\r\n", ev.Data); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if st.CutAfter > 0 && len(st.Events) >= st.CutAfter {
		panic(http.ErrAbortHandler)
	}
}

// DefaultStream is the unscripted stream for model: two text chunks, then
// an empty chunk with finishReason STOP and usageMetadata.
func DefaultStream(model string) Stream {
	chunk := func(text, finish string, usage bool) Event {
		cand := map[string]any{"content": map[string]any{"role": "model", "parts": []any{map[string]any{"text": text}}}}
		if finish != "" {
			cand["finishReason"] = finish
		}
		resp := map[string]any{"candidates": []any{cand}, "modelVersion": model, "responseId": "fake-stream"}
		if usage {
			resp["usageMetadata"] = map[string]any{"promptTokenCount": 4, "candidatesTokenCount": 2, "totalTokenCount": 6}
		}
		b, _ := json.Marshal(map[string]any{"response": resp, "traceId": "fake-trace"})
		return Event{Data: string(b)}
	}
	return Stream{Events: []Event{chunk("Hel", "", false), chunk("lo", "", false), chunk("", "STOP", true)}}
}

func (s *Server) countTokens(w http.ResponseWriter, r *http.Request) {
	if _, _, ok := s.authorize(w, r); !ok {
		return
	}
	var env struct {
		Request struct {
			Model    string            `json:"model"`
			Contents []json.RawMessage `json:"contents"`
		} `json:"request"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &env); err != nil || !strings.HasPrefix(env.Request.Model, "models/") {
		writeGoogleError(w, http.StatusBadRequest, "INVALID_ARGUMENT",
			"Invalid JSON payload received: request.model must be models/<id>.")
		return
	}
	if s.scripted(w, r) {
		return
	}
	total := 0
	for _, c := range env.Request.Contents {
		total += len(c)/4 + 1
	}
	writeJSON(w, http.StatusOK, map[string]any{"totalTokens": total})
}

// --- helpers -----------------------------------------------------------------

func tierName(id string) string {
	switch id {
	case "free-tier":
		return "Gemini Code Assist for individuals"
	case "standard-tier":
		return "Gemini Code Assist Standard"
	default:
		return id
	}
}

func projectValue(p string, asObject bool) any {
	if asObject {
		return map[string]string{"id": p, "name": p}
	}
	return p
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// wait sleeps for d unless the request is cancelled first; it reports
// whether the full delay passed.
func wait(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// serveResponse answers with a scripted Response, honouring its Delay and
// Reset. Callers must not hold s.mu.
func serveResponse(w http.ResponseWriter, r *http.Request, resp Response) {
	if !wait(r, resp.Delay) {
		return
	}
	if resp.Reset {
		// The server closes the connection without writing anything.
		panic(http.ErrAbortHandler)
	}
	writeResponse(w, resp)
}

func writeResponse(w http.ResponseWriter, r Response) {
	for k, vs := range r.Header {
		w.Header()[k] = slices.Clone(vs)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	status := r.Status
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = io.WriteString(w, r.Body)
}

func writeOAuthError(w http.ResponseWriter, status int, code, desc string) {
	writeJSON(w, status, map[string]string{"error": code, "error_description": desc})
}

func writeGoogleError(w http.ResponseWriter, status int, rpcStatus, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": rpcStatus}})
}
