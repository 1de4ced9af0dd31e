package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/egress"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/storage"
	"github.com/pollux-gateway/pollux/transport"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT is set.
const defaultMemoryLimit = 44 << 20

// defaultGCPercent is the collector's GOGC unless GOGC is set: the heap may
// grow to (1 + 200/100) × the live heap before a collection, not 2 ×, so a
// small pool (live heap ~2 MiB) collects less than half as often (35 for
// 81–84 collections per 9,000 requests; 0.86–0.94× the CPU per request,
// ~3.5 MiB more RSS), while the soft memory limit still caps a big pool's
// heap (with 10,000 credentials the limit, not GOGC, sets the pace).
const defaultGCPercent = 200

// runtimeDefaults returns the soft memory limit and GOGC Pollux gives the
// Go runtime, -1 for each one the environment sets (the environment wins).
func runtimeDefaults(getenv func(string) string) (memoryLimit int64, gcPercent int) {
	memoryLimit, gcPercent = -1, -1
	if getenv("GOMEMLIMIT") == "" {
		// A soft limit makes the collector work harder as the heap nears it
		// instead of letting the heap double before each cycle. With
		// 10,000 credentials the live heap is ~23 MiB at rest and ~30 MiB
		// under load (issue 15; it was 39 and 50): 44 MiB keeps RSS (which
		// adds ~20 MiB of binary pages) near the 64 MiB target under load,
		// where 64 MiB let it reach 80 MiB. Lower limits (40, 42 MiB) did
		// not lower RSS under load, where the live heap plus the runtime's
		// own ~9 MiB already reach them, cost 1.35–1.6× the CPU per
		// request, and at 40 MiB one run's heap outgrew the limit (README,
		// Performance). A small pool's heap never nears the limit.
		// GOMEMLIMIT overrides it.
		memoryLimit = defaultMemoryLimit
	}
	if getenv("GOGC") == "" {
		gcPercent = defaultGCPercent
	}
	return memoryLimit, gcPercent
}

// hooks lets tests observe a running server; production passes none.
type hooks struct {
	// listening receives the bound address once the server accepts.
	listening chan<- string
	// logCore, when set, receives every log entry too.
	logCore zapcore.Core
	// httpClient replaces the upstream clients (tests).
	httpClient *http.Client
	// actorTap, when set, is told of every message the actors handled
	// (actors.Deps.Tap; tests wait on it).
	actorTap func(who string, msg any)
	// accessClock, when set, drives the access log's flush interval, and
	// accessOutput replaces its output (tests).
	accessClock  zapcore.Clock
	accessOutput string
}

// run is main without the process: it returns when ctx ends (after a
// graceful shutdown) or when start-up fails.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return runWith(ctx, args, getenv, stdout, hooks{})
}

func runWith(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer, h hooks) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "import":
			return runImport(ctx, args[1:], getenv, stdout)
		case "healthcheck":
			return runHealthcheck(ctx, args[1:], getenv, stdout)
		case "help":
			if len(args) > 1 {
				return usageErrorf("pollux help takes no arguments")
			}
			printHelp(stdout)
			return nil
		case "version":
			if len(args) > 1 {
				return usageErrorf("pollux version takes no arguments")
			}
			fmt.Fprintln(stdout, versionLine())
			return nil
		default:
			return usageErrorf("unknown command %q; the commands are import, healthcheck, help and version (pollux --help)", args[0])
		}
	}
	fl := flag.NewFlagSet("pollux", flag.ContinueOnError)
	fl.SetOutput(stdout)
	fl.Usage = func() { printHelp(fl.Output()) }
	configFlag := fl.String("config", "", "config file (default $POLLUX_CONFIG, else ./config.toml)")
	showVersion := fl.Bool("version", false, "print the version and exit")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	if *showVersion {
		fmt.Fprintln(stdout, versionLine())
		return nil
	}
	memoryLimit, gcPercent := runtimeDefaults(getenv)
	if memoryLimit >= 0 {
		debug.SetMemoryLimit(memoryLimit)
	}
	if gcPercent >= 0 {
		debug.SetGCPercent(gcPercent)
	}
	path, namedBy := config.LocatePath(*configFlag, getenv)
	if namedBy != "" {
		if err := mustExist(path, namedBy); err != nil {
			return err
		}
	} else if err := firstRun(path, getenv, stdout); err != nil {
		return err
	}
	cfg, warnings, err := config.Load(path, getenv)
	if err != nil {
		return configError(path, warnings, err)
	}
	log, level, err := newLogger(cfg.Basic, h.logCore)
	if err != nil {
		return err
	}
	defer func() { _ = log.Sync() }()
	access, stopAccess, err := newAccessLogger(cfg.Basic, level, h)
	if err != nil {
		return err
	}
	// However run ends (a clean stop, a signal, a failed start), the
	// buffered access lines are written out first.
	defer func() { _ = stopAccess() }()
	for _, w := range warnings {
		log.Warn("config: "+w.Message, zap.String("key", w.Key), zap.Int("line", w.Line), zap.String("file", path))
	}
	key, err := secretsKey(cfg.Basic, getenv)
	if err != nil {
		return err
	}
	return serve(ctx, cfg, key, log, access, level, h)
}

