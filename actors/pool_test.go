package actors

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/asynkron/protoactor-go/actor"

	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

func (e *env) credentialPID(id int64) *actor.PID {
	return actor.NewPID(e.sys.sys.Address(), fmt.Sprintf("%s/credential-%d", providers.GeminiCLI, id))
}

func (e *env) row(id int64) storage.Credential {
	e.t.Helper()
	c, err := e.db.Credential(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func TestLeaseCarriesTheCredential(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, nil)
	e.start()
	l := e.mustAcquire(AcquireOptions{})
	if l.Grant.CredentialID != ids[0] || l.Grant.AccessToken.Reveal() != "seed-access-0" || l.Grant.Account != "proj-0" || l.Model != testModel {
		t.Fatalf("lease = %+v", l)
	}
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	untilScheduled[*Outcome](e, "lease released", func() bool { return e.snapshot()[ids[0]].InFlight == 0 })
	if v := e.snapshot()[ids[0]]; v.Served != 1 {
		t.Fatalf("served = %d, want 1", v.Served)
	}
}

func TestRoundRobinOverActors(t *testing.T) {
	e := newEnv(t)
	e.seed(4, nil)
	e.start()
	counts := map[int64]int{}
	for i := 0; i < 40; i++ {
		l := e.mustAcquire(AcquireOptions{})
		counts[l.Grant.CredentialID]++
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	}
	for id, n := range counts {
		if n != 10 {
			t.Errorf("credential %d served %d of 40, want 10", id, n)
		}
	}
	if len(counts) != 4 {
		t.Errorf("%d credentials served, want 4", len(counts))
	}
}

func TestRateLimitRotatesAndPersistsCooldown(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, nil)
	e.start()
	first := e.mustAcquire(AcquireOptions{})
	e.pool.Report(first, providers.Outcome{Kind: providers.KindRateLimited, Status: 429, RetryAt: t0.Add(time.Minute)})
	for i := 0; i < 5; i++ {
		l := e.mustAcquire(AcquireOptions{})
		if l.Grant.CredentialID == first.Grant.CredentialID {
			t.Fatalf("request %d went to the rate-limited credential", i)
		}
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	}
	e.untilCommitted("cooldown persisted", func() bool {
		cds := e.row(first.Grant.CredentialID).Cooldowns
		return len(cds) == 1 && cds[0].Model == testModel && cds[0].Until.Equal(t0.Add(time.Minute+resetGrace))
	})
	// The scheduler arms its wake for the cooldown's end when it takes the
	// cooldown in; the clock must not pass that end before (a timer armed
	// in the fake clock's past never fires).
	e.untilPublished(first.Grant.CredentialID, "the cooldown in the scheduler", func() bool {
		return len(e.snapshot()[first.Grant.CredentialID].Cooldowns) == 1
	})
	// After the cooldown both serve again.
	e.clock.Advance(time.Minute + resetGrace)
	seen := map[int64]bool{}
	for i := 0; i < 4; i++ {
		l := e.mustAcquire(AcquireOptions{})
		seen[l.Grant.CredentialID] = true
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	}
	if !seen[ids[0]] || !seen[ids[1]] {
		t.Fatalf("after the cooldown served %v, want both", seen)
	}
}

func TestCredentialWideCooldownBlocksEveryModel(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, nil)
	e.start()
	l := e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeCredential, RetryAt: t0.Add(2 * time.Hour)})
	e.untilPublished(ids[0], "status cooling", func() bool { return e.snapshot()[ids[0]].Status == storage.StatusCooling })
	ctx := context.Background()
	_, err := e.pool.Acquire(ctx, "another-model", AcquireOptions{})
	if ue := unavailable(t, err); ue.Reason != AllCooling || !ue.RetryAt.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("got %+v, want all_cooling until +2h", ue)
	}
	e.untilCommitted("cooling persisted", func() bool { return e.row(ids[0]).Status == storage.StatusCooling })
	e.clock.Advance(2*time.Hour + resetGrace)
	e.untilCommitted("back to active", func() bool { return e.row(ids[0]).Status == storage.StatusActive })
}

