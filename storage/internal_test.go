package storage

import (
	"io/fs"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/zap/zaptest"
)

func TestLoadMigrations(t *testing.T) {
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	tests := []struct {
		name    string
		fs      fs.FS
		want    []string // file names in applying order
		wantErr bool
	}{
		{
			name: "ordered by number",
			fs: fstest.MapFS{
				"migrations/0010_j.sql": file("J"),
				"migrations/0002_b.sql": file("B"),
				"migrations/0001_a.sql": file("A"),
				"migrations/0003_c.sql": file("C"),
				"migrations/0004_d.sql": file("D"),
				"migrations/0005_e.sql": file("E"),
				"migrations/0006_f.sql": file("F"),
				"migrations/0007_g.sql": file("G"),
				"migrations/0008_h.sql": file("H"),
				"migrations/0009_i.sql": file("I"),
				"migrations/README.txt": file("not a migration"),
			},
			want: []string{"0001_a.sql", "0002_b.sql", "0003_c.sql", "0004_d.sql", "0005_e.sql",
				"0006_f.sql", "0007_g.sql", "0008_h.sql", "0009_i.sql", "0010_j.sql"},
		},
		{name: "gap", fs: fstest.MapFS{"migrations/0001_a.sql": file("A"), "migrations/0003_c.sql": file("C")}, wantErr: true},
		{name: "duplicate", fs: fstest.MapFS{"migrations/0001_a.sql": file("A"), "migrations/0001_b.sql": file("B")}, wantErr: true},
		{name: "no number", fs: fstest.MapFS{"migrations/init.sql": file("A")}, wantErr: true},
		{name: "zero", fs: fstest.MapFS{"migrations/0000_a.sql": file("A")}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := loadMigrations(tt.fs)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("loadMigrations: got nil error, want one")
				}
				return
			}
			if err != nil {
				t.Fatalf("loadMigrations: %v", err)
			}
			var got []string
			for _, m := range ms {
				got = append(got, m.name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("migrations (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEmbeddedMigrationsLoad guards the files shipped in the binary: a
// misnamed or misnumbered one would otherwise only fail at start-up.
func TestEmbeddedMigrationsLoad(t *testing.T) {
	ms, err := loadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].name != "0001_init.sql" {
		t.Errorf("embedded migrations start with %v, want 0001_init.sql", ms)
	}
}

// TestConnectionSettings checks the per-connection pragmas the DSNs ask for,
// which a plain connection to the same file cannot observe.
func TestConnectionSettings(t *testing.T) {
	db, err := Open(t.Context(), filepath.Join(t.TempDir(), "p.db"), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Error(err)
		}
	})
	if got := db.writer.Stats().MaxOpenConnections; got != 1 {
		t.Errorf("writer MaxOpenConnections = %d, want 1", got)
	}
	tests := []struct {
		pragma string
		writer string
		reader string
	}{
		{pragma: "journal_mode", writer: "wal", reader: "wal"},
		{pragma: "foreign_keys", writer: "1", reader: "1"},
		{pragma: "busy_timeout", writer: "5000", reader: "5000"},
		{pragma: "synchronous", writer: "1", reader: "1"}, // NORMAL
		{pragma: "query_only", writer: "0", reader: "1"},
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			var w, r string
			if err := db.writer.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&w); err != nil {
				t.Fatal(err)
			}
			if err := db.reader.QueryRowContext(t.Context(), "PRAGMA "+tt.pragma).Scan(&r); err != nil {
				t.Fatal(err)
			}
			if w != tt.writer || r != tt.reader {
				t.Errorf("PRAGMA %s: writer %q, reader %q; want %q, %q", tt.pragma, w, r, tt.writer, tt.reader)
			}
		})
	}
	if _, err := db.reader.ExecContext(t.Context(), `DELETE FROM settings`); err == nil {
		t.Error("write through the reader pool: got nil error, want query_only to refuse it")
	}
}
