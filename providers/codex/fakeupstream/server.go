package fakeupstream

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// ClientID is the public client the token endpoint accepts (the Codex CLI's).
const ClientID = "app_EMoamEEZ73f0CkXaXp7hrann"

// DefaultText is the assistant text of the default stream.
const DefaultText = "Hello, world"

// Endpoint names one scripted route.
type Endpoint string

// The routes the fake serves.
const (
	Authorize Endpoint = "/oauth/authorize"
	Token     Endpoint = "/oauth/token"
	Responses Endpoint = "/backend-api/codex/responses"
	Compact   Endpoint = "/backend-api/codex/responses/compact"
	Usage     Endpoint = "/backend-api/wham/usage"
)

// Account is one ChatGPT account the fake knows.
type Account struct {
	// ID is the chatgpt_account_id; when empty the id_token carries no
	// chatgpt_account_id at all.
	ID       string
	Sub      string
	Email    string
	PlanType string
}

// Reply is one scripted answer. With Stream set the answer is SSE and Body
// is ignored.
type Reply struct {
	// Status defaults to 200.
	Status int
	// Header is added to the answer (after the fake's own headers).
	Header http.Header
	Body   string
	Stream *Stream
	// Delay holds the answer back (headers included) for that long, or
	// until the request is cancelled: a slow first byte.
	Delay time.Duration
	// Reset drops the connection without any answer, as a connection reset
	// before the headers would; everything else is ignored.
	Reset bool
}

// Stream scripts an SSE answer.
type Stream struct {
	// Events are sent in order; nil means the default answer for the
	// requested model.
	Events []Event
	// CutAfter > 0 ends the body cleanly after that many events, so the
	// stream lacks its terminal event.
	CutAfter int
	// Overloaded sends response.created, then at once response.failed with
	// server_is_overloaded.
	Overloaded bool
}

// Event is one scripted SSE event.
type Event struct {
	Name string
	Data string
	// Gate, when set, holds the event back until it receives or is closed
	// (or the client goes away).
	Gate <-chan struct{}
}

// Request is one recorded request.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

type pendingCode struct {
	account     string
	challenge   string
	redirectURI string
}

// Server is the fake. Create it with New; it is safe for concurrent use.
type Server struct {
	mux *http.ServeMux

	mu sync.Mutex
	// mu guards the following fields.
	accounts  map[string]Account // by account id
	live      map[string]string  // live refresh token → account id
	dead      map[string]string  // rotated-out refresh token → account id
	access    map[string]string  // valid access token → account id
	codes     map[string]pendingCode
	login     *Account
	queues    map[Endpoint][]Reply
	requests  []Request
	refreshes map[string]int
	calls     map[string]int // backend calls by account id
	quota     int
	overQuota Reply
	seq       int
	noRecord  bool
	// device sign-ins (device.go)
	deviceScript DeviceScript
	devices      []*deviceLogin
}

// New returns a fake with no accounts and nothing scripted.
func New() *Server {
	s := &Server{
		mux:       http.NewServeMux(),
		accounts:  make(map[string]Account),
		live:      make(map[string]string),
		dead:      make(map[string]string),
		access:    make(map[string]string),
		codes:     make(map[string]pendingCode),
		queues:    make(map[Endpoint][]Reply),
		refreshes: make(map[string]int),
		calls:     make(map[string]int),
	}
	s.mux.HandleFunc("GET "+string(Authorize), s.handleAuthorize)
	s.mux.HandleFunc("POST "+string(Token), s.handleToken)
	s.mux.HandleFunc("POST "+string(Responses), s.handleResponses)
	s.mux.HandleFunc("POST "+string(Compact), s.handleCompact)
	s.mux.HandleFunc("GET "+string(Usage), s.handleUsage)
	s.mux.HandleFunc("POST "+string(DeviceUserCode), s.handleDeviceUserCode)
	s.mux.HandleFunc("POST "+string(DeviceToken), s.handleDeviceToken)
	return s
}

// SetRecord turns request recording on (the default) or off; benchmarks and
// long simulator runs turn it off so memory stays flat.
func (s *Server) SetRecord(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.noRecord = !on
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// AddAccount makes refreshToken a live refresh token of a.
func (s *Server) AddAccount(refreshToken string, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[a.ID] = a
	s.live[refreshToken] = a.ID
}

// AddCode makes code an authorization code for a (no PKCE check).
func (s *Server) AddCode(code string, a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[a.ID] = a
	s.codes[code] = pendingCode{account: a.ID}
}

// SetLoginAccount chooses the account GET /oauth/authorize signs in.
func (s *Server) SetLoginAccount(a Account) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accounts[a.ID] = a
	s.login = &a
}