func TestDeadlineAnswers(t *testing.T) {
	t.Run("no credentials at all", func(t *testing.T) {
		e := newEnv(t)
		e.start()
		_, err := e.acquire(AcquireOptions{})
		if ue := unavailable(t, err); ue.Reason != NoCredentials {
			t.Fatalf("reason = %v, want no_credentials", ue.Reason)
		}
	})
	t.Run("only credentials that need a human", func(t *testing.T) {
		e := newEnv(t)
		e.seed(2, func(i int, c *storage.Credential) { c.Status = storage.StatusNeedsReauth })
		e.start()
		_, err := e.acquire(AcquireOptions{})
		if ue := unavailable(t, err); ue.Reason != NoCredentials {
			t.Fatalf("reason = %v, want no_credentials", ue.Reason)
		}
	})
	t.Run("cooling beyond the deadline answers at once with the earliest reset", func(t *testing.T) {
		e := newEnv(t)
		e.seed(2, func(i int, c *storage.Credential) {
			c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(time.Duration(i+1) * time.Minute)}}
		})
		e.start()
		_, err := e.acquire(AcquireOptions{Wait: 5 * time.Second})
		if ue := unavailable(t, err); ue.Reason != AllCooling || !ue.RetryAt.Equal(t0.Add(time.Minute-resetGrace)) {
			t.Fatalf("got %+v, want all_cooling at +1m", ue)
		}
	})
	t.Run("a parked request times out with all_cooling", func(t *testing.T) {
		e := newEnv(t)
		release := make(chan struct{})
		defer close(release)
		e.auth.refresh = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return c, ctx.Err()
		}
		e.seed(1, func(i int, c *storage.Credential) { c.Expiry = t0.Add(-time.Minute) })
		e.start()
		res := e.asyncAcquire(AcquireOptions{Wait: 3 * time.Second})
		e.waitersParked(1)
		e.clock.Advance(3 * time.Second)
		// The refresh may end any moment: held past the deadline, at most
		// maxHoldOverrun.
		e.waitersParked(1)
		e.clock.Advance(maxHoldOverrun)
		r := <-res
		if ue := unavailable(t, r.err); ue.Reason != AllCooling || !ue.RetryAt.After(e.clock.Now().Add(-time.Nanosecond)) {
			t.Fatalf("got %+v, want all_cooling with a retry time from now on", ue)
		}
	})
}

func TestWaitersAreServedFIFO(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxConcurrentPerCredential = 1
	e.seed(1, func(i int, c *storage.Credential) {
		c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(5 * time.Second)}}
	})
	e.start()
	var results []<-chan acquireResult
	for i := 0; i < 3; i++ {
		results = append(results, e.asyncAcquire(AcquireOptions{RequestID: fmt.Sprint(i)}))
		e.waitersParked(i + 1)
	}
	e.clock.Advance(5 * time.Second) // the cooldown ends: wakes the queue
	for i, ch := range results {
		r := <-ch
		if r.err != nil {
			t.Fatalf("waiter %d: %v", i, r.err)
		}
		for j := i + 1; j < len(results); j++ {
			select {
			case r := <-results[j]:
				t.Fatalf("waiter %d served before waiter %d finished (err %v)", j, i, r.err)
			default:
			}
		}
		e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindOK})
	}
}

func TestWaiterWokenByRefresh(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.auth.refresh = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
		<-release
		c.AccessToken, c.Expiry = "access-fresh-1", e.clock.Now().Add(time.Hour)
		return c, nil
	}
	e.seed(1, func(i int, c *storage.Credential) { c.Expiry = t0.Add(-time.Minute) })
	e.start()
	res := e.asyncAcquire(AcquireOptions{})
	e.waitersParked(1)
	close(release)
	r := <-res
	if r.err != nil || r.lease.Grant.AccessToken.Reveal() != "access-fresh-1" {
		t.Fatalf("got %+v, %v; want a lease with the refreshed token", r.lease, r.err)
	}
}

func TestWaiterWokenByNewCredential(t *testing.T) {
	e := newEnv(t)
	e.seed(1, func(i int, c *storage.Credential) {
		c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(8 * time.Second)}}
	})
	e.start()
	res := e.asyncAcquire(AcquireOptions{})
	e.waitersParked(1)
	verdicts, err := e.pool.Add(context.Background(), providers.Credential{RefreshToken: "newtoken"})
	if err != nil || len(verdicts) != 1 || verdicts[0].Result != VerdictAdded {
		t.Fatalf("add: %+v %v", verdicts, err)
	}
	r := <-res
	if r.err != nil || r.lease.Grant.CredentialID != verdicts[0].CredentialID {
		t.Fatalf("waiter got %+v %v, want the new credential %d", r.lease, r.err, verdicts[0].CredentialID)
	}
}

func TestConcurrentAcquiresOnExpiringCredentialRefreshOnce(t *testing.T) {
	e := newEnv(t)
	release := make(chan struct{})
	e.auth.refresh = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
		<-release
		c.AccessToken, c.Expiry = "access-fresh-1", e.clock.Now().Add(time.Hour)
		return c, nil
	}
	e.seed(1, func(i int, c *storage.Credential) { c.Expiry = t0.Add(10 * time.Second) })
	e.start()
	const n = 100
	var results []<-chan acquireResult
	for i := 0; i < n; i++ {
		results = append(results, e.asyncAcquire(AcquireOptions{}))
	}
	e.waitersParked(n)
	close(release)
	for i, ch := range results {
		r := <-ch
		if r.err != nil {
			t.Fatalf("acquire %d: %v", i, r.err)
		}
		if r.lease.Grant.AccessToken.Reveal() != "access-fresh-1" {
			t.Fatalf("acquire %d got a stale token", i)
		}
		e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindOK})
	}
	if got := e.auth.refreshes.Load(); got != 1 {
		t.Fatalf("refreshes = %d, want exactly 1", got)
	}
}

