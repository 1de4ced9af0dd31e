package actors

import (
	"time"

	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/storage"
)

// Policy constants of the credential state machine. They are deliberately
// conservative: a cooldown that is too long costs one credential for a while,
// one that is too short costs a client a failed attempt.
const (
	// refreshAhead is how long before expiry a token is refreshed.
	refreshAhead = 5 * time.Minute
	// refreshJitterMax spreads refreshes of credentials loaded together.
	refreshJitterMax = time.Minute
	// refreshRetryBase and refreshRetryMax bound the backoff after a
	// transient refresh failure.
	refreshRetryBase = 5 * time.Second
	refreshRetryMax  = 5 * time.Minute
	// rateLimitBase and rateLimitMax bound the backoff when the upstream
	// rate-limits or reports a spent quota without a reset time still to
	// come (missing, or already past by our clock). The cooldown stays
	// short and grows with each repeat; after it one probe request finds
	// out (the scheduler lets only one through). A long default here is
	// what trapped a whole Codex pool for an hour (issue 9).
	rateLimitBase = time.Second
	rateLimitMax  = 5 * time.Minute
	// resetGrace is added to every reset time the upstream states: a
	// cooldown ends a little after the upstream's window resets, never
	// before. It is short: a relative reset is measured from when the
	// answer arrived (already late by its transit), whole-second resets are
	// rounded up by the upstream, and quota that sits unused after its
	// reset is quota a waiting request could have had. A reset hit early
	// anyway costs one probe's 429 and a one-second backoff.
	resetGrace = 30 * time.Millisecond
	// overloadDefault is the cooldown for upstream capacity trouble.
	overloadDefault = 3 * time.Second
	// modelUnsupportedFor is how long a model stays off for a credential
	// that the upstream said cannot use it.
	modelUnsupportedFor = 6 * time.Hour
	// maxAuthFailures: when a token requested after a 401 is rejected too,
	// the credential rests (authRejectBase, doubling up to authRejectMax)
	// while it refreshes again. It is not benched: needs_reauth is decided
	// by the refresh failing for good, never by counting 401s.
	maxAuthFailures = 2
	authRejectBase  = 30 * time.Second
	authRejectMax   = 10 * time.Minute
)

// cooldown is one (credential, model) or credential-wide cooldown.
type cooldown struct {
	until   time.Time
	backoff int
	reason  string
}

// credState is the persisted and scheduling-relevant state of one
// credential, without its tokens. Its methods are pure: time is passed in.
type credState struct {
	status    storage.Status
	reason    string
	since     time.Time
	cooldowns map[string]cooldown // model, or storage.AllModels

	// Volatile: not persisted.
	refreshing      bool
	refreshFailures int
	// tokenRequestedAt is when the refresh that produced the current token
	// began; lastAuthFailure when the upstream last rejected a token;
	// authFailures counts rejections of tokens requested after the previous
	// rejection.
	tokenRequestedAt time.Time
	lastAuthFailure  time.Time
	authFailures     int
	lastError        string
}

// effects says what a transition requires of the actor shell, which does it
// in this order (credentialActor.apply): persist, stop or start a refresh,
// re-arm the cooling timer, notify the scheduler, schedule the next refresh.
// credState is the only writer of its fields: the shell reads them and
// applies effects, never assigns them.
type effects struct {
	// saveState: persist status, reason and since (SaveState).
	saveState bool
	// saveCooldowns: persist the cooldowns (SaveCooldowns); the cooling
	// timer is re-armed as well.
	saveCooldowns bool
	// stopRefresh: the credential stopped serving (or was disabled): stop
	// the refresh timer.
	stopRefresh bool
	// refresh: the upstream rejected the access token: refresh now.
	refresh bool
	// armCooling: re-arm the cooling timer (also implied by saveCooldowns).
	armCooling bool
	// publish: send the scheduler the credential's lease data.
	publish bool
	// armRefresh: schedule the next refresh, after retryIn when it is set,
	// else a little before the token expires.
	armRefresh bool
	retryIn    time.Duration
}

// load replaces the state with a stored row's, as the actor (re)starts or
// reloads, dropping cooldowns that ended meanwhile. A refresh in flight is
// kept: it will report, and one refresh runs at a time.
func (s *credState) load(row *storage.Credential, now time.Time) effects {
	*s = credState{status: row.Status, reason: row.StatusReason, since: row.StatusSince, refreshing: s.refreshing}
	if len(row.Cooldowns) > 0 {
		// None is a nil map (extendCooldown makes one): 10,000 idle
		// credentials do not each hold an empty one.
		s.cooldowns = make(map[string]cooldown, len(row.Cooldowns))
	}
	for _, cd := range row.Cooldowns {
		s.cooldowns[cd.Model] = cooldown{until: cd.Until, backoff: cd.Backoff, reason: cd.Reason}
	}
	s.expireCooldowns(now)
	return effects{saveState: s.syncCoolingStatus(now), armCooling: true, publish: true, armRefresh: true}
}