// Push queues scripted replies for an endpoint; each request to it takes
// the next one, and the default behaviour resumes when the queue is empty.
// Backend endpoints check the access token first; the token endpoint serves
// a queued reply before looking at the grant.
func (s *Server) Push(ep Endpoint, replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[ep] = append(s.queues[ep], replies...)
}

// InvalidateAccess kills every access token issued for the account, as a
// revoked or expired session would.
func (s *Server) InvalidateAccess(accountID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, id := range s.access {
		if id == accountID {
			delete(s.access, tok)
		}
	}
}

// RefreshToken returns the account's live refresh token, or "".
func (s *Server) RefreshToken(accountID string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	for tok, id := range s.live {
		if id == accountID {
			return tok
		}
	}
	return ""
}

// Requests returns a copy of every request recorded so far, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.requests))
	for i, r := range s.requests {
		out[i] = Request{Method: r.Method, Path: r.Path, Header: r.Header.Clone(), Body: append([]byte(nil), r.Body...)}
	}
	return out
}

// RequestsTo returns the recorded requests to one endpoint.
func (s *Server) RequestsTo(ep Endpoint) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Path == string(ep) {
			out = append(out, r)
		}
	}
	return out
}

// Refreshes returns how many successful refreshes the account has had.
func (s *Server) Refreshes(accountID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshes[accountID]
}

// Calls returns how many authorized calls to the responses and compact
// endpoints the account has made, whatever they were answered.
func (s *Server) Calls(accountID string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[accountID]
}

// SetAccountQuota makes every account answer over to each call of the
// responses endpoint after its first n (n <= 0 lifts the quota). Calls made
// before are counted too.
func (s *Server) SetAccountQuota(n int, over Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quota, s.overQuota = n, over
}

// count notes an authorized backend call of the account and reports
// whether the account is over its quota for ep (the reply to send then).
func (s *Server) count(accountID string, ep Endpoint) (Reply, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[accountID]++
	if ep != Responses || s.quota <= 0 || s.calls[accountID] <= s.quota {
		return Reply{}, false
	}
	return s.overQuota, true
}

// unpop puts a scripted reply back at the head of its queue, for a request
// that was answered otherwise.
func (s *Server) unpop(ep Endpoint, r *Reply) {
	if r == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[ep] = append([]Reply{*r}, s.queues[ep]...)
}

// record reads the body, stores the request and pops a scripted reply.
func (s *Server) record(r *http.Request, ep Endpoint) ([]byte, *Reply) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.noRecord {
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	}
	q := s.queues[ep]
	if len(q) == 0 {
		return body, nil
	}
	s.queues[ep] = q[1:]
	return body, &q[0]
}

// authorized checks Authorization and chatgpt-account-id.
func (s *Server) authorized(r *http.Request) (Account, bool) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return Account{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok := s.access[tok]
	if !ok || r.Header.Get("chatgpt-account-id") != id {
		return Account{}, false
	}
	return s.accounts[id], true
}

func (s *Server) nextID(prefix string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("%s_fake%04d", prefix, s.seq)
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// ---- auth.openai.com ----

func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	s.record(r, Authorize)
	q := r.URL.Query()
	if q.Get("client_id") != ClientID || q.Get("response_type") != "code" ||
		q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("redirect_uri") == "" {
		http.Error(w, "bad authorize request", http.StatusBadRequest)
		return
	}
	redirect, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	login := s.login
	code := "code_" + rand.Text()
	if login != nil {
		s.codes[code] = pendingCode{account: login.ID, challenge: q.Get("code_challenge"), redirectURI: q.Get("redirect_uri")}
	}
	s.mu.Unlock()
	if login == nil {
		http.Error(w, "no login account scripted", http.StatusBadRequest)
		return
	}
	v := redirect.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	redirect.RawQuery = v.Encode()
	http.Redirect(w, r, redirect.String(), http.StatusFound)
}

func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	body, reply := s.record(r, Token)
	if reply != nil {
		s.serveReply(w, r, reply, "")
		return
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_request","error_description":"body is not a form"}`)
		return
	}
	if form.Get("client_id") != ClientID {
		writeJSON(w, http.StatusUnauthorized, `{"error":"invalid_client","error_description":"unknown client"}`)
		return
	}
	switch form.Get("grant_type") {
	case "authorization_code":
		s.grantCode(w, form)
	case "refresh_token":
		s.grantRefresh(w, form)
	default:
		writeJSON(w, http.StatusBadRequest, `{"error":"unsupported_grant_type"}`)
	}
}

