package actors

import (
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

func TestApplyOutcome(t *testing.T) {
	const model = "gemini-2.5-pro"
	active := func() credState { return credState{status: storage.StatusActive, since: t0.Add(-time.Hour)} }
	tests := []struct {
		name       string
		state      func() credState
		outcome    providers.Outcome
		wantStatus storage.Status
		wantCool   map[string]time.Time // key → until
		wantFx     effects
	}{
		{
			name: "ok changes nothing", state: active, outcome: providers.Outcome{Kind: providers.KindOK},
			wantStatus: storage.StatusActive,
		},
		{
			name: "rate limit with reset time cools the model until then", state: active,
			outcome:    providers.Outcome{Kind: providers.KindRateLimited, RetryAt: t0.Add(54 * time.Second)},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(54*time.Second + resetGrace)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			name: "rate limit without reset time backs off from one second", state: active,
			outcome:    providers.Outcome{Kind: providers.KindRateLimited},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(time.Second)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			name: "repeated rate limit without reset time doubles",
			state: func() credState {
				s := active()
				s.cooldowns = map[string]cooldown{model: {until: t0.Add(-time.Second), backoff: 3}}
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindRateLimited},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(8 * time.Second)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			name: "backoff is capped",
			state: func() credState {
				s := active()
				s.cooldowns = map[string]cooldown{model: {until: t0.Add(-time.Second), backoff: 40}}
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindRateLimited},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(rateLimitMax)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			name: "credential-wide quota cools everything and shows cooling", state: active,
			outcome: providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeCredential,
				RetryAt: t0.Add(3 * time.Hour), Reason: "usage_limit_reached"},
			wantStatus: storage.StatusCooling, wantCool: map[string]time.Time{storage.AllModels: t0.Add(3*time.Hour + resetGrace)},
			wantFx: effects{saveCooldowns: true, saveState: true},
		},
		{
			// Issue 9: no one-hour default; a short backoff and a probe.
			name: "quota without reset time backs off briefly", state: active,
			outcome:    providers.Outcome{Kind: providers.KindQuotaExhausted},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(rateLimitBase)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			// Issue 9, the Codex trap: the account was hit right at its reset
			// and answered with a resets_at already past by our clock.
			name: "quota whose reset is already past backs off briefly, not an hour", state: active,
			outcome: providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeCredential,
				RetryAt: t0.Add(-time.Second), Reason: "usage_limit_reached"},
			wantStatus: storage.StatusCooling, wantCool: map[string]time.Time{storage.AllModels: t0.Add(rateLimitBase)},
			wantFx: effects{saveCooldowns: true, saveState: true},
		},
		{
			name: "repeated past resets grow the backoff",
			state: func() credState {
				s := active()
				s.cooldowns = map[string]cooldown{storage.AllModels: {until: t0.Add(-time.Second), backoff: 2}}
				return s
			},
			outcome: providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeCredential,
				RetryAt: t0.Add(-time.Second)},
			wantStatus: storage.StatusCooling, wantCool: map[string]time.Time{storage.AllModels: t0.Add(4 * time.Second)},
			wantFx: effects{saveCooldowns: true, saveState: true},
		},
		{
			// Issue 9: answers of requests that were in flight together,
			// each past its stated reset when processed, compounded the
			// backoff to 4 s while the quota was full.
			name: "a past reset while the backoff runs does not grow it",
			state: func() credState {
				s := active()
				s.cooldowns = map[string]cooldown{model: {until: t0.Add(time.Second - 5*time.Millisecond), backoff: 1}}
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindQuotaExhausted, RetryAt: t0.Add(-10 * time.Millisecond)},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(time.Second)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			name: "a stated reset ends the cooldown a little after it, never before", state: active,
			outcome: providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeCredential,
				RetryAt: t0.Add(10 * time.Second)},
			wantStatus: storage.StatusCooling, wantCool: map[string]time.Time{storage.AllModels: t0.Add(10*time.Second + resetGrace)},
			wantFx: effects{saveCooldowns: true, saveState: true},
		},
		{
			name: "a shorter limit does not shorten a longer cooldown",
			state: func() credState {
				s := active()
				s.cooldowns = map[string]cooldown{model: {until: t0.Add(time.Hour)}}
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindRateLimited, RetryAt: t0.Add(time.Second)},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(time.Hour)},
		},
		{
			name: "overload cools briefly", state: active,
			outcome:    providers.Outcome{Kind: providers.KindOverloaded},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(overloadDefault)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			name: "model unsupported turns the model off for a long time", state: active,
			outcome:    providers.Outcome{Kind: providers.KindModelUnsupported, Status: 404},
			wantStatus: storage.StatusActive, wantCool: map[string]time.Time{model: t0.Add(modelUnsupportedFor)},
			wantFx: effects{saveCooldowns: true},
		},
		{
			name: "a success ends an account-wide backoff too",
			state: func() credState {
				s := active()
				s.cooldowns = map[string]cooldown{storage.AllModels: {until: t0.Add(-time.Second), backoff: 4}}
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindOK},
			wantStatus: storage.StatusActive, wantFx: effects{saveCooldowns: true},
		},
		{
			name: "401 asks for a refresh", state: active, outcome: providers.Outcome{Kind: providers.KindAuthExpired},
			wantStatus: storage.StatusActive, wantFx: effects{refresh: true},
		},
		{
			name: "a token asked for after a 401 is rejected too: rests and refreshes, never benched",
			state: func() credState {
				s := active()
				s.lastAuthFailure = t0.Add(-time.Minute)
				s.tokenRequestedAt = t0.Add(-50 * time.Second)
				s.authFailures = 1
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindAuthExpired},
			wantStatus: storage.StatusCooling, wantCool: map[string]time.Time{storage.AllModels: t0.Add(authRejectBase)},
			wantFx: effects{saveState: true, saveCooldowns: true, refresh: true},
		},
		{
			name: "401, fresh token, 429, 401: the 429 proved the token, so a plain refresh",
			state: func() credState {
				s := active()
				s.lastAuthFailure = t0.Add(-time.Minute)
				s.tokenRequestedAt = t0.Add(-50 * time.Second)
				s.authFailures = 1
				s.applyOutcome(testModel, providers.Outcome{Kind: providers.KindRateLimited, RetryAt: t0.Add(-time.Second)}, t0.Add(-2*time.Second))
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindAuthExpired},
			wantStatus: storage.StatusActive, wantFx: effects{refresh: true},
		},
		{
			name: "a token whose refresh began before the last 401 gets another refresh",
			state: func() credState {
				s := active()
				s.lastAuthFailure = t0.Add(-time.Minute)
				s.tokenRequestedAt = t0.Add(-2 * time.Minute)
				s.authFailures = 1
				return s
			},
			outcome:    providers.Outcome{Kind: providers.KindAuthExpired},
			wantStatus: storage.StatusActive, wantFx: effects{refresh: true},
		},
		{
			name: "revoked", state: active, outcome: providers.Outcome{Kind: providers.KindAuthRevoked, Reason: "VALIDATION_REQUIRED"},
			wantStatus: storage.StatusNeedsReauth, wantFx: effects{saveState: true},
		},
		{
			name: "banned", state: active, outcome: providers.Outcome{Kind: providers.KindBanned},
			wantStatus: storage.StatusBanned, wantFx: effects{saveState: true},
		},
		{
			name: "ineligible", state: active, outcome: providers.Outcome{Kind: providers.KindIneligible},
			wantStatus: storage.StatusIneligible, wantFx: effects{saveState: true},
		},
		{
			name: "transient is not penalised", state: active, outcome: providers.Outcome{Kind: providers.KindTransient, Status: 503},
			wantStatus: storage.StatusActive,
		},
		{
			name: "bad request is the client's fault", state: active, outcome: providers.Outcome{Kind: providers.KindBadRequest, Status: 400},
			wantStatus: storage.StatusActive,
		},
		{
			name: "ok after backoff forgets the backoff",
			state: func() credState {
				s := active()
				s.cooldowns = map[string]cooldown{model: {until: t0.Add(-time.Second), backoff: 4}}
				return s
			},
			outcome: providers.Outcome{Kind: providers.KindOK}, wantStatus: storage.StatusActive,
			wantFx: effects{saveCooldowns: true},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.state()
			fx := s.applyOutcome(model, tt.outcome, t0)
			if fx != tt.wantFx {
				t.Errorf("effects = %+v, want %+v", fx, tt.wantFx)
			}
			if s.status != tt.wantStatus {
				t.Errorf("status = %s, want %s", s.status, tt.wantStatus)
			}
			got := s.untilMap(t0)
			if len(got) != len(tt.wantCool) {
				t.Fatalf("cooldowns = %v, want %v", got, tt.wantCool)
			}
			for k, want := range tt.wantCool {
				if !got[k].Equal(want) {
					t.Errorf("cooldown[%s] = %v, want %v", k, got[k], want)
				}
			}
		})
	}
}

