package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/pollux-gateway/pollux/cmd/internal/quotasim"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
)

// Mount points of the two fakes.
const (
	geminiPrefix = "/gemini"
	codexPrefix  = "/codex"
)

// shutdownTimeout bounds the graceful drain after SIGINT/SIGTERM.
const shutdownTimeout = 5 * time.Second

type options struct {
	listen         string
	geminiAccounts int
	codexAccounts  int
	latency        time.Duration
	quota          int
	window         time.Duration
	printConfig    bool
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("upstreamsim", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.listen, "listen", "127.0.0.1:9090", "address to listen on")
	fs.IntVar(&o.geminiAccounts, "gemini-accounts", 1, "Gemini accounts to register (refresh tokens sim-gemini-<i>)")
	fs.IntVar(&o.codexAccounts, "codex-accounts", 1, "Codex accounts to register (refresh tokens sim-codex-<i>)")
	fs.DurationVar(&o.latency, "latency", 0, "delay added before every answer")
	fs.IntVar(&o.quota, "quota", 0, "generate calls each account may make before it answers 429 daily quota / usage limit until restart (0: no limit); per -window when set")
	fs.DurationVar(&o.window, "window", 0, "with -quota: a quota window that resets (per account and model on Gemini, per account on Codex), with truthful resets in 429s, headers and the quota endpoints")
	fs.BoolVar(&o.printConfig, "print-config", false, "print a Pollux config snippet and the refresh tokens")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.geminiAccounts < 0 || o.codexAccounts < 0 {
		errs = append(errs, errors.New("-gemini-accounts and -codex-accounts must not be negative"))
	}
	if o.latency < 0 {
		errs = append(errs, errors.New("-latency must not be negative"))
	}
	if o.quota < 0 {
		errs = append(errs, errors.New("-quota must not be negative"))
	}
	if o.window < 0 || (o.window > 0 && o.quota == 0) {
		errs = append(errs, errors.New("-window must not be negative, and needs -quota"))
	}
	return o, errors.Join(errs...)
}

