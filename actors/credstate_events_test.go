package actors

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/actors/actorstest"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// TestCredStateEvents: each event method of credState, on the fake clock,
// changes the state and returns what the actor must then do.
func TestCredStateEvents(t *testing.T) {
	const model = "gemini-2.5-pro"
	active := func() credState { return credState{status: storage.StatusActive, since: t0.Add(-time.Hour)} }
	with := func(base func() credState, edit func(*credState)) func() credState {
		return func() credState { s := base(); edit(&s); return s }
	}
	coolingAll := with(active, func(s *credState) {
		s.status = storage.StatusCooling
		s.cooldowns = map[string]cooldown{storage.AllModels: {until: t0.Add(time.Minute), reason: "usage_window_spent"}}
	})
	tests := []struct {
		name  string
		state func() credState
		// advance moves the fake clock before the event.
		advance time.Duration
		event   func(s *credState, now time.Time) effects
		want    effects
		// wantStatus, wantRefreshing and wantCool describe the state after.
		wantStatus     storage.Status
		wantRefreshing bool
		wantCool       []string
	}{
		{
			name:  "load drops an ended cooldown and the cooling status with it",
			state: func() credState { return credState{refreshing: true} },
			event: func(s *credState, now time.Time) effects {
				return s.load(&storage.Credential{Status: storage.StatusCooling, StatusSince: t0.Add(-time.Hour),
					Cooldowns: []storage.Cooldown{{Model: storage.AllModels, Until: now.Add(-time.Second)}, {Model: model, Until: now.Add(time.Hour)}}}, now)
			},
			want:       effects{saveState: true, armCooling: true, publish: true, armRefresh: true},
			wantStatus: storage.StatusActive, wantRefreshing: true, wantCool: []string{model},
		},
		{
			name:  "load of a consistent row saves nothing",
			state: func() credState { return credState{} },
			event: func(s *credState, now time.Time) effects {
				return s.load(&storage.Credential{Status: storage.StatusActive}, now)
			},
			want:       effects{armCooling: true, publish: true, armRefresh: true},
			wantStatus: storage.StatusActive,
		},
		{
			name: "an answer that changes nothing asks for nothing", state: active,
			event: func(s *credState, now time.Time) effects {
				return s.outcome(model, providers.Outcome{Kind: providers.KindOK}, now)
			},
			wantStatus: storage.StatusActive,
		},
		{
			name: "a rejected token asks for a refresh and tells the scheduler", state: active,
			event: func(s *credState, now time.Time) effects {
				return s.outcome(model, providers.Outcome{Kind: providers.KindAuthExpired, Status: 401}, now)
			},
			want:       effects{refresh: true, publish: true},
			wantStatus: storage.StatusActive,
		},
		{
			name: "a revoked grant takes the credential out of service", state: active,
			event: func(s *credState, now time.Time) effects {
				return s.outcome(model, providers.Outcome{Kind: providers.KindAuthRevoked, Status: 401}, now)
			},
			want:       effects{saveState: true, stopRefresh: true, publish: true},
			wantStatus: storage.StatusNeedsReauth,
		},
		{
			name: "a spent usage window in an answer cools the whole credential", state: active,
			event: func(s *credState, now time.Time) effects {
				return s.outcome(model, providers.Outcome{Kind: providers.KindOK,
					Windows: []providers.QuotaWindow{{Name: "primary", UsedPercent: 100, ResetAt: now.Add(time.Hour)}}}, now)
			},
			want:       effects{saveState: true, saveCooldowns: true, publish: true},
			wantStatus: storage.StatusCooling, wantCool: []string{storage.AllModels},
		},
		{
			name: "a quota read with headroom only updates the scheduler", state: active,
			event: func(s *credState, now time.Time) effects {
				return s.quotaRead([]providers.QuotaBucket{{Model: model, Remaining: 0.4, ResetAt: now.Add(time.Hour)}}, now)
			},
			want: effects{publish: true}, wantStatus: storage.StatusActive,
		},
		{
			name: "a quota read of a spent account cools it", state: active,
			event: func(s *credState, now time.Time) effects {
				return s.quotaRead([]providers.QuotaBucket{{Model: storage.AllModels, Remaining: 0, ResetAt: now.Add(time.Hour)}}, now)
			},
			want:       effects{saveState: true, saveCooldowns: true, publish: true},
			wantStatus: storage.StatusCooling, wantCool: []string{storage.AllModels},
		},
		{
			name: "the cooling timer before the end changes nothing", state: coolingAll, advance: time.Minute - time.Millisecond,
			event:      func(s *credState, now time.Time) effects { return s.coolingOver(now) },
			want:       effects{armCooling: true},
			wantStatus: storage.StatusCooling, wantCool: []string{storage.AllModels},
		},
		{
			name: "the cooling timer at the end puts the credential back", state: coolingAll, advance: time.Minute,
			event:      func(s *credState, now time.Time) effects { return s.coolingOver(now) },
			want:       effects{saveState: true, saveCooldowns: true, armCooling: true, publish: true},
			wantStatus: storage.StatusActive,
		},
		{
			name: "disabling stops the refresh timer", state: active,
			event:      func(s *credState, now time.Time) effects { return s.setDisabled(true, "", now) },
			want:       effects{saveState: true, stopRefresh: true, publish: true},
			wantStatus: storage.StatusDisabled,
		},
		{
			name: "disabling twice saves nothing", state: with(active, func(s *credState) {
				s.status, s.reason = storage.StatusDisabled, "disabled by an operator"
			}),
			event:      func(s *credState, now time.Time) effects { return s.setDisabled(true, "", now) },
			want:       effects{stopRefresh: true, publish: true},
			wantStatus: storage.StatusDisabled,
		},
		{
			name: "enabling a credential whose account cooldown runs makes it cooling", state: with(coolingAll, func(s *credState) {
				s.status = storage.StatusDisabled
			}),
			event:      func(s *credState, now time.Time) effects { return s.setDisabled(false, "", now) },
			want:       effects{saveState: true, publish: true, armRefresh: true},
			wantStatus: storage.StatusCooling, wantCool: []string{storage.AllModels},
		},
		{
			name: "enabling a credential that is not disabled changes nothing", state: with(active, func(s *credState) {
				s.status = storage.StatusBanned
			}),
			event:      func(s *credState, now time.Time) effects { return s.setDisabled(false, "", now) },
			want:       effects{publish: true},
			wantStatus: storage.StatusBanned,
		},
		{
			name: "a refresh revives a benched credential", state: with(active, func(s *credState) {
				s.status, s.refreshing = storage.StatusNeedsReauth, true
			}),
			event:      func(s *credState, now time.Time) effects { return s.refreshSucceeded(now, now.Add(-time.Second)) },
			want:       effects{saveState: true, publish: true, armRefresh: true},
			wantStatus: storage.StatusActive,
		},
		{
			name: "a refresh refused as banned benches the credential", state: with(active, func(s *credState) { s.refreshing = true }),
			event: func(s *credState, now time.Time) effects {
				return s.refreshEnded(storage.StatusBanned, "suspended", now)
			},
			want:       effects{saveState: true, publish: true},
			wantStatus: storage.StatusBanned,
		},
		{
			name: "a transient refresh failure is retried after a backoff", state: with(active, func(s *credState) { s.refreshing = true }),
			event:      func(s *credState, now time.Time) effects { return s.refreshEnded("", "503", now) },
			want:       effects{publish: true, armRefresh: true, retryIn: refreshRetryBase},
			wantStatus: storage.StatusActive,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := actorstest.NewFakeClock(t0)
			s := tt.state()
			clock.Advance(tt.advance)
			if fx := tt.event(&s, clock.Now()); fx != tt.want {
				t.Errorf("effects = %+v, want %+v", fx, tt.want)
			}
			if s.status != tt.wantStatus || s.refreshing != tt.wantRefreshing {
				t.Errorf("status=%s refreshing=%v, want %s %v", s.status, s.refreshing, tt.wantStatus, tt.wantRefreshing)
			}
			got := s.untilMap(clock.Now())
			if len(got) != len(tt.wantCool) {
				t.Fatalf("running cooldowns = %v, want %v", got, tt.wantCool)
			}
			for _, k := range tt.wantCool {
				if _, ok := got[k]; !ok {
					t.Errorf("no running cooldown for %q: %v", k, got)
				}
			}
		})
	}
}