func TestRotatedRefreshTokenIsDurableBeforeUse(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, func(i int, c *storage.Credential) { c.Expiry = t0.Add(-time.Minute) })
	e.start()
	l := e.mustAcquire(AcquireOptions{})
	// The lease holds the new access token; the rotated refresh token must
	// already be committed at this moment.
	want := fmt.Sprintf("refresh-%d-1", ids[0])
	if got := e.row(ids[0]).RefreshToken.Reveal(); got != want {
		t.Fatalf("stored refresh token = %q when the new access token was handed out, want %q", got, want)
	}
	if l.Grant.AccessToken.Reveal() != fmt.Sprintf("access-%d-1", ids[0]) {
		t.Fatalf("lease token = %q", l.Grant.AccessToken.Reveal())
	}
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	// The next refresh presents the rotated token, not the dead one.
	e.clock.Advance(time.Hour)
	e.untilRefreshed(ids[0], "second refresh", func() bool { return e.auth.refreshes.Load() == 2 })
	e.auth.mu.Lock()
	defer e.auth.mu.Unlock()
	if e.auth.seen[1] != want {
		t.Fatalf("second refresh presented %q, want the rotated %q", e.auth.seen[1], want)
	}
}

func TestUnauthorizedRefreshesThenServes(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, nil)
	e.start()
	l := e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindAuthExpired, Status: 401})
	l2 := e.mustAcquire(AcquireOptions{Prefer: ids[0]})
	if l2.Grant.AccessToken.Reveal() != fmt.Sprintf("access-%d-1", ids[0]) {
		t.Fatalf("after a 401 the lease has token %q, want the refreshed one", l2.Grant.AccessToken.Reveal())
	}
	e.pool.Report(l2, providers.Outcome{Kind: providers.KindOK})
}

func TestPermanentRefreshFailureNeedsReauth(t *testing.T) {
	e := newEnv(t)
	e.auth.refresh = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
		return c, &providers.VerdictError{Err: providers.ErrReauth, Reason: "invalid_grant: Token has been expired or revoked."}
	}
	ids := e.seed(1, func(i int, c *storage.Credential) { c.Expiry = t0.Add(-time.Minute) })
	e.start()
	e.untilCommitted("needs_reauth persisted", func() bool {
		r := e.row(ids[0])
		return r.Status == storage.StatusNeedsReauth && r.StatusReason == "invalid_grant: Token has been expired or revoked."
	})
	// The credential saves its state before it tells the scheduler.
	e.untilPublished(ids[0], "needs_reauth in the pool", func() bool { return e.snapshot()[ids[0]].Status == storage.StatusNeedsReauth })
	_, err := e.acquire(AcquireOptions{})
	if ue := unavailable(t, err); ue.Reason != NoCredentials {
		t.Fatalf("reason = %v, want no_credentials", ue.Reason)
	}
	if got := e.auth.refreshes.Load(); got != 1 {
		t.Fatalf("refreshes = %d, want 1 (no retry after a permanent failure)", got)
	}
}

func TestTransientRefreshFailureBacksOff(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	fail := true
	e.auth.refresh = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return c, fmt.Errorf("token endpoint: 503")
		}
		c.AccessToken, c.Expiry = "access-ok-1", e.clock.Now().Add(time.Hour)
		return c, nil
	}
	ids := e.seed(1, func(i int, c *storage.Credential) { c.Expiry = t0.Add(-time.Minute) })
	e.start()
	e.untilPublished(ids[0], "first failure", func() bool { return e.snapshot()[ids[0]].LastError != "" })
	if !e.clock.WaitFor(5*time.Second, func(ds []time.Time) bool {
		for _, d := range ds {
			if d.Equal(t0.Add(refreshRetryBase)) {
				return true
			}
		}
		return false
	}) {
		t.Fatal("no retry armed after the first backoff")
	}
	mu.Lock()
	fail = false
	mu.Unlock()
	e.clock.Advance(refreshRetryBase)
	l := e.mustAcquire(AcquireOptions{})
	if l.Grant.AccessToken.Reveal() != "access-ok-1" {
		t.Fatalf("token = %q", l.Grant.AccessToken.Reveal())
	}
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	if v := e.snapshot()[ids[0]]; v.Status != storage.StatusActive {
		t.Fatalf("status = %s, want active", v.Status)
	}
}

func TestRestartRestoresTokensStatesAndCooldowns(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(3, nil)
	e.start()
	// 0: rate-limited for an hour; 1: banned; 2: refreshed (new tokens).
	leases := map[int64]*Lease{}
	for i := 0; i < 3; i++ {
		l := e.mustAcquire(AcquireOptions{})
		leases[l.Grant.CredentialID] = l
	}
	e.pool.Report(leases[ids[0]], providers.Outcome{Kind: providers.KindRateLimited, RetryAt: t0.Add(time.Hour)})
	e.pool.Report(leases[ids[1]], providers.Outcome{Kind: providers.KindBanned, Reason: "TOS_VIOLATION"})
	e.pool.Report(leases[ids[2]], providers.Outcome{Kind: providers.KindAuthExpired})
	// Credential 2's refreshed expiry equals its seeded one, so the check
	// below cannot tell its refresh from no refresh yet: wait for it first.
	e.untilRefreshed(ids[2], "credential 2 refreshed", func() bool { return e.auth.refreshes.Load() == 1 })
	untilScheduled[*CredentialChanged](e, "all three settled", func() bool {
		s := e.snapshot()
		return len(s[ids[0]].Cooldowns) == 1 && s[ids[1]].Status == storage.StatusBanned &&
			s[ids[2]].Expiry.Equal(t0.Add(time.Hour)) && !s[ids[2]].Refreshing
	})
	e.restart()
	s := e.snapshot()
	if cds := s[ids[0]].Cooldowns; len(cds) != 1 || !cds[0].Until.Equal(t0.Add(time.Hour+resetGrace)) {
		t.Errorf("cooldowns after restart = %+v", cds)
	}
	if s[ids[1]].Status != storage.StatusBanned || s[ids[1]].StatusReason != "TOS_VIOLATION" {
		t.Errorf("credential 1 after restart: %s %q", s[ids[1]].Status, s[ids[1]].StatusReason)
	}
	l := e.mustAcquire(AcquireOptions{})
	if l.Grant.CredentialID != ids[2] || l.Grant.AccessToken.Reveal() != fmt.Sprintf("access-%d-1", ids[2]) {
		t.Fatalf("after restart got credential %d with token %q, want %d with its refreshed token",
			l.Grant.CredentialID, l.Grant.AccessToken.Reveal(), ids[2])
	}
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
}