func TestCoolingStatusEndsWithItsCooldown(t *testing.T) {
	s := credState{status: storage.StatusActive}
	s.applyOutcome("m", providers.Outcome{Kind: providers.KindQuotaExhausted, Scope: providers.ScopeCredential, RetryAt: t0.Add(time.Minute)}, t0)
	if s.status != storage.StatusCooling {
		t.Fatalf("status = %s, want cooling", s.status)
	}
	end := t0.Add(time.Minute + resetGrace)
	if changed, _ := s.expireCooldowns(end.Add(-time.Millisecond)); changed {
		t.Fatal("cooldown ended before its reset plus grace")
	}
	changed, _ := s.expireCooldowns(end)
	if !changed || !s.syncCoolingStatus(end) || s.status != storage.StatusActive {
		t.Fatalf("after expiry: changed=%v status=%s, want active", changed, s.status)
	}
}

func TestRefreshFailed(t *testing.T) {
	tests := []struct {
		name       string
		permanent  bool
		failures   int
		wantStatus storage.Status
		wantRetry  time.Duration
	}{
		{"first transient failure", false, 0, storage.StatusActive, refreshRetryBase},
		{"third transient failure", false, 2, storage.StatusActive, 4 * refreshRetryBase},
		{"transient failures cap", false, 30, storage.StatusActive, refreshRetryMax},
		{"permanent failure needs a human", true, 0, storage.StatusNeedsReauth, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := credState{status: storage.StatusActive, refreshing: true, refreshFailures: tt.failures}
			fx, retry := s.refreshFailed(tt.permanent, "invalid_grant", t0)
			if s.status != tt.wantStatus || retry != tt.wantRetry || s.refreshing {
				t.Errorf("status=%s retry=%v refreshing=%v, want %s %v false", s.status, retry, s.refreshing, tt.wantStatus, tt.wantRetry)
			}
			if fx.saveState != tt.permanent {
				t.Errorf("saveState = %v, want %v", fx.saveState, tt.permanent)
			}
		})
	}
}

