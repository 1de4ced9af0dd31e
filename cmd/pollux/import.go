package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/storage"
)

// usageError is a mistake on the command line; main exits 2 for it.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// parseFlags parses args into fl; a bad flag or a stray word is a
// usageError (its message is the whole report, without the help), -h or
// --help prints fl's usage to its output and returns flag.ErrHelp.
func parseFlags(fl *flag.FlagSet, args []string) error {
	out := fl.Output()
	fl.SetOutput(io.Discard)
	err := fl.Parse(args)
	fl.SetOutput(out)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fl.Usage()
		return err
	case err != nil:
		return usageErrorf("%v (%s --help)", err, fl.Name())
	case fl.NArg() > 0:
		return usageErrorf("unexpected argument %q (%s --help)", fl.Arg(0), fl.Name())
	}
	return nil
}

// importOriginalTables imports the original Pollux's credentials from the
// database's own file on the first start that finds them, and logs the
// summary line. Later starts find the import recorded and do nothing.
func importOriginalTables(ctx context.Context, db *storage.DB, log *zap.Logger) error {
	res, ran, err := db.ImportOriginalTables(ctx)
	if err != nil {
		return err
	}
	if ran {
		log.Info(res.Summary(), importFields(res)...)
	}
	return nil
}

func importFields(res storage.OriginalImport) []zap.Field {
	return []zap.Field{
		zap.Int("geminicli", res.GeminiCLI), zap.Int("codex", res.Codex),
		zap.Int("inactive", res.Inactive), zap.Int("antigravity", res.Antigravity),
		zap.Int("already_held", res.Kept), zap.Int("refresh_tokens_taken", res.TokensTaken),
		zap.Int("unusable", res.Unusable),
	}
}

// runImport is "pollux import --from PATH": it imports an original Pollux
// database kept in another file into the configured database, with the
// same summary as the start-up import. The configured database must not be
// in use: the running Pollux would not see the new credentials.
func runImport(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fl := flag.NewFlagSet("pollux import", flag.ContinueOnError)
	fl.SetOutput(stdout)
	from := fl.String("from", "", "the original Pollux's database file (required)")
	configFlag := fl.String("config", "", "config file (default $POLLUX_CONFIG, else ./config.toml)")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if *from == "" {
		return usageErrorf("pollux import: --from PATH is required (the original Pollux's data.db)")
	}
	path := config.ResolvePath(*configFlag, getenv)
	cfg, warnings, err := config.Load(path, getenv)
	if err != nil {
		return configError(path, warnings, err)
	}
	lock, err := storage.AcquireLock(cfg.Basic.DatabasePath())
	if err != nil {
		return err
	}
	defer func() { _ = lock.Release() }()
	key, err := secretsKey(cfg.Basic, getenv)
	if err != nil {
		return err
	}
	db, err := storage.Open(ctx, cfg.Basic.DatabasePath(), zap.NewNop())
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	if err := setupSecrets(ctx, db, cfg.Basic, key, zap.NewNop()); err != nil {
		_ = db.Close()
		return err
	}
	res, err := db.ImportOriginalFile(ctx, *from)
	if cerr := db.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, res.Summary())
	if res.Kept > 0 || res.Unusable > 0 {
		fmt.Fprintf(stdout, "%d already held here (kept; %d took the imported refresh token), %d without a refresh token skipped\n",
			res.Kept, res.TokensTaken, res.Unusable)
	}
	return nil
}