// outcome folds one request's outcome for model into the state: the
// upstream's verdict (applyOutcome) and, when the answer reported them, its
// usage windows (o.Windows, already tightened by the shell).
func (s *credState) outcome(model string, o providers.Outcome, now time.Time) effects {
	wasServing := s.serving()
	fx := s.applyOutcome(model, o, now)
	if o.Windows != nil {
		fx.saveCooldowns = s.applyWindows(o.Windows, now) || fx.saveCooldowns
		if fx.saveCooldowns {
			fx.saveState = s.syncCoolingStatus(now) || fx.saveState
		}
	}
	fx.stopRefresh = wasServing && !s.serving()
	fx.publish = fx.saveState || fx.saveCooldowns || fx.refresh
	return fx
}

// quotaRead folds a quota report into the state (applyQuota).
func (s *credState) quotaRead(buckets []providers.QuotaBucket, now time.Time) effects {
	fx := effects{publish: true}
	if s.applyQuota(buckets, now) {
		fx.saveCooldowns = true
		fx.saveState = s.syncCoolingStatus(now)
	}
	return fx
}

// coolingOver ends the cooldowns that are over when the cooling timer
// fires, and the cooling status with the credential-wide one.
func (s *credState) coolingOver(now time.Time) effects {
	changed, _ := s.expireCooldowns(now)
	fx := effects{armCooling: true}
	if s.syncCoolingStatus(now) {
		fx.saveState = true
		changed = true
	}
	fx.saveCooldowns, fx.publish = changed, changed
	return fx
}

// setDisabled takes the credential out of service (disabled) or puts a
// disabled one back, as an operator asked.
func (s *credState) setDisabled(disabled bool, reason string, now time.Time) effects {
	fx := effects{publish: true}
	if disabled {
		fx.saveState = s.setStatus(storage.StatusDisabled, reasonOr(reason, "disabled by an operator"), now)
		fx.stopRefresh = true
	} else if s.status == storage.StatusDisabled {
		s.setStatus(storage.StatusActive, "", now)
		s.syncCoolingStatus(now)
		fx.saveState, fx.armRefresh = true, true
	}
	return fx
}

// beginRefresh marks a refresh as started and reports whether one may start:
// not while another runs, nor for a credential out of service.
func (s *credState) beginRefresh() bool {
	if s.refreshing || !s.serving() {
		return false
	}
	s.refreshing = true
	return true
}

// beginOperatorRefresh starts a refresh an operator asked for on a benched
// (needs_reauth) credential, reporting whether it did: the grant gets
// another try; refreshSucceeded revives the credential.
func (s *credState) beginOperatorRefresh() bool {
	if s.status != storage.StatusNeedsReauth || s.refreshing {
		return false
	}
	s.refreshing = true
	return true
}

// coolingEnd is when the credential-wide cooldown ends, if one is still to
// end: the moment the cooling timer must fire. A cooldown already over but
// kept for its backoff needs no timer (its status was synced when it ended;
// a timer at a past instant would fire again at once, forever).
func (s *credState) coolingEnd(now time.Time) (time.Time, bool) {
	cd, ok := s.cooldowns[storage.AllModels]
	if !ok || !cd.until.After(now) {
		return time.Time{}, false
	}
	return cd.until, true
}

// serving reports whether the status lets the credential take requests at
// all (cooldowns aside).
func (s *credState) serving() bool {
	switch s.status {
	case storage.StatusActive, storage.StatusCooling:
		return true
	case storage.StatusNeedsReauth, storage.StatusIneligible, storage.StatusBanned, storage.StatusDisabled:
		return false
	}
	return false
}

func (s *credState) setStatus(st storage.Status, reason string, now time.Time) bool {
	if s.status == st && s.reason == reason {
		return false
	}
	s.status, s.reason, s.since = st, reason, now
	return true
}