func TestCrashedCredentialRestartsAndOthersServe(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(3, nil)
	e.start()
	root := e.sys.sys.Root
	root.Send(e.credentialPID(ids[0]), &crash{})
	for i := 0; i < 6; i++ {
		l := e.mustAcquire(AcquireOptions{})
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	}
	// The restarted actor reloaded from storage and serves again.
	e.untilPublished(ids[0], "restarted credential serves", func() bool {
		l, err := e.acquire(AcquireOptions{Prefer: ids[0]})
		if err != nil {
			return false
		}
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
		return l.Grant.CredentialID == ids[0]
	})
}

func TestCredentialCrashingTooOftenIsDisabled(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, nil)
	e.start()
	who := credentialActorID(ids[0])
	e.tap.Next(t, who, "the credential's first start", actorstest.Is[*actor.Started])
	for i := 0; i <= maxRestarts; i++ {
		e.sys.sys.Root.Send(e.credentialPID(ids[0]), &crash{})
		// Let each restart finish before the next crash (the last crash
		// stops it; the pool then brings it back disabled).
		e.tap.Next(t, who, fmt.Sprintf("the start after crash %d", i+1), actorstest.Is[*actor.Started])
	}
	e.untilCommitted("disabled in storage", func() bool { return e.row(ids[0]).Status == storage.StatusDisabled })
	e.untilPublished(ids[0], "disabled in the pool", func() bool { return e.snapshot()[ids[0]].Status == storage.StatusDisabled })
	l := e.mustAcquire(AcquireOptions{})
	if l.Grant.CredentialID != ids[1] {
		t.Fatalf("got credential %d, want the healthy %d", l.Grant.CredentialID, ids[1])
	}
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
}

func TestRemoveStopsRefreshing(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, nil)
	e.start()
	if err := e.pool.Remove(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.Credential(context.Background(), ids[0]); err == nil {
		t.Fatal("row still there after Remove")
	}
	e.clock.Advance(2 * time.Hour) // past both refresh times
	e.untilRefreshed(ids[1], "survivor refreshed", func() bool { return e.auth.refreshes.Load() >= 1 })
	e.auth.mu.Lock()
	defer e.auth.mu.Unlock()
	for _, rt := range e.auth.seen {
		if rt == "seed-refresh-0" {
			t.Fatal("a removed credential refreshed")
		}
	}
}

func TestDisableAndEnable(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, nil)
	e.start()
	ctx := context.Background()
	if err := e.pool.SetDisabled(ctx, ids[0], true, "maintenance"); err != nil {
		t.Fatal(err)
	}
	e.untilCommitted("disabled persisted", func() bool { return e.row(ids[0]).Status == storage.StatusDisabled })
	if _, err := e.acquire(AcquireOptions{}); unavailable(t, err).Reason != NoCredentials {
		t.Fatal("a disabled credential is still schedulable")
	}
	if err := e.pool.SetDisabled(ctx, ids[0], false, ""); err != nil {
		t.Fatal(err)
	}
	l := e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	if err := e.pool.SetDisabled(ctx, 999, true, ""); err == nil {
		t.Fatal("disabling an unknown credential succeeded")
	}
}

