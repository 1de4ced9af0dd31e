package operations

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/actors/keyring"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/models"
)

// Path prefixes the operations routes live under.
const (
	adminRoot  = "/admin/v1"
	geminiRoot = "/geminicli"
	codexRoot  = "/codex"
)

// Log field keys, the access log's names for the same things.
const (
	keyRequestID    = "request_id"
	keyCredentialID = "credential_id"
	keyName         = "key"
)

// contentTypeJSON is the Content-Type of every JSON answer.
const contentTypeJSON = "application/json; charset=utf-8"

// Deps is what the operations routes need from the rest of the gateway.
type Deps struct {
	// Logger receives the operator actions; nil discards them.
	Logger *zap.Logger
	// Pools returns the configured pools, geminicli first. It is called per
	// request, so pools set after New are seen.
	Pools func() []Pool
	// Keys are the member keys; nil answers the key routes 503.
	Keys KeyAdmin
	// ModelLists maps each provider to its model_list (bare ids) and its
	// aliases: the names a member key's allow-list may name exactly.
	ModelLists map[string][]string
	// LogLevel is the level POST /admin/v1/loglevel changes; the zero
	// value makes the level fixed (the loglevel routes answer 503).
	LogLevel zap.AtomicLevel
	// ReadBody reads a request body under the server's limits; nil reads
	// it whole.
	ReadBody func(echo.Context) ([]byte, error)
	// RequestID returns a request's id for the log lines; nil logs none.
	RequestID func(echo.Context) string
	// Caller identifies the key of a client request (GET /v1/me): its name
	// ("operator" for the Pollux key) and the member key, nil for the
	// operator.
	Caller func(echo.Context) (name string, key *keyring.Key, err error)
}

// Pool is one configured provider pool as the operations routes see it.
type Pool struct {
	// Name is the provider (providers.GeminiCLI or providers.Codex).
	Name string
	// Ingest takes resource:add batches and reports their jobs.
	Ingest Ingester
	// Admin is the pool's admin view; nil leaves the pool out of the admin
	// API's views and actions.
	Admin AdminPool
	// Models is the provider's model_list (bare ids).
	Models []string
	// Names are the pool's aliases and fallback chains, for GET pool;
	// nil for none.
	Names *models.Table
}

// Ingester onboards refresh tokens; *actors.Pool implements it.
type Ingester interface {
	Ingest(ctx context.Context, seeds []providers.Credential) (*actors.IngestStarted, error)
	Job(ctx context.Context, id string, wait bool) (*actors.JobStatus, error)
}

// AdminPool is what the admin API needs of a pool; *actors.Pool implements
// it.
type AdminPool interface {
	Snapshot(ctx context.Context) (*actors.Snapshot, error)
	SetDisabled(ctx context.Context, id int64, disabled bool, reason string) error
	Remove(ctx context.Context, id int64) error
	Refresh(ctx context.Context, id int64) error
}

// KeyAdmin is what the key routes need of the member keys; *actors.Keys
// implements it.
type KeyAdmin interface {
	Ring() *keyring.Ring
	Create(ctx context.Context, row actors.MemberKey) (*keyring.Key, string, error)
	Update(ctx context.Context, id int64, change func(*actors.MemberKey) error) (*keyring.Key, error)
	Rotate(ctx context.Context, id int64) (*keyring.Key, string, error)
	Delete(ctx context.Context, id int64) error
	Usage(ctx context.Context, from, to string) ([]actors.KeyUsageRow, error)
}

var (
	_ Ingester  = (*actors.Pool)(nil)
	_ AdminPool = (*actors.Pool)(nil)
	_ KeyAdmin  = (*actors.Keys)(nil)
)

// API serves the operations routes.
type API struct {
	d   Deps
	log *zap.Logger
}

// New returns the operations API over deps.
func New(deps Deps) *API {
	log := deps.Logger
	if log == nil {
		log = zap.NewNop()
	}
	if deps.Pools == nil {
		deps.Pools = func() []Pool { return nil }
	}
	if deps.ReadBody == nil {
		deps.ReadBody = readWhole
	}
	if deps.RequestID == nil {
		deps.RequestID = func(echo.Context) string { return "" }
	}
	return &API{d: deps, log: log}
}

// Add mounts one route (full path) in the access group it was made for.
type Add func(method, path string, h echo.HandlerFunc)

// MountOperator mounts the routes that change or reveal the pool: the
// admin API, the member-key admin, the pool usage and resource:add. The
// caller guards them with the operator key.
func (a *API) MountOperator(add Add) {
	a.mountAdmin(add)
	a.mountKeyAdmin(add)
	a.mountIngest(add)
}

// MountClient mounts the self-service routes any client key may call.
func (a *API) MountClient(add Add) { a.mountMe(add) }

// MountOpen mounts the routes that need no key: the status page's shell.
func (a *API) MountOpen(add Add) { a.mountStatusPage(add) }

// poolOf returns the configured pool of provider, if any.
func (a *API) poolOf(provider string) (Pool, bool) {
	for _, p := range a.d.Pools() {
		if p.Name == provider {
			return p, true
		}
	}
	return Pool{}, false
}

// logAction logs an operator's change at info.
func (a *API) logAction(c echo.Context, msg string, fields ...zap.Field) {
	a.log.Info(msg, append([]zap.Field{zap.String(keyRequestID, a.d.RequestID(c))}, fields...)...)
}

// failure is an answer with a status and a client-safe message, rendered
// by the server in the surface's envelope.
func failure(status int, msg string) *echo.HTTPError {
	return echo.NewHTTPError(status, msg)
}

// internalError is a 500 whose cause is only logged. The cause is kept as
// text: the server maps some errors in a chain (a deadline, a body over the
// limit) to their own statuses, and a pool's failure must stay a 500.
func internalError(cause error) error {
	return echo.NewHTTPError(http.StatusInternalServerError, "internal error").SetInternal(errors.New(cause.Error()))
}

// poolError maps a failed pool call to the client's answer.
func poolError(ctx context.Context, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, actors.ErrStopped):
		return failure(http.StatusServiceUnavailable, "the gateway is shutting down").SetInternal(errors.New(err.Error()))
	}
	return internalError(err)
}

// writeJSON encodes v and writes it with status.
func writeJSON(c echo.Context, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("operations: encode reply: %w", err)
	}
	return c.Blob(status, contentTypeJSON, b)
}

// readWhole reads a body whole: the server's limits are the caller's.
func readWhole(c echo.Context) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(c.Request().Body); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, failure(http.StatusBadRequest, "the request body arrived too slowly")
		}
		if ctxErr := c.Request().Context().Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, failure(http.StatusBadRequest, "could not read the request body")
	}
	return buf.Bytes(), nil
}