func (s *Server) grantCode(w http.ResponseWriter, form url.Values) {
	s.mu.Lock()
	pc, ok := s.codes[form.Get("code")]
	delete(s.codes, form.Get("code"))
	s.mu.Unlock()
	switch {
	case !ok:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"unknown or used code"}`)
		return
	case pc.challenge != "" && s256(form.Get("code_verifier")) != pc.challenge:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"PKCE verification failed"}`)
		return
	case pc.redirectURI != "" && form.Get("redirect_uri") != pc.redirectURI:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"redirect_uri mismatch"}`)
		return
	}
	s.issue(w, pc.account)
}

func (s *Server) grantRefresh(w http.ResponseWriter, form url.Values) {
	rt := form.Get("refresh_token")
	s.mu.Lock()
	_, reused := s.dead[rt]
	id, live := s.live[rt]
	if live {
		delete(s.live, rt)
		s.dead[rt] = id
		s.refreshes[id]++
	}
	s.mu.Unlock()
	switch {
	case reused:
		writeJSON(w, http.StatusUnauthorized, `{"error":{"message":"Your refresh token has already been used to generate a new access token. Please try signing in again.","type":"invalid_request_error","param":null,"code":"refresh_token_reused"}}`)
	case !live:
		writeJSON(w, http.StatusBadRequest, `{"error":"invalid_grant","error_description":"unknown refresh token"}`)
	default:
		s.issue(w, id)
	}
}

// issue answers a token request with fresh tokens for the account.
func (s *Server) issue(w http.ResponseWriter, accountID string) {
	access := "at_" + rand.Text()
	refresh := "rt_" + rand.Text()
	s.mu.Lock()
	a := s.accounts[accountID]
	s.access[access] = accountID
	s.live[refresh] = accountID
	s.mu.Unlock()
	body, _ := json.Marshal(map[string]any{
		"access_token":  access,
		"refresh_token": refresh,
		"id_token":      idToken(a),
		"token_type":    "Bearer",
		"expires_in":    3600,
		"scope":         "openid profile email offline_access",
	})
	writeJSON(w, http.StatusOK, string(body))
}

// idToken builds a JWT whose signature is a placeholder: clients that take
// the token straight from the token endpoint do not check it.
func idToken(a Account) string {
	auth := map[string]any{"chatgpt_plan_type": a.PlanType, "chatgpt_user_id": "user-" + a.Sub}
	if a.ID != "" {
		auth["chatgpt_account_id"] = a.ID
	}
	payload, _ := json.Marshal(map[string]any{
		"iss":                         "https://auth.openai.com",
		"aud":                         []string{ClientID},
		"sub":                         a.Sub,
		"email":                       a.Email,
		"https://api.openai.com/auth": auth,
	})
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc.EncodeToString(payload) + "." + enc.EncodeToString([]byte("fake-signature"))
}

func s256(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// ---- chatgpt.com backend ----

const unauthorizedBody = `{"error":{"message":"Provided authentication token is expired or invalid.","type":"invalid_request_error","code":"token_invalidated","param":null}}`

// rateLimitHeaders are the usage-window headers of every backend answer.
func rateLimitHeaders(h http.Header) {
	h.Set("x-codex-primary-used-percent", "12.5")
	h.Set("x-codex-primary-window-minutes", "300")
	h.Set("x-codex-primary-reset-after-seconds", "3600")
	h.Set("x-codex-secondary-used-percent", "3")
	h.Set("x-codex-secondary-window-minutes", "10080")
	h.Set("x-codex-secondary-reset-after-seconds", "86400")
}

func (s *Server) handleResponses(w http.ResponseWriter, r *http.Request) {
	body, reply := s.record(r, Responses)
	a, ok := s.authorized(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, unauthorizedBody)
		return
	}
	over, limited := s.count(a.ID, Responses)
	var req struct {
		Model string `json:"model"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		writeJSON(w, http.StatusBadRequest, `{"detail":"Invalid request body"}`)
		return
	}
	if limited {
		s.unpop(Responses, reply)
		reply = &over
	}
	if reply == nil {
		reply = &Reply{Stream: &Stream{}}
	}
	s.serveReply(w, r, reply, req.Model)
}

func (s *Server) handleCompact(w http.ResponseWriter, r *http.Request) {
	_, reply := s.record(r, Compact)
	a, ok := s.authorized(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, unauthorizedBody)
		return
	}
	s.count(a.ID, Compact)
	if reply == nil {
		reply = &Reply{Body: `{"output":[{"type":"compaction","encrypted_content":"fake-compacted-history"}]}`}
	}
	s.serveReply(w, r, reply, "")
}