func TestIngestVerdicts(t *testing.T) {
	e := newEnv(t)
	e.seed(1, nil) // holds seed-refresh-0
	e.auth.onboard = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
		switch tok := c.RefreshToken.Reveal(); tok {
		case "free":
			return c, &providers.VerdictError{Err: providers.ErrIneligible, Reason: "UNSUPPORTED_CLIENT: personal accounts", URL: "https://example.com/v"}
		case "dead":
			return c, &providers.VerdictError{Err: providers.ErrReauth, Reason: "invalid_grant"}
		case "flaky":
			return c, fmt.Errorf("token endpoint unreachable")
		default:
			c.Sub, c.Email, c.Account, c.Tier = "sub-"+tok, tok+"@example.com", "proj-"+tok, "standard-tier"
			c.AccessToken, c.Expiry = config.Secret("access-for-"+tok), e.clock.Now().Add(time.Hour)
			return c, nil
		}
	}
	e.start()
	seeds := []providers.Credential{{RefreshToken: "good"}, {RefreshToken: "good"}, {RefreshToken: "seed-refresh-0"},
		{RefreshToken: "free"}, {RefreshToken: "dead"}, {RefreshToken: "flaky"}}
	verdicts, err := e.pool.Add(context.Background(), seeds...)
	if err != nil {
		t.Fatal(err)
	}
	want := []VerdictKind{VerdictAdded, VerdictDuplicate, VerdictDuplicate, VerdictIneligible, VerdictInvalid, VerdictFailed}
	for i, v := range verdicts {
		if v.Result != want[i] || v.Index != i {
			t.Errorf("verdict %d = %+v, want %s", i, v, want[i])
		}
	}
	if verdicts[0].Email != "good@example.com" || verdicts[0].Account != "proj-good" || verdicts[0].CredentialID == 0 {
		t.Errorf("added verdict = %+v", verdicts[0])
	}
	if verdicts[3].Reason != "UNSUPPORTED_CLIENT: personal accounts" {
		t.Errorf("ineligible reason = %q", verdicts[3].Reason)
	}
	// The new credential serves at once, without a restart.
	l := e.mustAcquire(AcquireOptions{Prefer: verdicts[0].CredentialID})
	if l.Grant.CredentialID != verdicts[0].CredentialID {
		t.Fatalf("new credential not schedulable: got %d", l.Grant.CredentialID)
	}
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	// The same account again updates instead of duplicating.
	again, err := e.pool.Add(context.Background(), providers.Credential{RefreshToken: "good"})
	if err != nil || again[0].Result != VerdictDuplicate {
		t.Fatalf("same token again: %+v %v", again, err)
	}
}

func TestAbandonedAcquireReleasesItsLateLease(t *testing.T) {
	e := newEnv(t)
	e.cfg.MaxConcurrentPerCredential = 1
	ids := e.seed(1, func(i int, c *storage.Credential) {
		c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(5 * time.Second)}}
	})
	e.start()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := e.pool.Acquire(ctx, testModel, AcquireOptions{})
		done <- err
	}()
	e.waitersParked(1)
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	// The scheduler still grants the parked request once the cooldown
	// ends; the lease must come back on its own.
	e.clock.Advance(5 * time.Second)
	untilScheduled[*Outcome](e, "late lease released", func() bool {
		v := e.snapshot()[ids[0]]
		return v.Served == 1 && v.InFlight == 0
	})
	l := e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
}

// TestWakeUpProbesBeforeReleasingTheHerd: when the only credential's
// cooldown ends with several requests parked, it gets one of them; the rest
// follow only once that one succeeded. Issue 9 saw up to 22 simultaneous
// 429s on the one account that had just reset.
func TestWakeUpProbesBeforeReleasingTheHerd(t *testing.T) {
	e := newEnv(t)
	e.seed(1, func(i int, c *storage.Credential) {
		c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(5 * time.Second)}}
	})
	e.start()
	const n = 4
	var results []<-chan acquireResult
	for i := 0; i < n; i++ {
		results = append(results, e.asyncAcquire(AcquireOptions{}))
		e.waitersParked(i + 1)
	}
	e.clock.Advance(5 * time.Second)
	// Wait for the first answer (the probe), then make sure no other came.
	cases := make([]reflect.SelectCase, 0, len(results)+1)
	for _, ch := range results {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(time.After(10 * time.Second))})
	first, got, _ := reflect.Select(cases)
	if first == len(results) {
		t.Fatal("timed out waiting for a probe granted after the cooldown")
	}
	r := got.Interface().(acquireResult)
	if r.err != nil {
		t.Fatalf("a second request was granted before the probe's verdict (err %v)", r.err)
	}
	probe := r.lease
	rest := append(results[:first:first], results[first+1:]...)
	for _, ch := range rest {
		select {
		case r := <-ch:
			t.Fatalf("a second request was granted before the probe's verdict (err %v)", r.err)
		default:
		}
	}
	// The others are still parked: granting one would have left fewer.
	if s, err := e.pool.Snapshot(context.Background()); err != nil || s.Waiting != n-1 {
		t.Fatalf("parked after the probe grant: %d (err %v), want %d", s.Waiting, err, n-1)
	}
	e.pool.Report(probe, providers.Outcome{Kind: providers.KindOK})
	for i, ch := range rest {
		r := <-ch
		if r.err != nil {
			t.Fatalf("waiter %d after the probe succeeded: %v", i, r.err)
		}
		e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindOK})
	}
}