// TestBeginRefresh: one refresh at a time, none for a credential out of
// service, except an operator's retry of a benched grant.
func TestBeginRefresh(t *testing.T) {
	tests := []struct {
		name                string
		status              storage.Status
		refreshing          bool
		operator, wantBegin bool
	}{
		{"an active credential refreshes", storage.StatusActive, false, false, true},
		{"a cooling credential refreshes", storage.StatusCooling, false, false, true},
		{"not twice at once", storage.StatusActive, true, false, false},
		{"not while benched", storage.StatusNeedsReauth, false, false, false},
		{"not while disabled", storage.StatusDisabled, false, false, false},
		{"an operator retries a benched grant", storage.StatusNeedsReauth, false, true, true},
		{"an operator's retry waits for the running refresh", storage.StatusNeedsReauth, true, true, false},
		{"an operator's retry is only for a benched grant", storage.StatusActive, false, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := credState{status: tt.status, refreshing: tt.refreshing}
			begin := s.beginRefresh
			if tt.operator {
				begin = s.beginOperatorRefresh
			}
			if got := begin(); got != tt.wantBegin || s.refreshing != (tt.refreshing || tt.wantBegin) {
				t.Errorf("begin = %v (refreshing %v), want %v", got, s.refreshing, tt.wantBegin)
			}
		})
	}
}