func TestRefreshDelay(t *testing.T) {
	tests := []struct {
		name   string
		expiry time.Time
		jitter time.Duration
		want   time.Duration
	}{
		{"an hour left", t0.Add(time.Hour), 30 * time.Second, time.Hour - refreshAhead - 30*time.Second},
		{"already inside the lead time", t0.Add(time.Minute), 0, 0},
		{"expired", t0.Add(-time.Minute), 0, 0},
		{"unknown expiry refreshes now", time.Time{}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := refreshDelay(tt.expiry, t0, tt.jitter); got != tt.want {
				t.Errorf("refreshDelay = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestApplyWindows(t *testing.T) {
	tests := []struct {
		name      string
		windows   []providers.QuotaWindow
		wantUntil time.Time
	}{
		{"headroom left", []providers.QuotaWindow{{Name: "primary", UsedPercent: 80, ResetAt: t0.Add(time.Hour)}}, time.Time{}},
		{"primary spent", []providers.QuotaWindow{{Name: "primary", UsedPercent: 100, ResetAt: t0.Add(time.Hour)},
			{Name: "secondary", UsedPercent: 40, ResetAt: t0.Add(48 * time.Hour)}}, t0.Add(time.Hour)},
		{"both spent: the later reset wins", []providers.QuotaWindow{{Name: "primary", UsedPercent: 100, ResetAt: t0.Add(time.Hour)},
			{Name: "secondary", UsedPercent: 101, ResetAt: t0.Add(48 * time.Hour)}}, t0.Add(48 * time.Hour)},
		{"spent without a reset time is left to the 429", []providers.QuotaWindow{{Name: "primary", UsedPercent: 100}}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := credState{status: storage.StatusActive}
			changed := s.applyWindows(tt.windows, t0)
			got := s.untilMap(t0)[storage.AllModels]
			want := tt.wantUntil
			if !want.IsZero() {
				want = want.Add(resetGrace)
			}
			if changed != !tt.wantUntil.IsZero() || !got.Equal(want) {
				t.Fatalf("changed=%v until=%v, want until %v", changed, got, tt.wantUntil)
			}
		})
	}
}

func TestApplyQuota(t *testing.T) {
	tests := []struct {
		name     string
		buckets  []providers.QuotaBucket
		wantCool map[string]time.Time
	}{
		{"headroom everywhere", []providers.QuotaBucket{{Model: "m", Remaining: 0.3, ResetAt: t0.Add(time.Hour)}}, nil},
		{"a spent model cools until its reset", []providers.QuotaBucket{{Model: "m", Remaining: 0, ResetAt: t0.Add(time.Hour)},
			{Model: "n", Remaining: 0.5, ResetAt: t0.Add(time.Hour)}}, map[string]time.Time{"m": t0.Add(time.Hour + resetGrace)}},
		{"a spent account cools everything", []providers.QuotaBucket{{Model: storage.AllModels, Remaining: 0, ResetAt: t0.Add(time.Minute)}},
			map[string]time.Time{storage.AllModels: t0.Add(time.Minute + resetGrace)}},
		{"spent without a reset is left to the 429", []providers.QuotaBucket{{Model: "m", Remaining: 0}}, nil},
		{"spent with a reset already past says nothing", []providers.QuotaBucket{{Model: "m", Remaining: 0, ResetAt: t0.Add(-time.Second)}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := credState{status: storage.StatusActive}
			changed := s.applyQuota(tt.buckets, t0)
			got := s.untilMap(t0)
			if changed != (len(tt.wantCool) > 0) || len(got) != len(tt.wantCool) {
				t.Fatalf("changed=%v cooldowns=%v, want %v", changed, got, tt.wantCool)
			}
			for k, want := range tt.wantCool {
				if !got[k].Equal(want) {
					t.Errorf("cooldown[%s] = %v, want %v", k, got[k], want)
				}
			}
		})
	}
}

// TestTightenResets: whole-second resets rounded up by the upstream are
// narrowed to the earliest bound stated for the same window; a new window
// starts afresh (issue 9: an account idle up to a second after its reset).
func TestTightenResets(t *testing.T) {
	win := func(name string, at time.Time) providers.QuotaWindow {
		return providers.QuotaWindow{Name: name, UsedPercent: 50, WindowMinutes: 300, ResetAt: at}
	}
	reset := t0.Add(10 * time.Second)
	tests := []struct {
		name      string
		prev      []providers.QuotaWindow
		next      providers.QuotaWindow
		retryAt   time.Time
		wantReset time.Time
		wantRetry time.Time
	}{
		{"no earlier report", nil, win("primary", reset), time.Time{}, reset, time.Time{}},
		{"earlier bound of the same window", []providers.QuotaWindow{win("primary", reset.Add(-700*time.Millisecond))},
			win("primary", reset), reset, reset.Add(-700 * time.Millisecond), reset.Add(-700 * time.Millisecond)},
		{"later bound kept out", []providers.QuotaWindow{win("primary", reset.Add(400*time.Millisecond))},
			win("primary", reset), time.Time{}, reset, time.Time{}},
		{"a new window", []providers.QuotaWindow{win("primary", reset.Add(-5*time.Hour))},
			win("primary", reset), reset, reset, reset},
		{"another window's reset", []providers.QuotaWindow{win("secondary", reset.Add(-500*time.Millisecond))},
			win("primary", reset), reset, reset, reset},
		{"a retry time of another window", []providers.QuotaWindow{win("primary", reset.Add(-500*time.Millisecond))},
			win("primary", reset), reset.Add(time.Hour), reset.Add(-500 * time.Millisecond), reset.Add(time.Hour)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			next := []providers.QuotaWindow{tc.next}
			prev := append([]providers.QuotaWindow(nil), tc.prev...)
			got := tightenResets(prev, next)
			if !got[0].ResetAt.Equal(tc.wantReset) {
				t.Errorf("reset %v, want %v", got[0].ResetAt, tc.wantReset)
			}
			if !next[0].ResetAt.Equal(tc.next.ResetAt) {
				t.Errorf("next modified: %v", next[0].ResetAt)
			}
			if r := tightenRetryAt(tc.retryAt, got); !r.Equal(tc.wantRetry) {
				t.Errorf("retry at %v, want %v", r, tc.wantRetry)
			}
		})
	}
}