// TestParkedRequestRecheckedWhenOutcomeClears: a request that parked while
// the only credential's 429 was being processed is answered as soon as the
// credential reports a cooldown beyond the request's deadline, with that
// reset, instead of waiting out its whole queue timeout for a Retry-After
// of one second (issue 9).
func TestParkedRequestRecheckedWhenOutcomeClears(t *testing.T) {
	e := newEnv(t)
	e.seed(1, nil)
	e.start()
	l := e.mustAcquire(AcquireOptions{})
	// Park while the lease is out (the in-flight lease does not make the
	// credential unready, so hold it with a pending outcome instead): send
	// the 429 and acquire at once; whichever the scheduler sees first, the
	// answer must come at once with the credential's reset.
	reset := t0.Add(time.Minute)
	e.pool.Report(l, providers.Outcome{Kind: providers.KindRateLimited, RetryAt: reset})
	res := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
	select {
	case r := <-res:
		if ue := unavailable(t, r.err); ue.Reason != AllCooling || !ue.RetryAt.Equal(reset) {
			t.Fatalf("got %+v, want all_cooling until the reset", ue)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the parked request was not answered when the outcome cleared (fake clock never advanced)")
	}
}

// TestQuotaReadKeepsSpentModelOff: a limit answer triggers a quota read; a
// model the read reports as spent is cooled until its reset, so no request
// learns it from a 429; a failing read changes nothing and never blocks
// serving; the periodic read runs on the configured interval (issue 9).
func TestQuotaReadKeepsSpentModelOff(t *testing.T) {
	e := newEnv(t)
	e.cfg.QuotaPollSecs = 60
	reset := t0.Add(10 * time.Minute)
	var failing atomic.Bool
	var spent atomic.Int64 // the credential whose model quota is spent
	e.auth.quota = func(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error) {
		if failing.Load() {
			return nil, errors.New("quota rpc down")
		}
		left := 0.9
		if g.CredentialID == spent.Load() {
			left = 0
		}
		return []providers.QuotaBucket{{Model: testModel, Remaining: left, ResetAt: reset},
			{Model: "other", Remaining: 0.7, ResetAt: reset}}, nil
	}
	ids := e.seed(2, nil)
	e.start()
	// The first reads (due at start: no jitter) find headroom everywhere.
	// Each credential arms its first read when it starts.
	for _, id := range ids {
		e.tap.Next(t, credentialActorID(id), "the credential's start", actorstest.Is[*actor.Started])
	}
	e.clock.Advance(0)
	for _, id := range ids {
		e.tap.Next(t, credentialActorID(id), "the first quota read", actorstest.Is[*quotaResult])
	}
	if got := e.auth.quotaReads.Load(); got < 2 {
		t.Fatalf("%d quota reads after the first read of each credential, want 2", got)
	}
	l := e.mustAcquire(AcquireOptions{})
	hit := l.Grant.CredentialID
	spent.Store(hit)
	e.pool.Report(l, providers.Outcome{Kind: providers.KindRateLimited, Status: 429, RetryAt: t0.Add(time.Second)})
	e.untilPublished(hit, "quota read after the 429 cools the spent model until its reset", func() bool {
		cds := e.snapshot()[hit].Cooldowns
		return len(cds) == 1 && cds[0].Until.Equal(reset.Add(resetGrace)) && cds[0].Reason == "quota_spent"
	})
	if v := e.snapshot()[hit]; len(v.Quota) != 2 {
		t.Fatalf("view quota = %+v, want the two buckets read", v.Quota)
	}
	// Past the 429's own reset the credential is still kept off the spent
	// model, and serves the other one.
	e.clock.Advance(2 * time.Second)
	other := ids[0]
	if other == hit {
		other = ids[1]
	}
	for i := 0; i < 3; i++ {
		l := e.mustAcquire(AcquireOptions{})
		if l.Grant.CredentialID != other {
			t.Fatalf("request %d went to the credential whose quota is spent", i)
		}
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	}
	// A failing read never holds up serving.
	failing.Store(true)
	before := e.auth.quotaReads.Load()
	e.clock.Advance(time.Minute)
	e.tap.Until(t, credentialActorID(ids[0]), "periodic reads", actorstest.Is[*quotaResult], func() bool { return e.auth.quotaReads.Load() > before })
	l = e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
}

// TestDeadlineHeldForImminentReset: a parked request whose queue deadline
// comes less than a whole-second rounding before the only cooldown ends is
// not refused while the quota may already be back: it is held to the
// cooldown's end and served there; one whose deadline is further from the
// reset is answered at once with it (issue 9: Codex client 429s while an
// account had quota).
func TestDeadlineHeldForImminentReset(t *testing.T) {
	for _, tc := range []struct {
		name      string
		coolFor   time.Duration // the cooldown's end, from t0
		wantLease bool
	}{
		{"reset 0.5 s after the deadline: held and served", 5500 * time.Millisecond, true},
		{"reset at the slack's edge: held and served", 5*time.Second + resetSlack, true},
		{"reset 2 s after the deadline: refused at once", 7 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.seed(1, func(i int, c *storage.Credential) {
				c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(tc.coolFor)}}
			})
			e.start()
			res := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
			if !tc.wantLease {
				r := <-res
				if ue := unavailable(t, r.err); ue.Reason != AllCooling || !ue.RetryAt.Equal(t0.Add(tc.coolFor-resetGrace)) {
					t.Fatalf("got %+v, want all_cooling until the reset", ue)
				}
				return
			}
			e.waitersParked(1)
			e.clock.Advance(5 * time.Second) // the deadline
			e.waitersParked(1)               // processed after the expiry: still held
			select {
			case r := <-res:
				t.Fatalf("answered at the deadline with %+v, %v; want it held to the reset", r.lease, r.err)
			default:
			}
			e.clock.Set(t0.Add(tc.coolFor))
			r := <-res
			if r.err != nil {
				t.Fatalf("acquire at the reset: %v", r.err)
			}
			e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindOK})
		})
	}
}