// applyOutcome folds one upstream verdict on a request for model into the
// state.
func (s *credState) applyOutcome(model string, o providers.Outcome, now time.Time) effects {
	var fx effects
	if o.Kind != providers.KindOK && o.Kind != providers.KindAbandoned && o.Kind != providers.KindBadRequest {
		s.lastError = o.Kind.String()
		if o.Reason != "" {
			s.lastError += ": " + o.Reason
		}
	}
	key := model
	if o.Scope == providers.ScopeCredential {
		key = storage.AllModels
	}
	switch o.Kind {
	case providers.KindRateLimited, providers.KindQuotaExhausted, providers.KindOverloaded,
		providers.KindModelUnsupported, providers.KindBadRequest:
		// The upstream judged the request past its token: the token
		// works, so earlier 401s are no evidence against the grant.
		s.authFailures = 0
	case providers.KindOK, providers.KindAuthExpired, providers.KindAuthRevoked, providers.KindBanned,
		providers.KindIneligible, providers.KindTransient, providers.KindAbandoned:
	}
	switch o.Kind {
	case providers.KindOK:
		s.authFailures = 0
		// A success ends the backoff of the model's limit and of an
		// account-wide one (Codex limits are account-wide): otherwise every
		// later 429 doubles a cooldown that no success can reset.
		for _, k := range [2]string{model, storage.AllModels} {
			if cd, ok := s.cooldowns[k]; ok && cd.backoff > 0 {
				if cd.until.After(now) {
					cd.backoff = 0
					s.cooldowns[k] = cd
				} else {
					delete(s.cooldowns, k)
				}
				fx.saveCooldowns = true
			}
		}
	case providers.KindRateLimited, providers.KindQuotaExhausted:
		prev := s.cooldowns[key]
		def := "rate_limited"
		if o.Kind == providers.KindQuotaExhausted {
			def = "quota_exhausted"
		}
		cd := cooldown{reason: reasonOr(o.Reason, def)}
		if o.RetryAt.After(now) {
			cd.until = o.RetryAt.Add(resetGrace)
		} else {
			// No reset to come: a short, growing backoff, never a long
			// default. It grows when a request sent after the last backoff
			// ended (its probe) is limited again; the 429s of requests that
			// were in flight together, answered while it runs, are one
			// piece of evidence, not repeats (issue 9: three such answers,
			// processed just after the reset they stated, cooled a Gemini
			// credential for 4 s with its quota full).
			cd.backoff = prev.backoff + 1
			if prev.backoff > 0 && prev.until.After(now) {
				cd.backoff = prev.backoff
			}
			cd.until = now.Add(backoff(rateLimitBase, rateLimitMax, cd.backoff))
		}
		fx.saveCooldowns = s.extendCooldown(key, cd)
	case providers.KindOverloaded:
		fx.saveCooldowns = s.extendCooldown(key, cooldown{
			until: retryAtOr(o.RetryAt, now, overloadDefault), reason: reasonOr(o.Reason, "overloaded"),
		})
	case providers.KindModelUnsupported:
		fx.saveCooldowns = s.extendCooldown(model, cooldown{
			until: now.Add(modelUnsupportedFor), reason: reasonOr(o.Reason, "model_unsupported"),
		})
	case providers.KindAuthExpired:
		// Only a token asked for after the previous rejection counts
		// against the credential: one whose refresh was already under way
		// may predate whatever invalidated the tokens.
		if !s.lastAuthFailure.IsZero() && s.tokenRequestedAt.After(s.lastAuthFailure) {
			s.authFailures++
		} else {
			s.authFailures = 1
		}
		s.lastAuthFailure = now
		fx.refresh = true
		if s.authFailures >= maxAuthFailures {
			// Fresh tokens rejected again. Whether the grant is dead is
			// the refresh's to say; meanwhile the credential rests instead
			// of spinning through refreshes.
			fx.saveCooldowns = s.extendCooldown(storage.AllModels, cooldown{
				until:  now.Add(backoff(authRejectBase, authRejectMax, s.authFailures-maxAuthFailures+1)),
				reason: "upstream rejects freshly refreshed tokens: " + reasonOr(o.Reason, "401"),
			})
		}
	case providers.KindAuthRevoked:
		reason := reasonOr(o.Reason, "auth_revoked")
		if o.URL != "" {
			// Operators need the page to unblock the account.
			reason += ": " + o.URL
		}
		fx.saveState = s.setStatus(storage.StatusNeedsReauth, reason, now)
	case providers.KindBanned:
		fx.saveState = s.setStatus(storage.StatusBanned, reasonOr(o.Reason, "banned"), now)
	case providers.KindIneligible:
		fx.saveState = s.setStatus(storage.StatusIneligible, reasonOr(o.Reason, "ineligible"), now)
	case providers.KindTransient, providers.KindBadRequest, providers.KindAbandoned:
		// Rotate without penalty; nothing to remember.
	}
	if fx.saveCooldowns {
		fx.saveState = s.syncCoolingStatus(now) || fx.saveState
	}
	return fx
}

