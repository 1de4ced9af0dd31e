package transport

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/transport/relay"
)

// Log field keys used by transport.
const (
	keyRequestID = "request_id"
	keyMethod    = "method"
	keyPath      = "path"
	keyStatus    = "status"
	keyBytesOut  = "bytes_out"
	keyDuration  = "duration"
	keyRemoteIP  = "remote_ip"
	// What a handler adds to the access log (requestInfo).
	keySurface      = "surface"
	keyModel        = "model"
	keyServedModel  = "served_model"
	keyCredentialID = "credential_id"
	keyAttempts     = "attempts"
	keyOutcome      = "outcome"
	keyTTFB         = "ttfb"
)

// headerGoogAPIKey is the Gemini API's key header.
const headerGoogAPIKey = "X-Goog-Api-Key"

// headerAPIKey is the key header of the Anthropic SDKs and Claude Code.
const headerAPIKey = "X-Api-Key"

// maxRequestIDLen bounds a client-chosen X-Request-Id.
const maxRequestIDLen = 128

// stage is one of the middlewares every request passes through
// (frontStages): it does its part and calls s.pass(c, next, rest) where a
// middleware would call next(c).
type stage func(s *Server, c echo.Context, next echo.HandlerFunc, rest []stage) error

// frontStages run on every request, outermost first.
var frontStages = [...]stage{(*Server).recoverPanics, (*Server).assignRequestID, (*Server).accessLog,
	(*Server).requireKey, (*Server).limitBody}

// front is the one echo middleware that runs frontStages. echo composes
// its middlewares anew for every request, a closure each; as the stages of
// one middleware they cost one.
func (s *Server) front(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error { return s.pass(c, next, frontStages[:]) }
}

// pass runs the first of rest, or next once every stage has run.
func (s *Server) pass(c echo.Context, next echo.HandlerFunc, rest []stage) error {
	if len(rest) == 0 {
		return next(c)
	}
	return rest[0](s, c, next, rest[1:])
}

// recoverPanics is the outermost middleware. A panic becomes a logged 500 in
// the surface's envelope, or, when the response is already under way, an
// aborted connection. http.ErrAbortHandler passes through untouched: it is how
// a handler asks net/http to cut a body that failed mid-copy.
func (s *Server) recoverPanics(c echo.Context, next echo.HandlerFunc, rest []stage) (err error) {
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if e, ok := v.(error); ok && errors.Is(e, http.ErrAbortHandler) {
			panic(v)
		}
		r := c.Request()
		s.log.Error("panic serving request",
			zap.String(keyRequestID, requestID(c)),
			zap.String(keyMethod, r.Method),
			zap.String(keyPath, r.URL.Path),
			zap.String("panic", fmt.Sprint(v)),
			zap.Stack("stack"),
		)
		if c.Response().Committed {
			panic(http.ErrAbortHandler)
		}
		err = writeError(c, &Error{Kind: KindInternal})
	}()
	return s.pass(c, next, rest)
}

// assignRequestID keeps the client's X-Request-Id when it is sane and makes
// one up otherwise; either way the response carries it.
func (s *Server) assignRequestID(c echo.Context, next echo.HandlerFunc, rest []stage) error {
	id := c.Request().Header.Get(relay.HeaderRequestID)
	if !saneRequestID(id) {
		id = rand.Text()
	}
	c.Response().Header().Set(relay.HeaderRequestID, id)
	return s.pass(c, next, rest)
}

// requestID returns the id assignRequestID gave the request.
func requestID(c echo.Context) string {
	return c.Response().Header().Get(relay.HeaderRequestID)
}

// saneRequestID reports whether id is 1 to 128 characters of [A-Za-z0-9._-],
// safe to echo and to log.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch ch := id[i]; {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			ch == '.', ch == '_', ch == '-':
		default:
			return false
		}
	}
	return true
}