// TestHeldRequestRefusedAfterTheReset: two requests held past their
// deadline for one credential's imminent reset; the first is served there
// (the probe), and when the probe finds a new limit the second is refused at
// once with the earliest reset left, not held any longer.
func TestHeldRequestRefusedAfterTheReset(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, func(i int, c *storage.Credential) {
		c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(time.Duration(5500+i*10000) * time.Millisecond)}}
	})
	e.start()
	res := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
	e.waitersParked(1)
	res2 := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
	e.waitersParked(2)
	e.clock.Advance(5 * time.Second)
	e.waitersParked(2)
	e.clock.Set(t0.Add(5500 * time.Millisecond))
	r := <-res
	if r.err != nil || r.lease.Grant.CredentialID != ids[0] {
		t.Fatalf("first held request: %+v, %v; want a lease on %d", r.lease, r.err, ids[0])
	}
	// The probe is out: the second waits for its verdict, which is a new
	// limit.
	next := t0.Add(time.Hour)
	e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindRateLimited, RetryAt: next})
	r2 := <-res2
	if ue := unavailable(t, r2.err); ue.Reason != AllCooling || !ue.RetryAt.Equal(t0.Add(15500*time.Millisecond-resetGrace)) {
		t.Fatalf("second held request: %+v, want all_cooling until the other credential's reset", r2.err)
	}
}

// TestHeldAgainForTheNextReset: requests held at their deadline for one
// credential's reset, which went to the first of them, are held again for
// another credential whose reset is as near, instead of being refused
// between the two (issue 9: Codex client 429s while an account's window had
// just reset).
func TestHeldAgainForTheNextReset(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, func(i int, c *storage.Credential) {
		c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: t0.Add(time.Duration(5300+i*600) * time.Millisecond)}}
	})
	e.start()
	first := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
	e.waitersParked(1)
	second := e.asyncAcquire(AcquireOptions{Wait: 5 * time.Second})
	e.waitersParked(2)
	e.clock.Advance(5 * time.Second) // both deadlines: held to 5.3 s + heldSlack
	e.waitersParked(2)
	e.clock.Set(t0.Add(5300 * time.Millisecond)) // the first wakes: its probe
	r := <-first
	if r.err != nil || r.lease.Grant.CredentialID != ids[0] {
		t.Fatalf("first: %+v, %v; want a lease on %d", r.lease, r.err, ids[0])
	}
	e.waitersParked(1)                                     // the wake-up has armed the next one
	e.clock.Set(t0.Add(5300*time.Millisecond + heldSlack)) // the first hold ends, the probe still out
	e.waitersParked(1)
	e.clock.Set(t0.Add(5900 * time.Millisecond)) // the second credential wakes
	r2 := <-second
	if r2.err != nil || r2.lease.Grant.CredentialID != ids[1] {
		t.Fatalf("second: %+v, %v; want a lease on %d", r2.lease, r2.err, ids[1])
	}
	e.pool.Report(r.lease, providers.Outcome{Kind: providers.KindOK})
	e.pool.Report(r2.lease, providers.Outcome{Kind: providers.KindOK})
}

// TestRemovedCredentialIsGoneAtOnce: once Remove answered, operator
// commands on the credential find nothing, also before its actor's
// Terminated reached the pool (a refresh asked then answered 202).
func TestRemovedCredentialIsGoneAtOnce(t *testing.T) {
	p := &poolActor{children: map[int64]*actor.PID{1: actor.NewPID("nonhost", "c1"), 2: actor.NewPID("nonhost", "c2")},
		removing: map[int64]bool{1: true}}
	if _, ok := p.child(1); ok {
		t.Error("a credential being removed is still a child")
	}
	if _, ok := p.child(2); !ok {
		t.Error("a live credential is not a child")
	}
	e := newEnv(t)
	ids := e.seed(2, nil)
	e.start()
	ctx := context.Background()
	if err := e.pool.Remove(ctx, ids[0]); err != nil {
		t.Fatal(err)
	}
	if err := e.pool.Refresh(ctx, ids[0]); !errors.Is(err, ErrCredentialNotFound) {
		t.Errorf("Refresh after Remove: %v, want ErrCredentialNotFound", err)
	}
	if err := e.pool.SetDisabled(ctx, ids[0], true, ""); !errors.Is(err, ErrCredentialNotFound) {
		t.Errorf("SetDisabled after Remove: %v, want ErrCredentialNotFound", err)
	}
	if err := e.pool.Remove(ctx, ids[0]); !errors.Is(err, ErrCredentialNotFound) {
		t.Errorf("Remove after Remove: %v, want ErrCredentialNotFound", err)
	}
}

