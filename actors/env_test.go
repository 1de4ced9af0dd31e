package actors

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	cmap "github.com/orcaman/concurrent-map"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

func TestMain(m *testing.M) {
	// As cmd/pollux's main sets it (the process registry's size), before
	// any actor system exists; the tests run with what production runs.
	cmap.SHARD_COUNT = 1
	// protoactor starts a goroutine per dead-letter burst that lives for
	// one throttle interval and then exits by itself; it is not ours.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/asynkron/protoactor-go/actor.NewDeadLetter.NewThrottle.func4.1"))
}

const testModel = "gemini-2.5-pro"

// fakeAuthority is a scriptable providers.Authority that counts calls.
type fakeAuthority struct {
	refreshes atomic.Int64
	// refresh, when set, decides each refresh; the default issues a new
	// access token (and a rotated refresh token) valid for an hour.
	refresh func(ctx context.Context, c providers.Credential) (providers.Credential, error)
	onboard func(ctx context.Context, c providers.Credential) (providers.Credential, error)
	now     func() time.Time
	// quota, when set, answers ReadQuota (which otherwise reports nothing);
	// quotaReads counts the reads.
	quota      func(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error)
	quotaReads atomic.Int64
	mu         sync.Mutex
	seen       []string // refresh tokens presented, in order
}

func (f *fakeAuthority) ReadQuota(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error) {
	f.quotaReads.Add(1)
	if f.quota != nil {
		return f.quota(ctx, g)
	}
	return nil, nil
}

func (f *fakeAuthority) Refresh(ctx context.Context, c providers.Credential) (providers.Credential, error) {
	n := f.refreshes.Add(1)
	f.mu.Lock()
	f.seen = append(f.seen, c.RefreshToken.Reveal())
	f.mu.Unlock()
	if f.refresh != nil {
		return f.refresh(ctx, c)
	}
	c.AccessToken = config.Secret(fmt.Sprintf("access-%d-%d", c.ID, n))
	c.RefreshToken = config.Secret(fmt.Sprintf("refresh-%d-%d", c.ID, n))
	c.Expiry = f.now().Add(time.Hour)
	return c, nil
}

func (f *fakeAuthority) Onboard(ctx context.Context, c providers.Credential) (providers.Credential, error) {
	if f.onboard != nil {
		return f.onboard(ctx, c)
	}
	tok := c.RefreshToken.Reveal()
	c.Sub, c.Email, c.Account, c.Tier = "sub-"+tok, tok+"@example.com", "proj-"+tok, "standard-tier"
	c.AccessToken = config.Secret("access-for-" + tok)
	c.Expiry = f.now().Add(time.Hour)
	return c, nil
}

// env is one actor system over a real SQLite file, a fake clock and a fake
// authority.
type env struct {
	t     testing.TB
	path  string
	db    *storage.DB
	clock *actorstest.FakeClock
	auth  *fakeAuthority
	cfg   config.Provider
	sys   *System
	pool  *Pool
	logs  *observer.ObservedLogs
	// tap sees every message each actor has handled (nil in benchmarks).
	tap *actorstest.Expector
}

func newEnv(t testing.TB) *env {
	t.Helper()
	clock := actorstest.NewFakeClock(t0)
	e := &env{t: t, path: t.TempDir() + "/pollux.db", clock: clock, auth: &fakeAuthority{now: clock.Now},
		cfg: config.Provider{ModelList: []string{testModel}, OAuthTPS: 1000, RetryMaxTimes: 3, QueueTimeoutSecs: 10}}
	if _, bench := t.(*testing.B); !bench {
		e.tap = actorstest.NewExpector(10 * time.Second)
	}
	e.openDB()
	return e
}

func (e *env) openDB() {
	e.t.Helper()
	db, err := storage.OpenWithClock(context.Background(), e.path, zap.NewNop(), e.clock.Now)
	if err != nil {
		e.t.Fatal(err)
	}
	e.db = db
}