// applyWindows cools the whole credential until the reset of any usage
// window the upstream reports as spent, so no request is sent only to
// collect a 429. It reports whether a cooldown changed.
func (s *credState) applyWindows(ws []providers.QuotaWindow, now time.Time) bool {
	var until time.Time
	for _, w := range ws {
		if w.UsedPercent >= 100 && w.ResetAt.After(now) && w.ResetAt.After(until) {
			until = w.ResetAt
		}
	}
	if until.IsZero() {
		return false
	}
	until = until.Add(resetGrace)
	return s.extendCooldown(storage.AllModels, cooldown{until: until, reason: "usage_window_spent"})
}

// applyQuota cools a model (or, for an account-wide bucket, the whole
// credential) whose quota the upstream reports as spent, until its reset, so
// the spent quota is learned from the quota report instead of from a 429.
// It reports whether a cooldown changed.
func (s *credState) applyQuota(buckets []providers.QuotaBucket, now time.Time) bool {
	changed := false
	for _, b := range buckets {
		if b.Remaining > 0 || !b.ResetAt.After(now) || b.Model == "" {
			continue
		}
		changed = s.extendCooldown(b.Model, cooldown{until: b.ResetAt.Add(resetGrace), reason: "quota_spent"}) || changed
	}
	return changed
}

// extendCooldown sets key's cooldown unless an existing one already lasts
// longer. It reports whether anything changed.
func (s *credState) extendCooldown(key string, cd cooldown) bool {
	if s.cooldowns == nil {
		s.cooldowns = make(map[string]cooldown)
	}
	if prev, ok := s.cooldowns[key]; ok && prev.until.After(cd.until) {
		if cd.backoff > prev.backoff {
			prev.backoff = cd.backoff
			s.cooldowns[key] = prev
			return true
		}
		return false
	}
	s.cooldowns[key] = cd
	return true
}

// syncCoolingStatus keeps status "cooling" exactly while a credential-wide
// cooldown runs. It reports whether the status changed.
func (s *credState) syncCoolingStatus(now time.Time) bool {
	cd, ok := s.cooldowns[storage.AllModels]
	cooling := ok && cd.until.After(now)
	switch {
	case cooling && s.status == storage.StatusActive:
		return s.setStatus(storage.StatusCooling, cd.reason, now)
	case !cooling && s.status == storage.StatusCooling:
		return s.setStatus(storage.StatusActive, "", now)
	}
	return false
}

// expireCooldowns drops cooldowns that ended without a backoff to remember
// and returns whether anything changed, plus the next time a cooldown ends.
func (s *credState) expireCooldowns(now time.Time) (changed bool, next time.Time) {
	for k, cd := range s.cooldowns {
		if !cd.until.After(now) {
			if cd.backoff == 0 {
				delete(s.cooldowns, k)
				changed = true
			}
			continue
		}
		if next.IsZero() || cd.until.Before(next) {
			next = cd.until
		}
	}
	return changed, next
}

// refreshSucceeded records new tokens from a refresh that began at
// requestedAt.
func (s *credState) refreshSucceeded(now, requestedAt time.Time) effects {
	s.refreshing = false
	s.refreshFailures = 0
	s.tokenRequestedAt = requestedAt
	fx := effects{publish: true, armRefresh: true}
	if s.status == storage.StatusNeedsReauth {
		// A successful refresh proves the grant is alive again.
		fx.saveState = s.setStatus(storage.StatusActive, "", now)
	}
	return fx
}

// refreshEnded records a failed refresh. verdict is the status a permanent
// failure puts the credential in (statusOfVerdict), "" for a transient one,
// which is retried after a growing backoff (effects.retryIn).
func (s *credState) refreshEnded(verdict storage.Status, reason string, now time.Time) effects {
	s.refreshing = false
	s.lastError = "refresh: " + reason
	if verdict != "" {
		return effects{saveState: s.setStatus(verdict, reason, now), publish: true}
	}
	s.refreshFailures++
	return effects{publish: true, armRefresh: true, retryIn: backoff(refreshRetryBase, refreshRetryMax, s.refreshFailures)}
}

// refreshFailed is refreshEnded for a failure that is permanent (the grant
// is dead: needs_reauth) or not, returning when to try again (zero for a
// permanent failure).
func (s *credState) refreshFailed(permanent bool, reason string, now time.Time) (effects, time.Duration) {
	var verdict storage.Status
	if permanent {
		verdict = storage.StatusNeedsReauth
	}
	fx := s.refreshEnded(verdict, reason, now)
	return fx, fx.retryIn
}

