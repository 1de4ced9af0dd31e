package fakeupstream

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pollux-gateway/pollux/providers/sse"
)

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

// Request is one recorded request.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
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

// Push queues scripted replies for an endpoint; each request to it takes
// the next one, and the default behaviour resumes when the queue is empty.
// Backend endpoints check the access token first; the token endpoint serves
// a queued reply before looking at the grant.
func (s *Server) Push(ep Endpoint, replies ...Reply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queues[ep] = append(s.queues[ep], replies...)
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
