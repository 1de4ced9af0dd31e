package relay

import "github.com/pollux-gateway/pollux/providers"

// limitRetries is how many times one request may go back to a credential
// that answered with a limit (429) once its cooldown has ended; after that
// the credential is excluded for the request. Together with the exclusion
// of every other failed credential and the retry budget for failures that
// are not the credential's own, it bounds the attempts of one request by
// the pool's size, not by a constant (issue 9: a request gave up after 32
// 429s while 41 accounts still had quota).
const limitRetries = 1

// maxAuthRetries is how many times one request goes back to a credential
// that answered 401, waiting for its refresh; counted per credential, and
// not against retry_max_times: after a mass expiry every credential answers
// 401 once, and the request must outlast the refreshes, not give up.
const maxAuthRetries = 2

// retries is one request's retry state. again is the one place that
// decides whether a failed attempt is tried again, and where.
type retries struct {
	// budget is retry_max_times; used counts the failures charged to it.
	budget, used int
	// exclude are the credentials this request will not be given again;
	// prefer, when set, is the credential to wait for (its refresh).
	exclude []int64
	prefer  int64
	// refreshes counts, per credential, the 401s this request met.
	refreshes map[int64]int
	// limited counts the limit answers per credential: a credential that
	// answered 429 is not excluded at once (its cooldown keeps it off until
	// its reset; then this request may be served there).
	limited map[int64]int
}

// again reports whether the request tries again after the attempt on
// credential id failed with kind, and notes where the next attempt may go.
func (r *retries) again(id int64, kind providers.Kind) bool {
	if !kind.Retryable() {
		return false
	}
	r.prefer = 0
	switch {
	case kind == providers.KindAuthExpired && r.refreshes[id] < maxAuthRetries:
		// The credential refreshes now. Prefer it: if another credential
		// is ready the scheduler grants that one at once, otherwise this
		// request waits for the refresh instead of failing. A second round
		// is allowed: the token that was just rejected may have been
		// refreshed already before whatever invalidated it.
		if r.refreshes == nil {
			r.refreshes = make(map[int64]int, 4)
		}
		r.refreshes[id]++
		r.prefer = id
	case limitKind(kind) && kind != providers.KindOverloaded && r.limited[id] < limitRetries:
		// The credential cools until its reset; the scheduler keeps it off
		// until then and may hand it back to this request after.
		if r.limited == nil {
			r.limited = make(map[int64]int)
		}
		r.limited[id]++
	default:
		r.exclude = append(r.exclude, id)
	}
	if budgeted(kind) {
		r.used++
		if r.used > r.budget {
			return false
		}
	}
	return true
}

// budgeted reports whether a failure of this kind uses up the configured
// retry_max_times. Failures that belong to one credential (its limits, its
// account) do not: another credential may well serve, and each credential is
// tried at most once per request (a limit at most twice, a 401 at most
// three times).
func budgeted(k providers.Kind) bool {
	switch k {
	case providers.KindTransient, providers.KindOverloaded:
		return true
	case providers.KindOK, providers.KindAuthExpired, providers.KindRateLimited, providers.KindQuotaExhausted, providers.KindAuthRevoked,
		providers.KindBanned, providers.KindIneligible, providers.KindModelUnsupported, providers.KindBadRequest,
		providers.KindAbandoned:
	}
	return false
}

// limitKind reports whether an outcome is a limit with a reset time.
func limitKind(k providers.Kind) bool {
	return k == providers.KindRateLimited || k == providers.KindQuotaExhausted || k == providers.KindOverloaded
}
