package actors

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/pollux-gateway/pollux/actors/keyring"
	"github.com/pollux-gateway/pollux/storage"
)

// TestKeysCountsReachTheDatabaseOnTheirTimer: request counts are summed in
// memory, written together usageEvery after the first, and the token
// counters of the limits start from them after a restart.
func TestKeysCountsReachTheDatabaseOnTheirTimer(t *testing.T) {
	e := newEnv(t)
	e.start()
	ctx := context.Background()
	k, secret, err := e.sys.Keys().Create(ctx, storage.MemberKey{Name: "alice", TokensPerDay: 100})
	if err != nil {
		t.Fatal(err)
	}
	if got, v := e.sys.Keys().Ring().Authorize(keyring.Digest(secret)); v != keyring.Valid || got.ID != k.ID {
		t.Fatalf("created key not in the ring: %v", v)
	}
	for range 3 {
		e.sys.Keys().Record(k.ID, "alice", "geminicli", "gemini-2.5-pro", t0, storage.KeyUsage{Requests: 1, InputTokens: 10, OutputTokens: 5})
	}
	e.sys.Keys().Record(0, OperatorKeyName, "codex", "gpt-5.2", t0, storage.KeyUsage{Requests: 1, Errors: 1, UnknownTokens: 1})
	rows := func() []storage.KeyUsageRow {
		r, err := e.db.KeyUsageRows(ctx, "2000-01-01", "2100-01-01")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if !e.clock.WaitFor(5*time.Second, func(ds []time.Time) bool { return len(ds) > 0 }) {
		t.Fatal("no flush armed")
	}
	if r := rows(); len(r) != 0 {
		t.Fatalf("written before the timer: %+v", r)
	}
	e.clock.Advance(usageEvery)
	e.untilCommitted("usage written", func() bool { return len(rows()) == 2 })
	got := rows()
	day := storage.UsageDay(t0)
	want := []storage.KeyUsageRow{
		{KeyID: 0, KeyName: "operator", Provider: "codex", Model: "gpt-5.2", Day: day, KeyUsage: storage.KeyUsage{Requests: 1, Errors: 1, UnknownTokens: 1}},
		{KeyID: k.ID, KeyName: "alice", Provider: "geminicli", Model: "gemini-2.5-pro", Day: day, KeyUsage: storage.KeyUsage{Requests: 3, InputTokens: 30, OutputTokens: 15}},
	}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("rows %+v, want %+v", got, want)
	}
	// Counted later, written at shutdown.
	e.sys.Keys().Record(k.ID, "alice", "geminicli", "gemini-2.5-pro", t0, storage.KeyUsage{Requests: 1, InputTokens: 60, OutputTokens: 40})
	e.restart()
	k2 := e.sys.Keys().Ring().Get(k.ID)
	if k2 == nil || k2.Name != "alice" || k2.Limits.TokensPerDay != 100 {
		t.Fatalf("key after restart: %+v", k2)
	}
	if u := k2.Usage(t0); u.TokensToday != 145 {
		t.Errorf("tokens today after restart = %d, want 145", u.TokensToday)
	}
	if _, _, d := k2.Admit(t0, false); d == nil || d.Limit != keyring.LimitTokensPerDay {
		t.Errorf("admitted past the day's tokens after a restart: %+v", d)
	}
}

// TestKeysAdminErrors: a taken name and an unknown id are typed errors,
// and a failed change leaves the ring as it was.
func TestKeysAdminErrors(t *testing.T) {
	e := newEnv(t)
	e.start()
	ctx := context.Background()
	keys := e.sys.Keys()
	a, _, err := keys.Create(ctx, storage.MemberKey{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := keys.Create(ctx, storage.MemberKey{Name: "a"}); !errors.Is(err, ErrKeyNameTaken) {
		t.Errorf("duplicate create: %v", err)
	}
	b, _, _ := keys.Create(ctx, storage.MemberKey{Name: "b"})
	if _, err := keys.Update(ctx, b.ID, func(r *storage.MemberKey) error { r.Name = "a"; return nil }); !errors.Is(err, ErrKeyNameTaken) {
		t.Errorf("rename onto a taken name: %v", err)
	}
	if keys.Ring().Get(b.ID).Name != "b" {
		t.Error("failed rename changed the ring")
	}
	if err := keys.Delete(ctx, 999); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("delete unknown: %v", err)
	}
	if err := keys.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	e.restart()
	if e.sys.Keys().Ring().Get(a.ID) != nil || e.sys.Keys().Ring().Get(b.ID) == nil {
		t.Error("delete did not persist")
	}
}
