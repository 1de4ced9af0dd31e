package actors

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// TestRefreshMarkedBeforeUpstreamAndClearedWithTokens: a refresh writes its
// mark before the token endpoint is called, and the new tokens clear it.
func TestRefreshMarkedBeforeUpstreamAndClearedWithTokens(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, func(i int, c *storage.Credential) { c.Expiry = t0.Add(-time.Minute) })
	marked := make(chan bool, 1)
	e.auth.refresh = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
		_, ok, err := e.db.RefreshMark(ctx, c.ID)
		marked <- ok && err == nil
		c.AccessToken, c.RefreshToken, c.Expiry = "access-new", "refresh-new", e.clock.Now().Add(time.Hour)
		return c, nil
	}
	e.start()
	if !<-marked {
		t.Fatal("the token endpoint was called before the refresh mark was stored")
	}
	e.untilCommitted("mark cleared with the new tokens", func() bool {
		_, ok, _ := e.db.RefreshMark(context.Background(), ids[0])
		return !ok && e.row(ids[0]).RefreshToken.Reveal() == "refresh-new"
	})
}

// TestRefreshCutShortByCrashSaysSignInAgain: a mark left by a crash makes the
// credential refresh at once on start; when the stored (rotated) token is
// dead the credential is needs_reauth with "sign in again" in its reason,
// and when it still works the credential stays active and the mark goes.
func TestRefreshCutShortByCrashSaysSignInAgain(t *testing.T) {
	for _, dead := range []bool{true, false} {
		name := "token still works"
		if dead {
			name = "token rotated away"
		}
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			ids := e.seed(2, nil) // tokens valid for an hour: no refresh due
			if err := e.db.WriteTx(context.Background(), func(tx *storage.Tx) error {
				return tx.MarkRefresh(context.Background(), ids[0], t0.Add(-time.Minute))
			}); err != nil {
				t.Fatal(err)
			}
			if dead {
				e.auth.refresh = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
					return c, &providers.VerdictError{Err: providers.ErrReauth, Reason: "refresh_token_reused"}
				}
			}
			e.start()
			e.untilCommitted("the interrupted credential settles", func() bool {
				r := e.row(ids[0])
				if dead {
					return r.Status == storage.StatusNeedsReauth
				}
				_, ok, _ := e.db.RefreshMark(context.Background(), ids[0])
				return !ok && r.RefreshToken.Reveal() != "seed-refresh-0"
			})
			if r := e.row(ids[0]); dead && (!strings.HasPrefix(r.StatusReason, "sign in again") || !strings.Contains(r.StatusReason, "refresh_token_reused")) {
				t.Errorf("reason %q, want it to say sign in again and keep the upstream's reason", r.StatusReason)
			}
			if got := e.auth.refreshes.Load(); got != 1 {
				t.Errorf("%d refreshes, want 1 (only the interrupted credential)", got)
			}
			if r := e.row(ids[1]); r.Status != storage.StatusActive {
				t.Errorf("the other credential is %s", r.Status)
			}
		})
	}
}

// TestSyncCooldownsCommitsReportedLimits: once SyncCooldowns returns, the
// cooldown of a 429 reported just before is in the database (read at once,
// without waiting; run with -count to catch a race).
func TestSyncCooldownsCommitsReportedLimits(t *testing.T) {
	e := newEnv(t)
	e.seed(2, nil)
	e.start()
	l := e.mustAcquire(AcquireOptions{})
	until := e.clock.Now().Add(time.Hour)
	e.pool.Report(l, providers.Outcome{Kind: providers.KindRateLimited, Status: 429, RetryAt: until})
	if err := e.pool.SyncCooldowns(context.Background(), []int64{l.Grant.CredentialID}); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, cd := range e.row(l.Grant.CredentialID).Cooldowns {
		found = found || (cd.Model == l.Model && !cd.Until.Before(until.Add(-time.Second)))
	}
	if !found {
		t.Fatalf("after SyncCooldowns the 429's cooldown is not stored: %+v", e.row(l.Grant.CredentialID).Cooldowns)
	}
	if err := e.pool.SyncCooldowns(context.Background(), []int64{999}); err != nil {
		t.Errorf("unknown credential: %v", err)
	}
}