// accessLog writes one info line per request and counts the request in the
// metrics. It renders a handler's error itself (so the line has the final
// status) and logs the path without the query string, which may hold the
// key, and no headers. Handlers add surface fields through the request's
// requestInfo (credential id, never email).
func (s *Server) accessLog(c echo.Context, next echo.HandlerFunc, rest []stage) error {
	start := time.Now()
	info := &requestInfo{start: start}
	c.Set(requestInfoKey, info)
	returned := false
	defer func() {
		r, res := c.Request(), c.Response()
		status := res.Status
		if !returned && !res.Committed {
			// A panic is unwinding: recoverPanics answers 500, or aborts
			// the connection if the response was under way.
			status = http.StatusInternalServerError
		}
		elapsed := time.Since(start)
		sf := info.surfaceOf(echo.GetPath(r))
		s.metrics.observeRequest(sf, info.keyName(), s.metricModelOf(info), status, elapsed)
		s.settleKey(info, sf, status)
		ce := s.accessLogger.Check(zap.InfoLevel, "request")
		if ce == nil {
			return
		}
		fields := make([]zap.Field, 0, 16)
		if !returned {
			// bytes_out counts only what the handler wrote.
			fields = append(fields, zap.Bool("panic", true))
		}
		fields = append(fields,
			zap.String(keyRequestID, requestID(c)),
			zap.String(keyMethod, r.Method),
			zap.String(keyPath, r.URL.Path),
			zap.Int(keyStatus, status),
			zap.Int64(keyBytesOut, res.Size),
			zap.Duration(keyDuration, elapsed),
			zap.String(keyRemoteIP, c.RealIP()),
		)
		if name := info.keyName(); name != "" {
			fields = append(fields, zap.String(keyField, name))
		}
		ce.Write(info.appendFields(fields, sf)...)
	}()
	if err := s.pass(c, next, rest); err != nil {
		c.Error(err)
	}
	returned = true
	return nil
}

// limitBody refuses a declared Content-Length over the limit at once and caps
// the body stream too, so a chunked body cannot exceed it either. Reading past
// the cap fails with *http.MaxBytesError, which writeError answers with 413.
// It runs after requireKey: nothing of a refused request's body is read. The
// body gets a read deadline (connguard.go).
func (s *Server) limitBody(c echo.Context, next echo.HandlerFunc, rest []stage) error {
	r := c.Request()
	limit := s.bodyLimitOf(c)
	if r.ContentLength > limit {
		refuseUnread(c.Response().Writer, r)
		return &Error{
			Kind:    KindTooLarge,
			Message: fmt.Sprintf("request body is larger than %d bytes", limit),
		}
	}
	if r.Body == nil || r.Body == http.NoBody {
		settle(r.Context())
		return s.pass(c, next, rest)
	}
	// The body is read under an absolute deadline (connguard.go); its
	// end settles the connection.
	rc := http.NewResponseController(c.Response().Writer)
	_ = rc.SetReadDeadline(bodyReadDeadline(time.Now(), s.bodyReadBase, r.ContentLength, limit))
	r.Body = &deadlineBody{ReadCloser: r.Body, ctx: r.Context(), rc: rc}
	// The raw writer lets net/http close the connection after the
	// 413 instead of draining an oversized body.
	r.Body = http.MaxBytesReader(c.Response().Writer, r.Body, limit)
	if err := decodeBody(c.Response().Writer, r, limit); err != nil {
		return err
	}
	return s.pass(c, next, rest)
}

// requireKey checks the key a route's group demands (see routes): the
// client routes take the Pollux key or a member key (teamkeys.go), the
// others the keys of their group. The key may come as
// "Authorization: Bearer", x-goog-api-key or ?key=; whichever forms were
// used are then removed from the request, so no handler can forward or log
// them.
func (s *Server) requireKey(c echo.Context, next echo.HandlerFunc, rest []stage) error {
	r := c.Request()
	set, guarded := s.keysFor(c)
	if !guarded {
		return s.pass(c, next, rest)
	}
	var err error
	if set == keysClient {
		err = s.authorizeClient(c)
	} else {
		err = s.authorize(r, set)
	}
	if err != nil {
		// Answered without reading the body, and the connection closes.
		refuseUnread(c.Response().Writer, r)
		return err
	}
	return s.pass(c, next, rest)
}

