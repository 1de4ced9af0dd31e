package actors

import (
	"context"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/storage"
)

// TestReadiness: the pool says, per credential, whether it is ready for a
// model and, when not, the first rule that holds it back, with a cooldown's
// end and reason.
func TestReadiness(t *testing.T) {
	e := newEnv(t)
	cool := t0.Add(90 * time.Second)
	ids := e.seed(3, func(i int, c *storage.Credential) {
		switch i {
		case 1:
			c.Cooldowns = []storage.Cooldown{{Model: testModel, Until: cool, Reason: "quota_spent"}}
		case 2:
			c.Status, c.StatusReason = storage.StatusNeedsReauth, "invalid_grant"
		}
	})
	e.start()
	untilScheduled[*CredentialChanged](e, "every credential known", func() bool { return len(e.snapshot()) == 3 })
	rep, err := e.pool.Readiness(context.Background(), testModel)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Credentials) != 3 || !rep.At.Equal(t0) {
		t.Fatalf("report %+v, want 3 credentials at t0", rep)
	}
	got := map[int64]Readiness{}
	for _, r := range rep.Credentials {
		got[r.CredentialID] = r
	}
	if r := got[ids[0]]; !r.Ready || r.Blocker != BlockNone {
		t.Errorf("ready credential: %+v", r)
	}
	if r := got[ids[1]]; r.Ready || r.Blocker != BlockCooldown || !r.Until.Equal(cool) || r.Reason != "quota_spent" {
		t.Errorf("cooling credential: %+v, want cooldown until %v (quota_spent)", r, cool)
	}
	if r := got[ids[2]]; r.Ready || r.Blocker != BlockOut {
		t.Errorf("credential out of service: %+v", r)
	}
}
