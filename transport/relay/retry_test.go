package relay

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/providers"
)

// TestRetriesAgain walks the one retry decision through sequences of
// failures: which are tried again, where the next attempt may go, and when
// the budget ends the request.
func TestRetriesAgain(t *testing.T) {
	type step struct {
		id   int64
		kind providers.Kind
		want bool
	}
	cases := []struct {
		name        string
		budget      int
		steps       []step
		wantExclude []int64
		wantPrefer  int64
	}{
		{"a client error is final", 3, []step{{1, providers.KindBadRequest, false}}, nil, 0},
		{"a revoked account is excluded, not budgeted", 0, []step{{1, providers.KindAuthRevoked, true}, {2, providers.KindBanned, true}},
			[]int64{1, 2}, 0},
		{"401 prefers the refreshing credential twice, then excludes it", 0, []step{
			{1, providers.KindAuthExpired, true}, {1, providers.KindAuthExpired, true}, {1, providers.KindAuthExpired, true},
		}, []int64{1}, 0},
		{"401 rounds are per credential", 0, []step{
			{1, providers.KindAuthExpired, true}, {2, providers.KindAuthExpired, true},
		}, nil, 2},
		{"a limit may come back once, then is excluded", 0, []step{
			{1, providers.KindRateLimited, true}, {1, providers.KindQuotaExhausted, true},
		}, []int64{1}, 0},
		{"limits do not use the budget", 0, []step{
			{1, providers.KindRateLimited, true}, {2, providers.KindRateLimited, true}, {3, providers.KindQuotaExhausted, true},
		}, nil, 0},
		{"overload is excluded at once and budgeted", 1, []step{
			{1, providers.KindOverloaded, true}, {2, providers.KindOverloaded, false},
		}, []int64{1, 2}, 0},
		{"transient failures use the budget", 2, []step{
			{1, providers.KindTransient, true}, {2, providers.KindTransient, true}, {3, providers.KindTransient, false},
		}, []int64{1, 2, 3}, 0},
		{"a 401 after a preferred round clears the preference", 3, []step{
			{1, providers.KindAuthExpired, true}, {2, providers.KindTransient, true},
		}, []int64{2}, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := retries{budget: tc.budget}
			for i, s := range tc.steps {
				if got := r.again(s.id, s.kind); got != s.want {
					t.Fatalf("step %d (%d %s): again = %v, want %v", i, s.id, s.kind, got, s.want)
				}
			}
			if diff := cmp.Diff(tc.wantExclude, r.exclude); diff != "" {
				t.Errorf("exclude (-want +got):\n%s", diff)
			}
			if r.prefer != tc.wantPrefer {
				t.Errorf("prefer = %d, want %d", r.prefer, tc.wantPrefer)
			}
		})
	}
}
