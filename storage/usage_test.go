package storage_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/storage"
)

func TestAddUsageAddsUp(t *testing.T) {
	clock := newClock()
	db := openClock(t, dbPath(t), clock)
	a := insert(t, db, cred(1))
	b := insert(t, db, cred(2))
	today, yesterday := storage.UsageDay(t0), storage.UsageDay(t0.Add(-24*time.Hour))

	deltas := []storage.UsageDelta{
		{CredentialID: a, Provider: "geminicli", Model: "pro", Day: today, Requests: 1, InputTokens: 10, OutputTokens: 100},
		{CredentialID: a, Provider: "geminicli", Model: "pro", Requests: 2, InputTokens: 20, OutputTokens: 200}, // empty day = today
		{CredentialID: a, Provider: "geminicli", Model: "flash", Day: today, Requests: 1, InputTokens: 1, OutputTokens: 1},
		{CredentialID: a, Provider: "geminicli", Model: "pro", Day: yesterday, Requests: 5},
		{CredentialID: b, Provider: "geminicli", Model: "pro", Day: today, Requests: 1},
		{Provider: "codex", Model: "gpt-5", Day: today, Requests: 1}, // served by no credential
		{Provider: "codex", Model: "gpt-5", Day: today, Requests: 1, OutputTokens: 7},
	}
	write(t, db, func(tx *storage.Tx) error {
		for _, d := range deltas {
			if err := tx.AddUsage(t.Context(), d); err != nil {
				return err
			}
		}
		return nil
	})
	// Deleting b detaches its usage; it then adds up with the other
	// unattributed geminicli "pro" usage of the day.
	write(t, db, func(tx *storage.Tx) error {
		if err := tx.DeleteCredential(t.Context(), b); err != nil {
			return err
		}
		return tx.AddUsage(t.Context(), storage.UsageDelta{Provider: "geminicli", Model: "pro", Day: today, Requests: 3})
	})

	tests := []struct {
		name     string
		provider string
		since    time.Time
		want     []storage.UsageRow
	}{
		{
			name: "all",
			want: []storage.UsageRow{
				{CredentialID: a, Provider: "geminicli", Model: "pro", Day: yesterday, Requests: 5},
				{CredentialID: 0, Provider: "codex", Model: "gpt-5", Day: today, Requests: 2, OutputTokens: 7},
				{CredentialID: 0, Provider: "geminicli", Model: "pro", Day: today, Requests: 4},
				{CredentialID: a, Provider: "geminicli", Model: "flash", Day: today, Requests: 1, InputTokens: 1, OutputTokens: 1},
				{CredentialID: a, Provider: "geminicli", Model: "pro", Day: today, Requests: 3, InputTokens: 30, OutputTokens: 300},
			},
		},
		{
			name:     "one provider since today",
			provider: "geminicli",
			since:    t0.Add(-time.Hour), // the same UTC day as t0
			want: []storage.UsageRow{
				{CredentialID: 0, Provider: "geminicli", Model: "pro", Day: today, Requests: 4},
				{CredentialID: a, Provider: "geminicli", Model: "flash", Day: today, Requests: 1, InputTokens: 1, OutputTokens: 1},
				{CredentialID: a, Provider: "geminicli", Model: "pro", Day: today, Requests: 3, InputTokens: 30, OutputTokens: 300},
			},
		},
		{name: "future", since: t0.Add(48 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := db.Usage(t.Context(), tt.provider, tt.since)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Usage (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAddUsageRejectsBadInput(t *testing.T) {
	db := storagetestDB(t)
	tests := []struct {
		name string
		in   storage.UsageDelta
	}{
		{name: "bad day", in: storage.UsageDelta{Provider: "codex", Model: "m", Day: "2025/01/02"}},
		{name: "no model", in: storage.UsageDelta{Provider: "codex", Day: "2025-01-02"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := db.WriteTx(t.Context(), func(tx *storage.Tx) error { return tx.AddUsage(t.Context(), tt.in) })
			if err == nil {
				t.Error("AddUsage: got nil error, want one")
			}
		})
	}
}

// TestAddUsageForDeletedCredential: a request that finishes after its
// credential was deleted still counts, detached, instead of failing the
// write (and the persistence batch) on the foreign key.
func TestAddUsageForDeletedCredential(t *testing.T) {
	db := storagetestDB(t)
	id := insert(t, db, cred(1))
	err := db.WriteTx(t.Context(), func(tx *storage.Tx) error {
		if err := tx.DeleteCredential(t.Context(), id); err != nil {
			return err
		}
		return tx.AddUsage(t.Context(), storage.UsageDelta{CredentialID: id, Provider: "geminicli", Model: "m", Requests: 1, InputTokens: 5})
	})
	if err != nil {
		t.Fatalf("usage for a deleted credential: %v", err)
	}
	rows, err := db.Usage(t.Context(), "geminicli", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].CredentialID != 0 || rows[0].InputTokens != 5 {
		t.Fatalf("rows = %+v, want one detached row with 5 input tokens", rows)
	}
}
