package fakeupstream

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
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

func writeGoogleError(w http.ResponseWriter, status int, rpcStatus, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{"code": status, "message": msg, "status": rpcStatus}})
}
