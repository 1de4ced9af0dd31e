package storage_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/storage"
)

// TestRefreshMarks: the marks of one provider's credentials, by id, as
// RefreshMark reads them one by one; cleared marks and other providers'
// marks are not among them.
func TestRefreshMarks(t *testing.T) {
	db := storagetestDB(t)
	g1, g2, g3 := insert(t, db, cred(1)), insert(t, db, cred(2)), insert(t, db, cred(3))
	c := cred(4)
	c.Provider = "codex"
	cx := insert(t, db, c)
	write(t, db, func(tx *storage.Tx) error {
		for i, id := range []int64{g1, g2, g3, cx} {
			if err := tx.MarkRefresh(t.Context(), id, t0.Add(time.Duration(i)*time.Second)); err != nil {
				return err
			}
		}
		return tx.ClearRefreshMark(t.Context(), g2)
	})
	got, err := db.RefreshMarks(t.Context(), "geminicli")
	if err != nil {
		t.Fatal(err)
	}
	want := map[int64]time.Time{g1: ms(t0), g3: ms(t0.Add(2 * time.Second))}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("RefreshMarks(geminicli) (-want +got):\n%s", diff)
	}
	for id, at := range got {
		one, ok, err := db.RefreshMark(t.Context(), id)
		if err != nil || !ok || !one.Equal(at) {
			t.Errorf("RefreshMark(%d) = %v, %v, %v; RefreshMarks says %v", id, one, ok, err, at)
		}
	}
	if got, err := db.RefreshMarks(t.Context(), "nobody"); err != nil || len(got) != 0 {
		t.Errorf("RefreshMarks(nobody) = %v, %v; want none", got, err)
	}
}
