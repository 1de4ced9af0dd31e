package storage_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/storage"
)

func TestInsertCredential(t *testing.T) {
	since := t0.Add(-time.Hour)
	tests := []struct {
		name    string
		in      storage.Credential
		want    func(id int64) storage.Credential
		wantErr bool
	}{
		{
			name: "defaults",
			in: storage.Credential{
				Provider: "codex", Sub: "user-1", RefreshToken: "rt-1",
			},
			want: func(id int64) storage.Credential {
				return storage.Credential{
					ID: id, Provider: "codex", Sub: "user-1", RefreshToken: "rt-1",
					Extra: json.RawMessage(`{}`), Status: storage.StatusActive,
					StatusSince: ms(t0), CreatedAt: ms(t0), UpdatedAt: ms(t0),
				}
			},
		},
		{
			name: "every field",
			in: storage.Credential{
				ID: 77, Provider: "geminicli", Sub: "sub", Email: "a@example.com", Account: "proj",
				Tier: "standard-tier", AccessToken: "at", RefreshToken: "rt",
				Expiry: t0.Add(time.Hour), Extra: json.RawMessage(`{"checked":true}`),
				Status: storage.StatusCooling, StatusReason: "rate_limited", StatusSince: since,
				CreatedAt: since, UpdatedAt: since.Add(time.Second),
				Cooldowns: []storage.Cooldown{
					{Model: "b", Until: t0.Add(2 * time.Minute), Backoff: 3, Reason: "quota"},
					{Model: "a", Until: t0.Add(time.Minute), Backoff: 1, Reason: "rate_limited"},
				},
			},
			want: func(id int64) storage.Credential {
				return storage.Credential{
					ID: id, Provider: "geminicli", Sub: "sub", Email: "a@example.com", Account: "proj",
					Tier: "standard-tier", AccessToken: "at", RefreshToken: "rt",
					Expiry: ms(t0.Add(time.Hour)), Extra: json.RawMessage(`{"checked":true}`),
					Status: storage.StatusCooling, StatusReason: "rate_limited", StatusSince: ms(since),
					CreatedAt: ms(since), UpdatedAt: ms(since.Add(time.Second)),
					Cooldowns: []storage.Cooldown{
						{Model: "a", Until: ms(t0.Add(time.Minute)), Backoff: 1, Reason: "rate_limited"},
						{Model: "b", Until: ms(t0.Add(2 * time.Minute)), Backoff: 3, Reason: "quota"},
					},
				}
			},
		},
		{name: "invalid status", in: storage.Credential{Provider: "codex", Sub: "s", Status: "refreshing"}, wantErr: true},
		{name: "invalid extra", in: storage.Credential{Provider: "codex", Sub: "s", Extra: json.RawMessage(`{`)}, wantErr: true},
		{name: "empty provider", in: storage.Credential{Sub: "s"}, wantErr: true},
		{name: "empty cooldown model", in: storage.Credential{Provider: "codex", Sub: "s", Cooldowns: []storage.Cooldown{{}}}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			db := openClock(t, dbPath(t), newClock())
			var id int64
			err := db.WriteTx(t.Context(), func(tx *storage.Tx) error {
				var err error
				id, err = tx.InsertCredential(t.Context(), tt.in)
				return err
			})
			if tt.wantErr {
				if err == nil {
					t.Fatal("InsertCredential: got nil error, want one")
				}
				if all, _ := db.Credentials(t.Context(), ""); len(all) != 0 {
					t.Errorf("failed insert left %d rows", len(all))
				}
				return
			}
			if err != nil {
				t.Fatalf("InsertCredential: %v", err)
			}
			got, err := db.Credential(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want(id), got); diff != "" {
				t.Errorf("stored credential (-want +got):\n%s", diff)
			}
		})
	}
}