func (s *Server) handleUsage(w http.ResponseWriter, r *http.Request) {
	_, reply := s.record(r, Usage)
	a, ok := s.authorized(r)
	if !ok {
		writeJSON(w, http.StatusUnauthorized, unauthorizedBody)
		return
	}
	if reply == nil {
		reply = &Reply{Body: `{"plan_type":` + jsonString(a.PlanType) + `,"rate_limit":{"allowed":true,"limit_reached":false,` +
			`"primary_window":{"used_percent":12,"limit_window_seconds":18000,"reset_after_seconds":3600},` +
			`"secondary_window":{"used_percent":3,"limit_window_seconds":604800,"reset_after_seconds":86400}}}`}
	}
	s.serveReply(w, r, reply, "")
}

// serveReply writes a scripted or default reply.
func (s *Server) serveReply(w http.ResponseWriter, r *http.Request, reply *Reply, model string) {
	if reply.Delay > 0 {
		t := time.NewTimer(reply.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if reply.Reset {
		// The server closes the connection without writing anything.
		panic(http.ErrAbortHandler)
	}
	h := w.Header()
	if r.URL.Path != string(Token) {
		rateLimitHeaders(h)
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	if reply.Stream == nil {
		h.Set("Content-Type", "application/json")
		maps.Copy(h, reply.Header)
		w.WriteHeader(status)
		_, _ = io.WriteString(w, reply.Body)
		return
	}
	st := reply.Stream
	events := st.Events
	if events == nil {
		respID := s.nextID("resp")
		if st.Overloaded {
			events = overloadedEvents(respID, model)
		} else {
			events = defaultEvents(respID, model)
		}
	}
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	maps.Copy(h, reply.Header)
	w.WriteHeader(status)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	for i, ev := range events {
		if st.CutAfter > 0 && i >= st.CutAfter {
			return
		}
		if ev.Gate != nil {
			select {
			case <-ev.Gate:
			case <-r.Context().Done():
				return
			}
		}
		if _, err := w.Write(sse.AppendEvent(nil, ev.Name, []byte(ev.Data))); err != nil {
			return
		}
		if rc.Flush() != nil {
			return
		}
	}
}

// defaultEvents is a complete one-message answer, in the backend's order.
func defaultEvents(respID, model string) []Event {
	m := jsonString(model)
	id := jsonString(respID)
	const item = `"msg_fake0001"`
	text := jsonString(DefaultText)
	resp := func(status, extra string) string {
		return `{"id":` + id + `,"object":"response","created_at":1700000000,"status":"` + status + `","model":` + m + `,"output":[]` + extra + `}`
	}
	part := `{"type":"output_text","text":` + text + `,"annotations":[]}`
	usage := `,"usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":17}`
	evs := []struct{ name, rest string }{
		{"response.created", `"response":` + resp("in_progress", "")},
		{"response.in_progress", `"response":` + resp("in_progress", "")},
		{"response.output_item.added", `"output_index":0,"item":{"id":` + item + `,"type":"message","status":"in_progress","role":"assistant","content":[]}`},
		{"response.content_part.added", `"item_id":` + item + `,"output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}`},
		{"response.output_text.delta", `"item_id":` + item + `,"output_index":0,"content_index":0,"delta":` + jsonString(DefaultText[:5])},
		{"response.output_text.delta", `"item_id":` + item + `,"output_index":0,"content_index":0,"delta":` + jsonString(DefaultText[5:])},
		{"response.output_text.done", `"item_id":` + item + `,"output_index":0,"content_index":0,"text":` + text},
		{"response.content_part.done", `"item_id":` + item + `,"output_index":0,"content_index":0,"part":` + part},
		{"response.output_item.done", `"output_index":0,"item":{"id":` + item + `,"type":"message","status":"completed","role":"assistant","content":[` + part + `]}`},
		{"response.completed", `"response":` + resp("completed", usage)},
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = Event{Name: e.name, Data: fmt.Sprintf(`{"type":%q,"sequence_number":%d,%s}`, e.name, i, e.rest)}
	}
	return out
}

// overloadedEvents is response.created followed at once by a failure.
func overloadedEvents(respID, model string) []Event {
	id, m := jsonString(respID), jsonString(model)
	return []Event{
		{Name: "response.created", Data: `{"type":"response.created","sequence_number":0,"response":{"id":` + id + `,"object":"response","created_at":1700000000,"status":"in_progress","model":` + m + `,"output":[]}}`},
		{Name: "response.failed", Data: `{"type":"response.failed","sequence_number":1,"response":{"id":` + id + `,"object":"response","created_at":1700000000,"status":"failed","model":` + m + `,"output":[],` +
			`"error":{"code":"server_is_overloaded","message":"Our servers are currently overloaded. Please try again later."}}}`},
	}
}