// storageCooldowns converts the cooldown map for persistence.
func (s *credState) storageCooldowns() []storage.Cooldown {
	out := make([]storage.Cooldown, 0, len(s.cooldowns))
	for model, cd := range s.cooldowns {
		out = append(out, storage.Cooldown{Model: model, Until: cd.until, Backoff: cd.backoff, Reason: cd.reason})
	}
	return out
}

// untilMap copies the cooldown ends for the scheduler.
func (s *credState) untilMap(now time.Time) map[string]time.Time {
	var out map[string]time.Time
	for model, cd := range s.cooldowns {
		if cd.until.After(now) {
			if out == nil {
				out = make(map[string]time.Time, len(s.cooldowns))
			}
			out[model] = cd.until
		}
	}
	return out
}

// refreshDelay returns how long from now to refresh a token expiring at
// expiry, with jitter in [0, refreshJitterMax).
func refreshDelay(expiry, now time.Time, jitter time.Duration) time.Duration {
	if expiry.IsZero() {
		return 0
	}
	d := expiry.Sub(now) - refreshAhead - jitter
	if d < 0 {
		return 0
	}
	return d
}

// backoff returns base·2^(n-1), capped at max.
func backoff(base, max time.Duration, n int) time.Duration {
	if n <= 1 {
		return base
	}
	d := base
	for i := 1; i < n; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	return d
}

func retryAtOr(at, now time.Time, def time.Duration) time.Time {
	if at.After(now) {
		return at.Add(resetGrace)
	}
	return now.Add(def)
}

func reasonOr(reason, def string) string {
	if reason == "" {
		return def
	}
	return reason
}

// sameResetSlack is how far apart two statements of one window's reset can
// lie: whole-second rounding plus the answers' transit times.
const sameResetSlack = 1500 * time.Millisecond

// tightenResets narrows next's reset times with what earlier reports of the
// same windows said. A whole-second relative reset (Codex's
// reset-after-seconds, resets_in_seconds) is rounded up by the upstream, so
// each answer states an upper bound on the true reset that is up to a second
// late; answers arrive at varied fractions of a second, and the earliest
// bound stated for a window is the tightest true one. Without it an account
// sat idle for up to a second after its window reset while requests waited
// for it (issue 9). A window whose stated reset moved by more than the
// rounding is a new window and starts afresh. prev and next are not
// modified; the result is next itself when nothing narrows.
func tightenResets(prev, next []providers.QuotaWindow) []providers.QuotaWindow {
	var out []providers.QuotaWindow
	for i, w := range next {
		if w.ResetAt.IsZero() {
			continue
		}
		for _, p := range prev {
			if p.Name != w.Name || p.ResetAt.IsZero() || !p.ResetAt.Before(w.ResetAt) ||
				w.ResetAt.Sub(p.ResetAt) >= sameResetSlack {
				continue
			}
			if out == nil {
				out = append([]providers.QuotaWindow(nil), next...)
			}
			out[i].ResetAt = p.ResetAt
		}
	}
	if out == nil {
		return next
	}
	return out
}

// tightenRetryAt narrows a 429's stated reset (rounded up to a whole second
// like the windows') to the tightest reset known for the same window, so the
// cooldown ends when the window does.
func tightenRetryAt(at time.Time, ws []providers.QuotaWindow) time.Time {
	if at.IsZero() {
		return at
	}
	for _, w := range ws {
		if !w.ResetAt.IsZero() && w.ResetAt.Before(at) && at.Sub(w.ResetAt) < sameResetSlack {
			at = w.ResetAt
		}
	}
	return at
}

// tightenBuckets narrows a quota read's resets (Codex's usage endpoint
// states them in whole seconds, rounded up, like the answers' windows) to
// the tightest reset the answers stated for the same window. Without it a
// read taken at an unlucky fraction of a second cooled a spent account up to
// a second past the reset its answers had already bounded (issue 9: a Codex
// account refused 130 ms after its reset, cooling 462 ms more). buckets is
// not modified; the result is buckets itself when nothing narrows.
func tightenBuckets(buckets []providers.QuotaBucket, ws []providers.QuotaWindow) []providers.QuotaBucket {
	var out []providers.QuotaBucket
	for i, b := range buckets {
		at := tightenRetryAt(b.ResetAt, ws)
		if at.Equal(b.ResetAt) {
			continue
		}
		if out == nil {
			out = append([]providers.QuotaBucket(nil), buckets...)
		}
		out[i].ResetAt = at
	}
	if out == nil {
		return buckets
	}
	return out
}
