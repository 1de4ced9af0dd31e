package actors

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/storage"
)

// TestUsageIsSummedAndWrittenTogether: usage deltas of one (credential,
// model, day) are summed in memory and written in one go on the usage
// timer, and whatever is pending is written at shutdown.
func TestUsageIsSummedAndWrittenTogether(t *testing.T) {
	e := newEnv(t)
	ids := e.seed(2, nil)
	e.start()
	for i := 0; i < 3; i++ {
		e.pool.RecordUsage(ids[0], testModel, 10, 20)
	}
	e.pool.RecordUsage(ids[1], testModel, 1, 2)
	usage := func() []storage.UsageRow {
		rows, err := e.db.Usage(context.Background(), "", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return rows
	}
	if !e.clock.WaitFor(5*time.Second, func(ds []time.Time) bool {
		for _, d := range ds {
			if d.Equal(t0.Add(usageEvery)) {
				return true
			}
		}
		return false
	}) {
		t.Fatal("no usage write armed")
	}
	if rows := usage(); len(rows) != 0 {
		t.Fatalf("usage written before its timer: %+v", rows)
	}
	e.clock.Advance(usageEvery)
	day := storage.UsageDay(t0)
	want := []storage.UsageRow{
		{CredentialID: ids[0], Provider: "geminicli", Model: testModel, Day: day, Requests: 3, InputTokens: 30, OutputTokens: 60},
		{CredentialID: ids[1], Provider: "geminicli", Model: testModel, Day: day, Requests: 1, InputTokens: 1, OutputTokens: 2},
	}
	e.untilCommitted("usage written", func() bool { return len(usage()) == 2 })
	if diff := cmp.Diff(want, usage()); diff != "" {
		t.Fatalf("usage rows (-want +got):\n%s", diff)
	}
	// Pending usage is written on shutdown.
	e.pool.RecordUsage(ids[1], testModel, 5, 5)
	e.stop()
	e.openDB()
	defer e.db.Close()
	got := usage()
	if len(got) != 2 || got[1].Requests != 2 || got[1].InputTokens != 6 {
		t.Fatalf("after shutdown: %+v, want credential %d at 2 requests, 6 input tokens", got, ids[1])
	}
}