// TestEstimateSpentEarlyRereadsQuota: a quota report read while a request
// was in flight counted it, and its success is then counted again, so the
// estimate runs out one request early. With nothing in flight the credential
// reads its quota again, and the request it has left is served rather than
// kept until the reset (issue 9: Gemini client 429s at 150 % load while a
// credential the estimate had spent held a request for 14 s).
func TestEstimateSpentEarlyRereadsQuota(t *testing.T) {
	e := newEnv(t)
	e.cfg.QuotaPollSecs = 60
	e.cfg.Routing = config.RoutingQuota
	const perWindow = 4
	reset := t0.Add(time.Hour)
	var used atomic.Int64 // what the upstream counted
	e.auth.quota = func(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error) {
		return []providers.QuotaBucket{{Model: testModel, Remaining: float64(perWindow-used.Load()) / perWindow, ResetAt: reset}}, nil
	}
	id := e.seed(1, nil)[0]
	e.start()
	e.tap.Next(t, credentialActorID(id), "the credential's start", actorstest.Is[*actor.Started])
	e.clock.Advance(0)
	read := func(what string, left float64) {
		t.Helper()
		e.untilPublished(id, what, func() bool {
			q := e.snapshot()[id].Quota
			return len(q) == 1 && q[0].Remaining == left
		})
	}
	read("the first read", 1)
	take := func() *Lease {
		t.Helper()
		l := e.mustAcquire(AcquireOptions{})
		used.Add(1) // the upstream counts a request when it arrives
		return l
	}
	done := func(l *Lease) {
		t.Helper()
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
		e.tap.Next(t, credentialActorID(id), "the success", actorstest.Is[*Outcome])
	}
	done(take())
	e.clock.Advance(time.Minute)
	read("a read after one success (the cost: a quarter)", 0.75)
	inflight := take()
	e.clock.Advance(time.Minute)
	read("a read that counts the request in flight", 0.5)
	done(inflight) // counted again: the estimate is a request short
	before := e.auth.quotaReads.Load()
	done(take()) // the estimate has the credential spent; the upstream has a request left
	read("the read asked for when the estimate ran out", 0.25)
	if got := e.auth.quotaReads.Load() - before; got != 1 {
		t.Fatalf("%d quota reads after the estimate ran out, want 1", got)
	}
	last := e.mustAcquire(AcquireOptions{Wait: time.Second})
	used.Add(1)
	e.pool.Report(last, providers.Outcome{Kind: providers.KindOK})
}

// TestQuotaReadResetTightenedByAnswers: a quota read that reports the
// account's window spent, with a whole-second reset later than the one its
// answers already bounded, cools the account only to the answers' reset
// (issue 9: a Codex account refused 130 ms after its reset while a usage
// read, taken at an unlucky fraction of a second, cooled it 462 ms more).
func TestQuotaReadResetTightenedByAnswers(t *testing.T) {
	e := newEnv(t)
	e.cfg.QuotaPollSecs = 60
	reset := t0.Add(2*time.Minute + 400*time.Millisecond) // the answers' bound
	var spent atomic.Bool
	e.auth.quota = func(ctx context.Context, g providers.Grant) ([]providers.QuotaBucket, error) {
		if !spent.Load() {
			return []providers.QuotaBucket{{Model: storage.AllModels, Remaining: 0.5, ResetAt: reset}}, nil
		}
		// Read 0.6 s into a second: rounded up, 0.6 s late.
		return []providers.QuotaBucket{{Model: storage.AllModels, Remaining: 0, ResetAt: reset.Add(600 * time.Millisecond)}}, nil
	}
	id := e.seed(1, nil)[0]
	e.start()
	e.tap.Next(t, credentialActorID(id), "the credential's start", actorstest.Is[*actor.Started])
	e.clock.Advance(0)
	e.tap.Next(t, credentialActorID(id), "the first quota read", actorstest.Is[*quotaResult])
	l := e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK,
		Windows: []providers.QuotaWindow{{Name: "primary", UsedPercent: 95, WindowMinutes: 300, ResetAt: reset}}})
	e.tap.Next(t, credentialActorID(id), "the answer's windows", actorstest.Is[*Outcome])
	spent.Store(true)
	e.clock.Advance(time.Minute)
	e.untilPublished(id, "the read that finds the window spent", func() bool {
		cds := e.snapshot()[id].Cooldowns
		return len(cds) == 1 && cds[0].Reason == "quota_spent"
	})
	if got, want := e.snapshot()[id].Cooldowns[0].Until, reset.Add(resetGrace); !got.Equal(want) {
		t.Fatalf("cooling until %v, want %v (the answers' reset and the grace)", got.Sub(t0), want.Sub(t0))
	}
}

// TestPoolRestartBringsCredentialsBack: a pool supervisor that crashes is
// restarted with its children stopped; it starts a fresh scheduler and its
// credentials again, from storage page by page, and serves every one.
func TestPoolRestartBringsCredentialsBack(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(3, nil)
	e.start()
	for _, id := range ids {
		e.tap.Next(t, credentialActorID(id), "its first start", actorstest.Is[*actor.Started])
	}
	e.sys.sys.Root.Send(e.pool.pid, &crash{})
	for _, id := range ids {
		e.tap.Next(t, credentialActorID(id), "its start after the pool's restart", actorstest.Is[*actor.Started])
	}
	e.tap.Until(t, schedulerID, "the new scheduler knows every credential", actorstest.Is[*CredentialChanged],
		func() bool { return len(e.snapshot()) == len(ids) })
	var got []int64
	var leases []*Lease
	for range ids {
		l := e.mustAcquire(AcquireOptions{Exclude: got})
		got = append(got, l.Grant.CredentialID)
		leases = append(leases, l)
	}
	for _, l := range leases {
		e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
	}
	slices.Sort(got)
	if !slices.Equal(got, ids) {
		t.Errorf("served %v after the restart, want %v", got, ids)
	}
}
