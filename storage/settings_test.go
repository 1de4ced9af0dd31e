package storage_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pollux-gateway/pollux/storage"
)

func TestSettings(t *testing.T) {
	db := storagetestDB(t)
	tests := []struct {
		name   string
		put    map[string][]byte // written in one transaction before the read
		key    string
		want   []byte
		wantOK bool
	}{
		{name: "missing", key: "nope"},
		{name: "stored", put: map[string][]byte{"a": []byte("one")}, key: "a", want: []byte("one"), wantOK: true},
		{name: "overwritten", put: map[string][]byte{"a": []byte("two")}, key: "a", want: []byte("two"), wantOK: true},
		{name: "binary", put: map[string][]byte{"b": {0, 1, 2, 0xff}}, key: "b", want: []byte{0, 1, 2, 0xff}, wantOK: true},
		{name: "nil value is empty", put: map[string][]byte{"c": nil}, key: "c", want: []byte{}, wantOK: true},
		{name: "other keys untouched", key: "a", want: []byte("two"), wantOK: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			write(t, db, func(tx *storage.Tx) error {
				for k, v := range tt.put {
					if err := tx.PutSetting(t.Context(), k, v); err != nil {
						return err
					}
				}
				return nil
			})
			got, ok, err := db.Setting(t.Context(), tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if ok != tt.wantOK {
				t.Errorf("Setting(%q) ok = %v, want %v", tt.key, ok, tt.wantOK)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Setting(%q) (-want +got):\n%s", tt.key, diff)
			}
		})
	}
}