// TestCoolingEnd: the cooling timer is armed only for a credential-wide
// cooldown still to end; one kept past its end for its backoff must not arm
// a timer that would fire again at once.
func TestCoolingEnd(t *testing.T) {
	clock := actorstest.NewFakeClock(t0)
	s := credState{status: storage.StatusActive}
	s.applyOutcome("m", providers.Outcome{Kind: providers.KindRateLimited, Scope: providers.ScopeCredential}, clock.Now())
	end, ok := s.coolingEnd(clock.Now())
	if !ok || !end.Equal(t0.Add(rateLimitBase)) {
		t.Fatalf("coolingEnd = %v %v, want %v", end, ok, t0.Add(rateLimitBase))
	}
	clock.Advance(rateLimitBase)
	fx := s.coolingOver(clock.Now())
	if !fx.saveState || s.status != storage.StatusActive {
		t.Fatalf("after the cooldown: %+v status %s, want saved and active", fx, s.status)
	}
	if _, kept := s.cooldowns[storage.AllModels]; !kept {
		t.Fatal("the ended cooldown's backoff was forgotten")
	}
	if end, ok := s.coolingEnd(clock.Now()); ok {
		t.Fatalf("coolingEnd = %v for a cooldown that ended", end)
	}
}

// TestVerdictOf: the one map from the providers' verdict sentinels to a
// credential status and an onboarding result.
func TestVerdictOf(t *testing.T) {
	tests := []struct {
		name       string
		err        error
		wantOK     bool
		wantStatus storage.Status
		wantResult VerdictKind
	}{
		{"dead grant", &providers.VerdictError{Err: providers.ErrReauth, Reason: "invalid_grant"}, true, storage.StatusNeedsReauth, VerdictInvalid},
		{"ineligible, wrapped", fmt.Errorf("onboard: %w", &providers.VerdictError{Err: providers.ErrIneligible, Reason: "no licence", URL: "https://x"}),
			true, storage.StatusIneligible, VerdictIneligible},
		{"banned", &providers.VerdictError{Err: providers.ErrBanned}, true, storage.StatusBanned, VerdictBanned},
		{"an unknown sentinel needs a human", &providers.VerdictError{Err: errors.New("odd")}, true, storage.StatusNeedsReauth, VerdictInvalid},
		{"a bare sentinel is no verdict", providers.ErrBanned, false, "", ""},
		{"a transient error", errors.New("connection reset"), false, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, status, result, ok := verdictOf(tt.err)
			if ok != tt.wantOK || status != tt.wantStatus || result != tt.wantResult {
				t.Errorf("verdictOf = %s %s %v, want %s %s %v", status, result, ok, tt.wantStatus, tt.wantResult, tt.wantOK)
			}
			v, ok := VerdictOf(tt.err)
			if ok != tt.wantOK || v.Result != tt.wantResult {
				t.Errorf("VerdictOf = %+v %v", v, ok)
			}
			var ve *providers.VerdictError
			if ok && errors.As(tt.err, &ve) && (v.Reason != ve.Reason || v.URL != ve.URL) {
				t.Errorf("VerdictOf lost the reason or URL: %+v", v)
			}
		})
	}
}