// run serves both fakes until ctx is done, then drains in-flight requests.
// Once the listener is bound it writes "listening on ADDR" to stdout (as a
// TOML comment with -print-config).
func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	addr := ln.Addr().String()
	gemini, codex := geminiTokens(o.geminiAccounts), codexTokens(o.codexAccounts)
	if o.printConfig {
		if err := writeConfig(stdout, "http://"+addr, gemini, codex); err != nil {
			_ = ln.Close()
			return err
		}
	}
	srv := &http.Server{
		Handler:           newHandler(gemini, codex, o),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	// With -print-config everything on stdout is TOML: the line is a
	// comment there.
	ready := "listening on %s\n"
	if o.printConfig {
		ready = "# " + ready
	}
	if _, err := fmt.Fprintf(stdout, ready, addr); err != nil {
		_ = ln.Close()
		return fmt.Errorf("write: %w", err)
	}

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// newHandler builds both fakes, registers the accounts behind the given
// refresh tokens, mounts the fakes under their prefixes and the control API
// under /_sim/ (never delayed by -latency).
func newHandler(geminiTokens, codexTokens []string, o options) http.Handler {
	gemini := geminifake.New()
	// A simulator serves load for as long as it runs: keep no request log.
	gemini.SetRecord(false)
	for i, rt := range geminiTokens {
		gemini.AddAccount(rt, geminifake.Account{
			Email:   "sim-gemini-" + strconv.Itoa(i) + "@example.com",
			Sub:     "sim-gemini-sub-" + strconv.Itoa(i),
			Tier:    "standard-tier",
			Project: "sim-project-" + strconv.Itoa(i),
		})
	}
	codex := codexfake.New()
	codex.SetRecord(false)
	codexIDs := make([]string, len(codexTokens))
	for i, rt := range codexTokens {
		codexIDs[i] = "sim-codex-account-" + strconv.Itoa(i)
		codex.AddAccount(rt, codexfake.Account{
			ID:       codexIDs[i],
			Sub:      "sim-codex-sub-" + strconv.Itoa(i),
			Email:    "sim-codex-" + strconv.Itoa(i) + "@example.com",
			PlanType: "pro",
		})
	}
	var g, c http.Handler = gemini, codex
	switch {
	case o.quota > 0 && o.window > 0:
		projects := make([]string, len(geminiTokens))
		for i := range projects {
			projects[i] = "sim-project-" + strconv.Itoa(i)
		}
		now := time.Now()
		cfg := quotasim.Config{Window: o.window, Quota: o.quota, Models: geminiModels}
		g = quotasim.New(quotasim.Gemini, cfg, projects, now, time.Now).Handler(gemini)
		c = quotasim.New(quotasim.Codex, cfg, codexIDs, now, time.Now).Handler(codex)
	case o.quota > 0:
		gemini.SetAccountQuota(o.quota, geminiDailyQuota())
		codex.SetAccountQuota(o.quota, codexUsageLimit())
	}
	fakes := http.NewServeMux()
	fakes.Handle(geminiPrefix+"/", http.StripPrefix(geminiPrefix, g))
	fakes.Handle(codexPrefix+"/", http.StripPrefix(codexPrefix, c))

	mux := http.NewServeMux()
	ctl := &control{gemini: gemini, codex: codex, geminiAccounts: geminiTokens, codexAccounts: codexIDs, quota: o.quota, now: time.Now}
	ctl.register(mux)
	mux.Handle("/", delayed(fakes, o.latency))
	return mux
}

// delayed holds every answer of h back by latency. The codex fake has no
// latency knob, so one wrapper delays both fakes alike.
func delayed(h http.Handler, latency time.Duration) http.Handler {
	if latency <= 0 {
		return h
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := time.NewTimer(latency)
		defer t.Stop()
		select {
		case <-t.C:
			h.ServeHTTP(w, r)
		case <-r.Context().Done():
		}
	})
}

// geminiModels are the models the Gemini quota endpoint reports with
// -window (Pollux's default model list).
var geminiModels = []string{"gemini-2.5-pro", "gemini-2.5-flash"}

func geminiTokens(n int) []string { return simTokens("sim-gemini-", n) }
func codexTokens(n int) []string  { return simTokens("sim-codex-", n) }

func simTokens(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// writeConfig prints a complete Pollux config file for a Pollux on
// 127.0.0.1:8188 whose upstreams are the simulator at base, with a fresh
// pollux_key; then the refresh tokens as JSON arrays inside TOML comments,
// so the whole output stays valid TOML and loads as it is:
//
//	upstreamsim -print-config > sim.toml && pollux --config sim.toml
func writeConfig(w io.Writer, base string, gemini, codex []string) error {
	g, err := json.Marshal(gemini)
	if err != nil {
		return fmt.Errorf("encode tokens: %w", err)
	}
	c, err := json.Marshal(codex)
	if err != nil {
		return fmt.Errorf("encode tokens: %w", err)
	}
	gb, cb := base+geminiPrefix, base+codexPrefix
	_, err = fmt.Fprintf(w, `# Pollux config for trying Pollux against upstreamsim at %s: every
# upstream URL points at the simulator. Start Pollux with it:
#   go run ./cmd/pollux --config sim.toml
[basic]
listen_addr = "127.0.0.1"
listen_port = 8188
database_url = "sqlite://sim.db"
log_format = "console"
pollux_key = %q

[providers.geminicli]
custom_api_url = %q
oauth_token_url = %q
oauth_userinfo_url = %q

[providers.codex]
custom_api_url = %q
oauth_token_url = %q

# POST to /geminicli/resource:add:
# %s
# POST to /codex/resource:add (each codex refresh token works for one refresh):
# %s
`, base, "sim-pollux-"+rand.Text(), gb, gb+"/token", gb+"/userinfo", cb, cb+string(codexfake.Token), g, c)
	if err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return nil
}