// mustExist refuses a config file named by --config or POLLUX_CONFIG that
// does not exist: writing a fresh one there would start a second gateway
// with a new key, and on every interface, because of a typo.
func mustExist(path, namedBy string) error {
	_, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("config %s (named by %s) does not exist.\n"+
			"A file named by --config or POLLUX_CONFIG must exist; only the default ./config.toml, "+
			"with neither given, is written on first run. Check the path, or start from the template: "+
			"deploy/config.toml.example", path, namedBy)
	}
	return nil
}

// firstRun writes the embedded default config when the file does not exist
// and tells the operator the generated key, once.
func firstRun(path string, getenv func(string) string, stdout io.Writer) error {
	if _, err := os.Stat(path); err == nil || !errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	created, key, err := config.EnsureFile(path, rand.Reader)
	if err != nil {
		return fmt.Errorf("no config at %s and writing a default one failed: %w", path, err)
	}
	if created {
		fmt.Fprintf(stdout, "pollux: no config file found; wrote %s with a new random key.\n", path)
		if getenv("POLLUX_KEY") != "" {
			fmt.Fprintln(stdout, "pollux: POLLUX_KEY is set and overrides the key in the file.")
		} else {
			fmt.Fprintf(stdout, "pollux: your Pollux key (shown once; it is also in the file): %s\n", key.Reveal())
		}
	}
	return nil
}

// newLogger builds the process logger; its level is the returned atomic
// level, which the admin API changes at run time.
func newLogger(b config.Basic, extra zapcore.Core) (*zap.Logger, zap.AtomicLevel, error) {
	level, err := zapcore.ParseLevel(b.LogLevel)
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("loglevel: %w", err)
	}
	zc := loggerConfig(b)
	atomic := zap.NewAtomicLevelAt(level)
	zc.Level = atomic
	zc.DisableStacktrace = level != zapcore.DebugLevel
	log, err := zc.Build()
	if err != nil {
		return nil, zap.AtomicLevel{}, fmt.Errorf("logger: %w", err)
	}
	if extra != nil {
		log = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, extra) }))
	}
	return log, atomic, nil
}

// loggerConfig is the zap configuration of the log format b names.
func loggerConfig(b config.Basic) zap.Config {
	zc := zap.NewProductionConfig()
	if b.LogFormat == "console" {
		zc = zap.NewDevelopmentConfig()
	}
	zc.Sampling = nil
	return zc
}

// accessFlushInterval is how long an access line may wait in the buffer.
const accessFlushInterval = time.Second

// newAccessLogger builds the access log's logger: the process logger's
// format, output and level, through a buffer written out every
// accessFlushInterval (or when it fills) instead of one write per request.
// stop writes out what is buffered; run defers it. Warnings and errors
// keep going through the unbuffered process logger.
func newAccessLogger(b config.Basic, level zap.AtomicLevel, h hooks) (_ *zap.Logger, stop func() error, _ error) {
	zc := loggerConfig(b)
	if h.accessOutput != "" {
		zc.OutputPaths = []string{h.accessOutput}
	}
	out, closeOut, err := zap.Open(zc.OutputPaths...)
	if err != nil {
		return nil, nil, fmt.Errorf("access log: %w", err)
	}
	buffered := &zapcore.BufferedWriteSyncer{WS: out, FlushInterval: accessFlushInterval, Clock: h.accessClock}
	enc := zapcore.NewJSONEncoder(zc.EncoderConfig)
	if zc.Encoding == "console" {
		enc = zapcore.NewConsoleEncoder(zc.EncoderConfig)
	}
	core := zapcore.NewCore(enc, buffered, level)
	if h.logCore != nil {
		core = zapcore.NewTee(core, h.logCore)
	}
	// No caller: it would be the access log middleware's line on every
	// entry, at the cost of a stack walk per request.
	log := zap.New(core, zap.ErrorOutput(out))
	return log, func() error {
		err := buffered.Stop()
		closeOut()
		return err
	}, nil
}