// TestAuth401Then429Then401StaysActive: 401 → refresh → 429 → 401 is not
// evidence that the grant is dead (the 429 proved the fresh token works):
// the credential stays active and refreshes again.
func TestAuth401Then429Then401StaysActive(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, nil)
	e.start()
	l := e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindAuthExpired, Status: 401})
	e.untilRefreshed(ids[0], "first refresh", func() bool { return e.auth.refreshes.Load() == 1 })
	l = e.mustAcquire(AcquireOptions{Prefer: ids[0]})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindRateLimited, Status: 429, RetryAt: e.clock.Now().Add(time.Second)})
	if err := e.pool.SyncCooldowns(context.Background(), ids); err != nil { // the 429 is folded in
		t.Fatal(err)
	}
	e.clock.Advance(2 * time.Second)
	l = e.mustAcquire(AcquireOptions{Prefer: ids[0]})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindAuthExpired, Status: 401})
	e.untilRefreshed(ids[0], "second refresh", func() bool { return e.auth.refreshes.Load() == 2 })
	if r := e.row(ids[0]); r.Status == storage.StatusNeedsReauth {
		t.Fatalf("benched after 401/429/401: %s", r.StatusReason)
	}
	l = e.mustAcquire(AcquireOptions{Prefer: ids[0]})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
}

// TestOperatorRefreshRevivesNeedsReauth: :refresh on a needs_reauth
// credential tries its grant, and a refresh that works makes it active.
func TestOperatorRefreshRevivesNeedsReauth(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(1, func(i int, c *storage.Credential) {
		c.Status, c.StatusReason = storage.StatusNeedsReauth, "upstream rejects freshly refreshed tokens: 401"
	})
	e.start()
	if err := e.pool.Refresh(context.Background(), ids[0]); err != nil {
		t.Fatal(err)
	}
	e.untilCommitted("revived", func() bool { return e.row(ids[0]).Status == storage.StatusActive })
	// The credential saves its state before it tells the scheduler.
	e.untilPublished(ids[0], "revived in the pool", func() bool { return e.snapshot()[ids[0]].Status == storage.StatusActive })
	l := e.mustAcquire(AcquireOptions{})
	e.pool.Report(l, providers.Outcome{Kind: providers.KindOK})
}

// TestReaddingBenchedTokenRevalidates: re-adding the token of a
// needs_reauth credential is not a duplicate: it is checked again, and the
// credential comes back.
func TestReaddingBenchedTokenRevalidates(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, func(i int, c *storage.Credential) {
		if i == 0 {
			c.Status = storage.StatusNeedsReauth
		}
	})
	e.auth.onboard = func(ctx context.Context, c providers.Credential) (providers.Credential, error) {
		c.Sub, c.Account, c.Email = "sub-0", "proj-0", "u0@example.com"
		c.AccessToken, c.Expiry = "access-revalidated", e.clock.Now().Add(time.Hour)
		return c, nil
	}
	e.start()
	verdicts, err := e.pool.Add(context.Background(), providers.Credential{RefreshToken: "seed-refresh-0"}, providers.Credential{RefreshToken: "seed-refresh-1"})
	if err != nil {
		t.Fatal(err)
	}
	if verdicts[0].Result != VerdictUpdated || verdicts[0].CredentialID != ids[0] {
		t.Errorf("benched credential's token: %+v, want updated", verdicts[0])
	}
	if verdicts[1].Result != VerdictDuplicate {
		t.Errorf("active credential's token: %+v, want duplicate", verdicts[1])
	}
	e.untilCommitted("revived", func() bool { return e.row(ids[0]).Status == storage.StatusActive })
}
