package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/storage"
)

// TestIngestJobsRoundTrip: a stored job comes back with its tokens until
// each verdict is written, which clears them; a deleted job is gone.
func TestIngestJobsRoundTrip(t *testing.T) {
	db := storagetestDB(t)
	ctx := context.Background()
	started := time.UnixMilli(1_700_000_000_000)
	job := storage.IngestJob{ID: "job_1", Provider: "codex", Total: 2, Started: started, Items: []storage.IngestItem{
		{Index: 0, RefreshToken: "rt-a", AccessToken: "at-a", Account: "acct"},
		{Index: 1, Verdict: `{"index":1,"result":"duplicate"}`},
	}}
	write(t, db, func(tx *storage.Tx) error { return tx.SaveIngestJob(ctx, job) })
	got, err := db.IngestJobs(ctx, "codex")
	if err != nil {
		t.Fatal(err)
	}
	job.Started = started.UTC()
	for i := range got {
		got[i].Started = got[i].Started.UTC()
	}
	if diff := cmp.Diff([]storage.IngestJob{job}, got); diff != "" {
		t.Fatalf("stored job (-want +got):\n%s", diff)
	}
	if other, _ := db.IngestJobs(ctx, "geminicli"); len(other) != 0 {
		t.Errorf("another provider's jobs: %v", other)
	}

	write(t, db, func(tx *storage.Tx) error {
		if err := tx.SaveIngestVerdict(ctx, "job_1", 0, `{"index":0,"result":"added"}`); err != nil {
			return err
		}
		return tx.FinishIngestJob(ctx, "job_1", started.Add(time.Second))
	})
	got, _ = db.IngestJobs(ctx, "codex")
	if it := got[0].Items[0]; !it.RefreshToken.IsZero() || !it.AccessToken.IsZero() || it.Verdict == "" {
		t.Errorf("after the verdict the item still holds tokens or lacks the verdict: %+v", it)
	}
	if got[0].Finished.IsZero() {
		t.Error("finished time not stored")
	}

	write(t, db, func(tx *storage.Tx) error { return tx.DeleteIngestJob(ctx, "job_1") })
	if got, _ := db.IngestJobs(ctx, "codex"); len(got) != 0 {
		t.Errorf("deleted job still stored: %v", got)
	}
}