// serve wires storage, providers, actors and transport, serves until ctx
// ends, then shuts down in order: HTTP drain, actors, database.
func serve(ctx context.Context, cfg config.Config, secretsKey []byte, log, access *zap.Logger, level zap.AtomicLevel, h hooks) (err error) {
	// One process per database: a second writer would reuse refresh tokens
	// the first has already rotated. The kernel drops the lock when this
	// process dies, however it dies.
	lock, err := storage.AcquireLock(cfg.Basic.DatabasePath())
	if err != nil {
		return err
	}
	defer func() {
		if rerr := lock.Release(); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	db, err := storage.Open(ctx, cfg.Basic.DatabasePath(), log)
	if err != nil {
		return fmt.Errorf("open database: %w", err)
	}
	defer func() {
		if cerr := db.Close(); cerr != nil {
			err = errors.Join(err, fmt.Errorf("close database: %w", cerr))
		}
	}()
	if err := setupSecrets(ctx, db, cfg.Basic, secretsKey, log); err != nil {
		return err
	}
	if err := importOriginalTables(ctx, db, log); err != nil {
		return err
	}

	gclient, err := upstreamClient(cfg.Providers.GeminiCLI, h)
	if err != nil {
		return fmt.Errorf("providers.geminicli: %w", err)
	}
	cclient, err := upstreamClient(cfg.Providers.Codex, h)
	if err != nil {
		return fmt.Errorf("providers.codex: %w", err)
	}
	gemini := geminicli.New(cfg.Providers.GeminiCLI, gclient, log.Named(providers.GeminiCLI))
	cdx := codex.New(cfg.Providers.Codex, cclient, log.Named(providers.Codex))

	sys, err := actors.Start(ctx, actors.Deps{DB: db, Logger: log, Tap: h.actorTap, Pools: []actors.PoolSpec{
		{Name: providers.GeminiCLI, Authority: gemini, Config: cfg.Providers.GeminiCLI},
		{Name: providers.Codex, Authority: cdx, Config: cfg.Providers.Codex},
	}})
	if err != nil {
		return fmt.Errorf("start actors: %w", err)
	}
	stopActors := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		return sys.Stop(sctx)
	}

	srv := transport.New(transport.Deps{
		Config: cfg, Logger: log, AccessLog: access,
		Ready: func(ctx context.Context) error {
			if err := db.Ping(ctx); err != nil {
				return errors.New("database unreachable")
			}
			return sys.Healthy()
		},
		GeminiPool: sys.Pool(providers.GeminiCLI), Gemini: gemini,
		CodexPool: sys.Pool(providers.Codex), Codex: cdx,
		LogLevel: level, Metrics: prometheus.NewRegistry(),
		Keys: sys.Keys(),
	})
	if err := enableOAuth(ctx, srv, sys, cfg.Basic); err != nil {
		return errors.Join(fmt.Errorf("oauth: %w", err), stopActors())
	}

	network, families := listenNetwork(cfg.Basic.ListenAddr)
	ln, err := net.Listen(network, cfg.Basic.Addr())
	if err != nil {
		return errors.Join(fmt.Errorf("listen: %w", err), stopActors())
	}
	log.Info("pollux listening", zap.String("addr", ln.Addr().String()), zap.String("ip", families))
	if h.listening != nil {
		h.listening <- ln.Addr().String()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err = <-served:
		// The server stopped on its own: that is a failure.
		if err == nil {
			err = errors.New("server stopped unexpectedly")
		}
	case <-ctx.Done():
		log.Info("shutting down: draining in-flight requests (a second SIGINT/SIGTERM stops at once)",
			zap.Duration("timeout", cfg.Basic.ShutdownTimeout()))
		dctx, cancel := context.WithTimeout(context.Background(), cfg.Basic.ShutdownTimeout())
		stopWaiting := onSecondSignal(dctx, func() {
			log.Warn("second signal: ending the drain now")
			// The open streams write their terminal error event; a
			// moment later whatever is left is closed.
			srv.EndStreams()
			time.AfterFunc(secondSignalGrace, cancel)
		})
		if derr := srv.Shutdown(dctx); derr != nil {
			log.Warn("drain ended before every request finished", zap.Error(derr))
		}
		stopWaiting()
		cancel()
		<-served
	}
	if serr := stopActors(); serr != nil {
		err = errors.Join(err, fmt.Errorf("stop actors: %w", serr))
	}
	log.Info("pollux stopped")
	return err
}

// secondSignalGrace is how long a second SIGINT/SIGTERM leaves the open
// streams to send their terminal error event before the server closes.
const secondSignalGrace = 250 * time.Millisecond

// onSecondSignal calls f when SIGINT or SIGTERM arrives again before ctx
// ends (the first one started the shutdown); stop ends the watch.
func onSecondSignal(ctx context.Context, f func()) (stop func()) {
	again := make(chan os.Signal, 1)
	signal.Notify(again, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-again:
			f()
		case <-ctx.Done():
		case <-done:
		}
	}()
	return func() {
		signal.Stop(again)
		close(done)
	}
}

// listenNetwork picks the network that binds exactly the address asked for:
// an IPv4 address (0.0.0.0 included) binds IPv4 only, "::" both families
// (dual stack), another IPv6 address IPv6 only, and a host name whatever it
// resolves to. families says which, for the log.
func listenNetwork(listenAddr string) (network, families string) {
	ip := net.ParseIP(strings.Trim(listenAddr, "[]"))
	switch {
	case ip == nil:
		return "tcp", "as resolved"
	case ip.To4() != nil:
		return "tcp4", "ipv4"
	case ip.IsUnspecified():
		return "tcp", "ipv4+ipv6"
	default:
		return "tcp6", "ipv6"
	}
}

func upstreamClient(p config.Provider, h hooks) (*http.Client, error) {
	if h.httpClient != nil {
		return h.httpClient, nil
	}
	return egress.NewClient(egress.Options{Proxy: p.Proxy})
}