// seed inserts n active credentials with tokens valid for an hour.
func (e *env) seed(n int, mutate func(i int, c *storage.Credential)) []int64 {
	e.t.Helper()
	ids := make([]int64, 0, n)
	err := e.db.WriteTx(context.Background(), func(tx *storage.Tx) error {
		for i := 0; i < n; i++ {
			c := storage.Credential{
				Provider: providers.GeminiCLI, Sub: fmt.Sprintf("sub-%d", i), Email: fmt.Sprintf("u%d@example.com", i),
				Account: fmt.Sprintf("proj-%d", i), AccessToken: config.Secret(fmt.Sprintf("seed-access-%d", i)),
				RefreshToken: config.Secret(fmt.Sprintf("seed-refresh-%d", i)), Expiry: t0.Add(time.Hour),
				Status: storage.StatusActive,
			}
			if mutate != nil {
				mutate(i, &c)
			}
			id, err := tx.InsertCredential(context.Background(), c)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return ids
}

func (e *env) start() {
	e.t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	e.logs = logs
	d := Deps{
		DB: e.db, Logger: zap.New(core), Clock: e.clock, Jitter: func() time.Duration { return 0 },
		Pools: []PoolSpec{{Name: providers.GeminiCLI, Authority: e.auth, Config: e.cfg}},
	}
	if e.tap != nil {
		d.Tap = e.tap.Observe
	}
	sys, err := Start(context.Background(), d)
	if err != nil {
		e.t.Fatal(err)
	}
	e.sys, e.pool = sys, sys.Pool(providers.GeminiCLI)
	e.t.Cleanup(e.stop)
}

func (e *env) stop() {
	if e.sys == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.sys.Stop(ctx); err != nil {
		e.t.Errorf("stop: %v", err)
	}
	e.sys = nil
	if err := e.db.Close(); err != nil {
		e.t.Errorf("close db: %v", err)
	}
	e.assertNoSecretsLogged()
}

// restart stops the system and starts a new one on the same file.
func (e *env) restart() {
	e.t.Helper()
	e.stop()
	e.openDB()
	e.start()
}

func (e *env) assertNoSecretsLogged() {
	e.t.Helper()
	if e.logs == nil {
		return
	}
	for _, entry := range e.logs.All() {
		line := entry.Message + fmt.Sprint(entry.ContextMap())
		for _, secret := range []string{"access-", "refresh-"} {
			if containsSecret(line, secret) {
				e.t.Errorf("log line leaks a token (%q): %s", secret, line)
			}
		}
	}
}

func containsSecret(line, prefix string) bool {
	for i := 0; i+len(prefix) <= len(line); i++ {
		if line[i:i+len(prefix)] == prefix {
			// "seed-access-" etc. and "refresh-" in prose are tokens only
			// when followed by a digit.
			if j := i + len(prefix); j < len(line) && line[j] >= '0' && line[j] <= '9' {
				return true
			}
		}
	}
	return false
}

func (e *env) acquire(o AcquireOptions) (*Lease, error) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return e.pool.Acquire(ctx, testModel, o)
}

func (e *env) mustAcquire(o AcquireOptions) *Lease {
	e.t.Helper()
	l, err := e.acquire(o)
	if err != nil {
		e.t.Fatalf("acquire: %v", err)
	}
	return l
}

func (e *env) snapshot() map[int64]CredentialView {
	e.t.Helper()
	s, err := e.pool.Snapshot(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	out := make(map[int64]CredentialView, len(s.Credentials))
	for _, v := range s.Credentials {
		out[v.ID] = v
	}
	return out
}

// The actors' names (PID ids), for waits on the messages they handle.
const persistenceName = "persistence"

var schedulerID = providers.GeminiCLI + "/" + schedulerName

func credentialActorID(id int64) string { return providers.GeminiCLI + "/" + credentialName(id) }

// untilCommitted returns once cond holds, checking it after each commit of
// the persistence actor (a flush of its batch, of usage, or of retries).
func (e *env) untilCommitted(what string, cond func() bool) {
	e.t.Helper()
	e.tap.Until(e.t, persistenceName, what, func(msg any) bool {
		switch msg.(type) {
		case *flushNow, *usageDue, *retryDue:
			return true
		}
		return false
	}, cond)
}

// untilPublished returns once cond holds, checking it each time the
// scheduler has taken in a CredentialChanged from credential id (what a
// snapshot shows of it).
func (e *env) untilPublished(id int64, what string, cond func() bool) {
	e.t.Helper()
	e.tap.Until(e.t, schedulerID, what, func(msg any) bool {
		cc, ok := msg.(*CredentialChanged)
		return ok && cc.ID == id
	}, cond)
}

// untilScheduled returns once cond holds, checking it each time the
// scheduler has handled a message of type T.
func untilScheduled[T any](e *env, what string, cond func() bool) {
	e.t.Helper()
	e.tap.Until(e.t, schedulerID, what, actorstest.Is[T], cond)
}

// untilRefreshed returns once cond holds, checking it each time credential
// id has taken in the result of a refresh.
func (e *env) untilRefreshed(id int64, what string, cond func() bool) {
	e.t.Helper()
	e.tap.Until(e.t, credentialActorID(id), what, actorstest.Is[*refreshResult], cond)
}

// asyncAcquire runs Acquire on a goroutine and delivers its result.
type acquireResult struct {
	lease *Lease
	err   error
}

func (e *env) asyncAcquire(o AcquireOptions) <-chan acquireResult {
	ch := make(chan acquireResult, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		l, err := e.pool.Acquire(ctx, testModel, o)
		ch <- acquireResult{l, err}
	}()
	return ch
}

func unavailable(t *testing.T, err error) *UnavailableError {
	t.Helper()
	var ue *UnavailableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnavailableError", err)
	}
	return ue
}

// waitersParked waits until the scheduler holds n parked requests: the
// count is checked after each Acquire it handled.
func (e *env) waitersParked(n int) {
	e.t.Helper()
	untilScheduled[*Acquire](e, fmt.Sprintf("%d parked requests", n), func() bool {
		s, err := e.pool.Snapshot(context.Background())
		return err == nil && s.Waiting == n
	})
}