// keysFor returns the keys the request's route accepts: its group's, or,
// for a path that matched no mounted route, the client keys under the API
// surfaces and the root's /v1 and /v1beta, and none elsewhere.
func (s *Server) keysFor(c echo.Context) (keySet, bool) {
	r := c.Request()
	if a, ok := s.access[routeID{r.Method, c.Path()}]; ok {
		return a.keys()
	}
	if path := echo.GetPath(r); surfaceOf(path) == surfacePlain && !isRootAPI(path) {
		return 0, false
	}
	return keysClient, true
}

// keySet names the keys a route accepts.
type keySet uint8

const (
	// keysClient: the Pollux key.
	keysClient keySet = iota
	// keysOperator: the Pollux key or the admin key (monitoring).
	keysOperator
	// keysAdmin: the admin key when one is set, else the Pollux key.
	keysAdmin
)

// authorize checks the key r presents against set (and strips it from r);
// the error is the 401 to answer.
func (s *Server) authorize(r *http.Request, set keySet) error {
	presented, ok := s.checkKey(r, set)
	switch {
	case !presented:
		return &Error{Kind: KindUnauthenticated, Message: "missing API key: send it as Authorization: Bearer, x-api-key, x-goog-api-key or ?key="}
	case !ok:
		return &Error{Kind: KindUnauthenticated, Message: "invalid API key"}
	}
	return nil
}

// keyMatches reports whether candidate is one of set's keys. Every key of
// the set is compared (constant-time each), without short-circuit.
func (s *Server) keyMatches(set keySet, candidate string) bool {
	switch set {
	case keysOperator:
		client := s.key.Matches(candidate)
		admin := s.adminKey.Matches(candidate)
		return client || admin
	case keysAdmin:
		if !s.adminKey.IsZero() {
			return s.adminKey.Matches(candidate)
		}
	case keysClient:
	}
	return s.key.Matches(candidate)
}

// checkKey reports whether r presented any key, and whether one of the
// presented keys is in set; it strips every presented key from r.
func (s *Server) checkKey(r *http.Request, set keySet) (presented, ok bool) {
	presented = forEachPresentedKey(r, func(candidate string) {
		// Matches is constant-time over digests; evaluate it for every
		// candidate rather than short-circuit.
		if s.keyMatches(set, candidate) {
			ok = true
		}
	})
	return presented, ok
}

// forEachPresentedKey calls try with every key r presents (Bearer,
// x-goog-api-key, ?key=), strips them all from r, and reports whether there
// was any.
func forEachPresentedKey(r *http.Request, try func(candidate string)) (presented bool) {
	if key, found := bearerToken(r.Header.Get(echo.HeaderAuthorization)); found {
		try(key)
		presented = true
		r.Header.Del(echo.HeaderAuthorization)
	}
	for _, name := range [...]string{headerGoogAPIKey, headerAPIKey} {
		if key := r.Header.Get(name); key != "" {
			try(key)
			presented = true
			r.Header.Del(name)
		}
	}
	if r.URL.RawQuery != "" {
		q := r.URL.Query()
		if key := q.Get("key"); key != "" {
			try(key)
			presented = true
		}
		if q.Has("key") {
			q.Del("key")
			r.URL.RawQuery = q.Encode()
		}
	}
	return presented
}

// bearerToken returns the token of an "Authorization: Bearer <token>" value.
func bearerToken(header string) (string, bool) {
	const prefix = "bearer "
	if len(header) <= len(prefix) || !strings.EqualFold(header[:len(prefix)], prefix) {
		return "", false
	}
	token := strings.TrimSpace(header[len(prefix):])
	return token, token != ""
}