func TestInsertCredentialDuplicate(t *testing.T) {
	db := openClock(t, dbPath(t), newClock())
	insert(t, db, cred(1))

	tests := []struct {
		name   string
		change func(c *storage.Credential)
		want   error
	}{
		{name: "same identity", change: func(*storage.Credential) {}, want: storage.ErrDuplicate},
		{name: "same identity, other tokens", change: func(c *storage.Credential) { c.RefreshToken = "other" }, want: storage.ErrDuplicate},
		{name: "other account", change: func(c *storage.Credential) { c.Account = "project-x" }},
		{name: "other provider", change: func(c *storage.Credential) { c.Provider = "codex" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cred(1)
			tt.change(&c)
			err := db.WriteTx(t.Context(), func(tx *storage.Tx) error {
				_, err := tx.InsertCredential(t.Context(), c)
				return err
			})
			if !errors.Is(err, tt.want) {
				t.Errorf("InsertCredential error = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestFindByIdentity(t *testing.T) {
	db := storagetestDB(t)
	id := insert(t, db, cred(1))
	tests := []struct {
		name                   string
		provider, sub, account string
		wantOK                 bool
	}{
		{name: "match", provider: "geminicli", sub: "sub-1", account: "project-1", wantOK: true},
		{name: "other account", provider: "geminicli", sub: "sub-1", account: "project-2"},
		{name: "other provider", provider: "codex", sub: "sub-1", account: "project-1"},
		{name: "empty account", provider: "geminicli", sub: "sub-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := db.FindByIdentity(t.Context(), tt.provider, tt.sub, tt.account)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || (ok && got != id) {
				t.Errorf("FindByIdentity = %d, %v; want ok=%v (id %d)", got, ok, tt.wantOK, id)
			}
		})
	}
}

func TestUpsertCredential(t *testing.T) {
	clock := newClock()
	db := openClock(t, dbPath(t), clock)
	upsert := func(c storage.Credential) (int64, bool) {
		t.Helper()
		var id int64
		var inserted bool
		write(t, db, func(tx *storage.Tx) error {
			var err error
			id, inserted, err = tx.UpsertCredential(t.Context(), c)
			return err
		})
		return id, inserted
	}

	first := cred(1)
	first.Cooldowns = []storage.Cooldown{{Model: "m1", Until: t0.Add(time.Minute)}}
	id, inserted := upsert(first)
	if !inserted {
		t.Fatal("first upsert: inserted = false, want true")
	}

	clock.advance(time.Minute)
	write(t, db, func(tx *storage.Tx) error {
		return tx.SaveState(t.Context(), id, storage.StatusNeedsReauth, "invalid_grant", time.Time{})
	})
	clock.advance(time.Minute)
	again := cred(1)
	again.Email = "new@example.com"
	again.Tier = "standard-tier"
	again.AccessToken = "new-access"
	again.RefreshToken = "new-refresh"
	again.Expiry = clock.now.Add(time.Hour)
	again.Extra = json.RawMessage(`{"v":2}`)
	again.Status = storage.StatusBanned // ignored: re-login makes it active
	again.Cooldowns = nil               // ignored: stored cooldowns are kept
	id2, inserted := upsert(again)
	if inserted || id2 != id {
		t.Fatalf("second upsert = %d, inserted %v; want %d, false", id2, inserted, id)
	}

	got, err := db.Credential(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	want := storage.Credential{
		ID: id, Provider: "geminicli", Sub: "sub-1", Email: "new@example.com", Account: "project-1",
		Tier: "standard-tier", AccessToken: "new-access", RefreshToken: "new-refresh",
		Expiry: ms(clock.now.Add(time.Hour)), Extra: json.RawMessage(`{"v":2}`),
		Status: storage.StatusActive, StatusSince: ms(clock.now),
		CreatedAt: ms(t0), UpdatedAt: ms(clock.now),
		Cooldowns: []storage.Cooldown{{Model: "m1", Until: ms(t0.Add(time.Minute))}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("after upsert (-want +got):\n%s", diff)
	}
	if found, ok, err := db.FindByRefreshToken(t.Context(), "geminicli", "new-refresh"); err != nil || !ok || found != id {
		t.Errorf("FindByRefreshToken(new) = %d, %v, %v; want %d, true, nil", found, ok, err, id)
	}

	other := cred(2)
	id3, inserted := upsert(other)
	if !inserted || id3 == id {
		t.Errorf("upsert of another identity = %d, inserted %v; want a new id, true", id3, inserted)
	}
}

func TestSaveTokensMovesRefreshTokenLookup(t *testing.T) {
	clock := newClock()
	db := openClock(t, dbPath(t), clock)
	id := insert(t, db, cred(1))
	oldRT := cred(1).RefreshToken
	newRT := config.Secret("1//rotated")

	clock.advance(time.Second)
	expiry := clock.now.Add(time.Hour)
	write(t, db, func(tx *storage.Tx) error {
		return tx.SaveTokens(t.Context(), id, "new-access", newRT, expiry)
	})

	tests := []struct {
		name     string
		provider string
		token    config.Secret
		wantOK   bool
	}{
		{name: "new token", provider: "geminicli", token: newRT, wantOK: true},
		{name: "old token", provider: "geminicli", token: oldRT},
		{name: "new token, other provider", provider: "codex", token: newRT},
		{name: "empty token", provider: "geminicli", token: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := db.FindByRefreshToken(t.Context(), tt.provider, tt.token)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK || (ok && got != id) {
				t.Errorf("FindByRefreshToken = %d, %v; want ok=%v (id %d)", got, ok, tt.wantOK, id)
			}
		})
	}

	c, err := db.Credential(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if c.AccessToken != "new-access" || c.RefreshToken != newRT || !c.Expiry.Equal(ms(expiry)) || !c.UpdatedAt.Equal(ms(clock.now)) {
		t.Errorf("after SaveTokens: access ok %v, refresh ok %v, expiry %v (want %v), updated %v (want %v)",
			c.AccessToken == "new-access", c.RefreshToken == newRT, c.Expiry, ms(expiry), c.UpdatedAt, ms(clock.now))
	}

	err = db.WriteTx(t.Context(), func(tx *storage.Tx) error {
		return tx.SaveTokens(t.Context(), id+100, "a", "r", expiry)
	})
	if !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SaveTokens(missing) error = %v, want ErrNotFound", err)
	}
}

func TestSaveState(t *testing.T) {
	clock := newClock()
	db := openClock(t, dbPath(t), clock)
	id := insert(t, db, cred(1))
	clock.advance(time.Minute)
	since := t0.Add(30 * time.Second)

	tests := []struct {
		name       string
		id         int64
		status     storage.Status
		reason     string
		since      time.Time
		wantErr    error
		wantAnyErr bool
		wantSince  time.Time
	}{
		{name: "banned", id: id, status: storage.StatusBanned, reason: "tos_violation", since: since, wantSince: ms(since)},
		{name: "zero since is now", id: id, status: storage.StatusIneligible, reason: "no_tier", wantSince: ms(clock.now)},
		{name: "back to active", id: id, status: storage.StatusActive, since: since, wantSince: ms(since)},
		{name: "invalid status", id: id, status: "refreshing", wantAnyErr: true},
		{name: "missing", id: id + 1, status: storage.StatusActive, wantErr: storage.ErrNotFound, wantAnyErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := db.Credential(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			err = db.WriteTx(t.Context(), func(tx *storage.Tx) error {
				return tx.SaveState(t.Context(), tt.id, tt.status, tt.reason, tt.since)
			})
			got, gerr := db.Credential(t.Context(), id)
			if gerr != nil {
				t.Fatal(gerr)
			}
			if tt.wantAnyErr {
				if err == nil || (tt.wantErr != nil && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("SaveState error = %v, want %v", err, tt.wantErr)
				}
				if diff := cmp.Diff(before, got); diff != "" {
					t.Errorf("failed SaveState changed the row (-before +after):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatalf("SaveState: %v", err)
			}
			want := before
			want.Status, want.StatusReason, want.StatusSince, want.UpdatedAt = tt.status, tt.reason, tt.wantSince, ms(clock.now)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("after SaveState (-want +got):\n%s", diff)
			}
		})
	}
}

func TestReplaceCooldowns(t *testing.T) {
	db := storagetestDB(t)
	id := insert(t, db, cred(1))
	other := insert(t, db, func() storage.Credential {
		c := cred(2)
		c.Cooldowns = []storage.Cooldown{{Model: "x", Until: t0}}
		return c
	}())

	// Sub-millisecond parts are dropped; order of input does not matter.
	full := []storage.Cooldown{
		{Model: "gemini-2.5-pro", Until: t0.Add(90*time.Second + 123_456*time.Nanosecond), Backoff: 4, Reason: "quota_exhausted"},
		{Model: storage.AllModels, Until: t0.Add(time.Hour + 999_999*time.Nanosecond), Backoff: 1, Reason: "auth"},
		{Model: "gemini-2.5-flash", Until: t0.Add(time.Second)},
	}
	tests := []struct {
		name    string
		id      int64
		cds     []storage.Cooldown
		want    []storage.Cooldown
		wantErr error
	}{
		{
			name: "set",
			id:   id,
			cds:  full,
			want: []storage.Cooldown{
				{Model: storage.AllModels, Until: ms(t0.Add(time.Hour + 999_999*time.Nanosecond)), Backoff: 1, Reason: "auth"},
				{Model: "gemini-2.5-flash", Until: ms(t0.Add(time.Second))},
				{Model: "gemini-2.5-pro", Until: ms(t0.Add(90*time.Second + 123_456*time.Nanosecond)), Backoff: 4, Reason: "quota_exhausted"},
			},
		},
		{
			name: "shrink",
			id:   id,
			cds:  full[2:],
			want: []storage.Cooldown{{Model: "gemini-2.5-flash", Until: ms(t0.Add(time.Second))}},
		},
		{name: "clear", id: id},
		{name: "missing credential", id: other + 100, cds: full, wantErr: storage.ErrNotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.WriteTx(t.Context(), func(tx *storage.Tx) error {
				return tx.ReplaceCooldowns(t.Context(), tt.id, tt.cds)
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ReplaceCooldowns error = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			got, err := db.Credential(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got.Cooldowns); diff != "" {
				t.Errorf("cooldowns (-want +got):\n%s", diff)
			}
			o, err := db.Credential(t.Context(), other)
			if err != nil {
				t.Fatal(err)
			}
			if len(o.Cooldowns) != 1 {
				t.Errorf("other credential has %d cooldowns, want 1", len(o.Cooldowns))
			}
		})
	}
}

func TestCredentialsLoads10k(t *testing.T) {
	db := storagetestDB(t)
	const n = 10_000
	insertMany(t, db, n)

	all, err := db.Credentials(t.Context(), "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != n {
		t.Fatalf("Credentials(\"\") returned %d rows, want %d", len(all), n)
	}
	perProvider := map[string]int{}
	for i, c := range all {
		if i > 0 && c.ID <= all[i-1].ID {
			t.Fatalf("row %d: id %d after %d, want ascending", i, c.ID, all[i-1].ID)
		}
		perProvider[c.Provider]++
		want := wantCooldowns(c.Sub)
		if diff := cmp.Diff(want, c.Cooldowns); diff != "" {
			t.Fatalf("credential %s cooldowns (-want +got):\n%s", c.Sub, diff)
		}
	}

	for _, provider := range []string{"geminicli", "codex"} {
		got, err := db.Credentials(t.Context(), provider)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != perProvider[provider] {
			t.Errorf("Credentials(%q) returned %d rows, want %d", provider, len(got), perProvider[provider])
		}
		for _, c := range got {
			if c.Provider != provider {
				t.Fatalf("Credentials(%q) returned a %s row", provider, c.Provider)
			}
			if diff := cmp.Diff(wantCooldowns(c.Sub), c.Cooldowns); diff != "" {
				t.Fatalf("Credentials(%q): %s cooldowns (-want +got):\n%s", provider, c.Sub, diff)
			}
		}
	}
	if got, err := db.Credentials(t.Context(), "nope"); err != nil || len(got) != 0 {
		t.Errorf("Credentials(unknown provider) = %d rows, %v; want 0, nil", len(got), err)
	}
}

func BenchmarkCredentialsLoad10k(b *testing.B) {
	db := storagetestDB(b)
	insertMany(b, db, 10_000)
	b.ReportAllocs()
	for b.Loop() {
		creds, err := db.Credentials(b.Context(), "")
		if err != nil {
			b.Fatal(err)
		}
		if len(creds) != 10_000 {
			b.Fatalf("loaded %d credentials", len(creds))
		}
	}
}

func TestCredentialIDs(t *testing.T) {
	db := storagetestDB(t)
	g1 := insert(t, db, cred(1))
	c := cred(2)
	c.Provider = "codex"
	cx := insert(t, db, c)
	g3 := insert(t, db, cred(3))
	tests := []struct {
		provider string
		want     []int64
	}{
		{"geminicli", []int64{g1, g3}},
		{"codex", []int64{cx}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.provider, func(t *testing.T) {
			got, err := db.CredentialIDs(t.Context(), tt.provider)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("CredentialIDs(%s) = %v, want %v", tt.provider, got, tt.want)
			}
		})
	}
}

// TestCredentialPage: paging through one provider's credentials gives every
// row once, in id order, each with exactly its own cooldowns (a page's
// cooldown query is bounded by the page's ids), and the other provider's
// rows never.
func TestCredentialPage(t *testing.T) {
	db := storagetestDB(t)
	const n = 1000
	insertMany(t, db, n)
	for _, limit := range []int{1, 7, 256, 2000} {
		t.Run(fmt.Sprint("limit=", limit), func(t *testing.T) {
			var got []storage.Credential
			after := int64(0)
			for pages := 0; ; pages++ {
				if pages > n {
					t.Fatal("paging does not end")
				}
				page, err := db.CredentialPage(t.Context(), "codex", after, limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) > limit {
					t.Fatalf("page of %d rows, limit %d", len(page), limit)
				}
				if len(page) == 0 {
					break
				}
				got = append(got, page...)
				after = page[len(page)-1].ID
			}
			if len(got) != n/2 {
				t.Fatalf("paged %d codex rows, want %d", len(got), n/2)
			}
			for i, c := range got {
				if c.Provider != "codex" {
					t.Fatalf("row %d is a %s credential", i, c.Provider)
				}
				if i > 0 && c.ID <= got[i-1].ID {
					t.Fatalf("row %d: id %d after %d, want ascending", i, c.ID, got[i-1].ID)
				}
				if diff := cmp.Diff(wantCooldowns(c.Sub), c.Cooldowns); diff != "" {
					t.Fatalf("credential %s cooldowns (-want +got):\n%s", c.Sub, diff)
				}
				if c.RefreshToken.Reveal() != "rt-"+c.Sub {
					t.Fatalf("credential %s: refresh token not read back", c.Sub)
				}
			}
		})
	}
}
