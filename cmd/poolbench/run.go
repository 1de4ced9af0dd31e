package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/cmd/internal/quotasim"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/providers/codex"
	codexfake "github.com/pollux-gateway/pollux/providers/codex/fakeupstream"
	"github.com/pollux-gateway/pollux/providers/egress"
	"github.com/pollux-gateway/pollux/providers/geminicli"
	geminifake "github.com/pollux-gateway/pollux/providers/geminicli/fakeupstream"
	"github.com/pollux-gateway/pollux/storage"
	"github.com/pollux-gateway/pollux/transport"
)

// benchKey is the Pollux key of the benchmark's gateway.
const benchKey = "poolbench-key-0123456789abcdef"

var (
	geminiModels = []string{"gemini-2.5-pro", "gemini-2.5-flash"}
	codexModels  = []string{"gpt-5.2-codex", "gpt-5.2"}
)

type options struct {
	providers      []string
	loads          []int
	geminiAccounts int
	codexAccounts  int
	geminiQuota    int
	codexQuota     int
	window         time.Duration
	windows        int
	routing        string
	queueTimeout   time.Duration
	quotaPoll      time.Duration
	seed           uint64
	json           bool
	explain        int
}

func parseFlags(args []string, out io.Writer) (options, error) {
	var o options
	var provs, loads string
	fs := flag.NewFlagSet("poolbench", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&provs, "providers", "geminicli,codex", "providers to run, comma-separated")
	fs.StringVar(&loads, "loads", "50,90,100,150", "offered loads in percent of the pool's capacity, comma-separated")
	fs.IntVar(&o.geminiAccounts, "gemini-accounts", 100, "Gemini credentials")
	fs.IntVar(&o.codexAccounts, "codex-accounts", 20, "Codex accounts")
	fs.IntVar(&o.geminiQuota, "gemini-quota", 4, "Gemini requests per account, per model, per window")
	fs.IntVar(&o.codexQuota, "codex-quota", 20, "Codex requests per account per window (all models)")
	fs.DurationVar(&o.window, "window", 20*time.Second, "quota window")
	fs.IntVar(&o.windows, "windows", 3, "run length in windows")
	fs.StringVar(&o.routing, "routing", config.RoutingQuota, "Pollux routing: quota or lru")
	fs.DurationVar(&o.queueTimeout, "queue-timeout", 10*time.Second, "Pollux queue timeout (and the oracle's)")
	fs.DurationVar(&o.quotaPoll, "quota-poll", 10*time.Second, "Pollux quota_poll_secs (0: off)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the arrivals")
	fs.BoolVar(&o.json, "json", false, "print results as JSON lines")
	fs.IntVar(&o.explain, "explain", 0, "print to stderr, for up to N client 429s while quota existed, the rule that refused and the pool's view of the accounts that had quota")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	var errs []error
	for _, p := range strings.Split(provs, ",") {
		switch p = strings.TrimSpace(p); p {
		case quotasim.Gemini, quotasim.Codex:
			o.providers = append(o.providers, p)
		default:
			errs = append(errs, fmt.Errorf("-providers: unknown provider %q", p))
		}
	}
	for _, l := range strings.Split(loads, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("-loads: %q is not a positive percentage", l))
			continue
		}
		o.loads = append(o.loads, n)
	}
	if o.geminiAccounts < 1 || o.codexAccounts < 1 || o.geminiQuota < 1 || o.codexQuota < 1 {
		errs = append(errs, errors.New("accounts and quotas must be at least 1"))
	}
	if o.window < time.Second || o.windows < 1 {
		errs = append(errs, errors.New("-window must be at least 1s and -windows at least 1"))
	}
	if o.routing != config.RoutingQuota && o.routing != config.RoutingLRU {
		errs = append(errs, fmt.Errorf("-routing must be %q or %q", config.RoutingQuota, config.RoutingLRU))
	}
	if o.queueTimeout < time.Second || o.queueTimeout > 600*time.Second {
		errs = append(errs, errors.New("-queue-timeout must be 1s..600s"))
	}
	if o.quotaPoll != 0 && (o.quotaPoll < 10*time.Second || o.quotaPoll > 86400*time.Second) {
		errs = append(errs, errors.New("-quota-poll must be 0 or 10s..24h"))
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	return o, errors.Join(errs...)
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	o, err := parseFlags(args, stdout)
	if err != nil {
		return err
	}
	if !o.json {
		printHeader(stdout, o)
	}
	for _, p := range o.providers {
		for _, load := range o.loads {
			res, err := runOne(ctx, o, p, load)
			if err != nil {
				return fmt.Errorf("%s at %d%%: %w", p, load, err)
			}
			if err := printResult(stdout, o, res); err != nil {
				return err
			}
		}
	}
	return nil
}

// gateway is one Pollux in this process, over the simulated upstreams.
type gateway struct {
	url     string
	sys     *actors.System
	srv     *http.Server
	db      *storage.DB
	closeFn func()
	// refusals holds the scheduler's refusal records (-explain), else nil.
	refusals *refusals
}

// startUpstream serves both fakes, provider's behind its quota simulator.
func startUpstream(sim *quotasim.Sim, provider string, gtokens []string, ctokens []string) (string, *http.Server, error) {
	gf, cf := geminifake.New(), codexfake.New()
	gf.SetRecord(false)
	cf.SetRecord(false)
	for i, rt := range gtokens {
		gf.AddAccount(rt, geminifake.Account{Email: fmt.Sprintf("g%d@example.com", i), Sub: fmt.Sprintf("g-sub-%d", i),
			Tier: "standard-tier", Project: geminiProject(i)})
	}
	for i, rt := range ctokens {
		cf.AddAccount(rt, codexfake.Account{ID: codexAccount(i), Sub: fmt.Sprintf("c-sub-%d", i),
			Email: fmt.Sprintf("c%d@example.com", i), PlanType: "pro"})
	}
	var g, c http.Handler = gf, cf
	if provider == quotasim.Gemini {
		g = sim.Handler(gf)
	} else {
		c = sim.Handler(cf)
	}
	mux := http.NewServeMux()
	mux.Handle("/gemini/", http.StripPrefix("/gemini", g))
	mux.Handle("/codex/", http.StripPrefix("/codex", c))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), srv, nil
}

func geminiProject(i int) string { return "bench-project-" + strconv.Itoa(i) }
func codexAccount(i int) string  { return "bench-codex-account-" + strconv.Itoa(i) }

// startGateway wires a Pollux the way cmd/pollux does, on a temporary
// database, with the upstream URLs pointed at base.
func startGateway(ctx context.Context, o options, base string) (*gateway, error) {
	dir, err := os.MkdirTemp("", "poolbench-")
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Basic.PolluxKey = config.Secret(benchKey)
	poll := int(o.quotaPoll / time.Second)
	for _, p := range []*config.Provider{&cfg.Providers.GeminiCLI, &cfg.Providers.Codex} {
		p.QueueTimeoutSecs = int(o.queueTimeout / time.Second)
		p.OAuthTPS = 10000
		p.Routing = o.routing
		p.QuotaPollSecs = poll
	}
	g := &cfg.Providers.GeminiCLI
	g.ModelList = geminiModels
	g.CustomAPIURL, g.OAuthTokenURL, g.OAuthUserInfoURL = base+"/gemini", base+"/gemini/token", base+"/gemini/userinfo"
	c := &cfg.Providers.Codex
	c.ModelList = codexModels
	c.CustomAPIURL, c.OAuthTokenURL = base+"/codex", base+"/codex"+string(codexfake.Token)

	log := zap.NewNop()
	var refused *refusals
	if o.explain > 0 {
		refused = newRefusals()
		log = refused.logger()
	}
	db, err := storage.Open(ctx, filepath.Join(dir, "pollux.db"), log)
	if err != nil {
		return nil, err
	}
	hc, err := egress.NewClient(egress.Options{})
	if err != nil {
		return nil, err
	}
	gem := geminicli.New(*g, hc, log, geminicli.WithPollInterval(time.Millisecond))
	cdx := codex.New(*c, hc, log)
	sys, err := actors.Start(ctx, actors.Deps{DB: db, Logger: log, Pools: []actors.PoolSpec{
		{Name: providers.GeminiCLI, Authority: gem, Config: *g},
		{Name: providers.Codex, Authority: cdx, Config: *c},
	}})
	if err != nil {
		return nil, err
	}
	srv := transport.New(transport.Deps{Config: cfg, Logger: log, Ready: func(context.Context) error { return sys.Healthy() },
		GeminiPool: sys.Pool(providers.GeminiCLI), Gemini: gem, CodexPool: sys.Pool(providers.Codex), Codex: cdx,
		Metrics: prometheus.NewRegistry()})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	gw := &gateway{url: "http://" + ln.Addr().String(), sys: sys, srv: hs, db: db, refusals: refused}
	gw.closeFn = func() {
		sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		_ = hs.Shutdown(sctx)
		_ = sys.Stop(sctx)
		_ = db.Close()
		hc.CloseIdleConnections()
		_ = os.RemoveAll(dir)
	}
	return gw, nil
}

// onboard adds every account to the pool.
func (g *gateway) onboard(ctx context.Context, provider string, tokens []string) error {
	seeds := make([]providers.Credential, len(tokens))
	for i, t := range tokens {
		seeds[i] = providers.Credential{RefreshToken: config.Secret(t)}
	}
	verdicts, err := g.sys.Pool(provider).Add(ctx, seeds...)
	if err != nil {
		return err
	}
	for _, v := range verdicts {
		if v.Result != actors.VerdictAdded && v.Result != actors.VerdictUpdated {
			return fmt.Errorf("onboarding: %+v", v)
		}
	}
	return nil
}

// awaitQuota waits until every credential of provider has a quota report
// (none when quota reading is off).
func (g *gateway) awaitQuota(ctx context.Context, provider string, n int, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		snap, err := g.sys.Pool(provider).Snapshot(ctx)
		if err != nil {
			return err
		}
		have := 0
		for _, v := range snap.Credentials {
			if len(v.Quota) > 0 {
				have++
			}
		}
		if have >= n || limit <= 5*time.Second {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d credentials reported their quota within %s", have, n, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// result is one run's figures.
type result struct {
	Provider       string  `json:"provider"`
	LoadPercent    int     `json:"load_percent"`
	Capacity       float64 `json:"capacity_rps"`
	Offered        int     `json:"offered"`
	Oracle         int     `json:"oracle_served"`
	Served         int     `json:"served"`
	ServedRatio    float64 `json:"served_over_oracle"`
	Client429      int     `json:"client_429"`
	Client429Quota int     `json:"client_429_while_quota"`
	OtherErrors    int     `json:"other_errors"`
	UpstreamCalls  int64   `json:"upstream_calls"`
	Upstream429    int64   `json:"upstream_429"`
	WaitP50        float64 `json:"wait_p50_ms"`
	WaitP99        float64 `json:"wait_p99_ms"`
	OracleWaitP99  float64 `json:"oracle_wait_p99_ms"`
	RetryAfterMax  float64 `json:"retry_after_max_error_s"`
	RetryAfterLate int     `json:"retry_after_late_over_1s"`
	// UnusedQuota and OracleUnused count the quota slots of the windows
	// wholly inside the arrivals that nobody used.
	UnusedQuota  int `json:"unused_quota"`
	OracleUnused int `json:"oracle_unused_quota"`
}

// outcome is what happened to one arrival.
type outcome struct {
	status     int
	complete   bool
	wait       time.Duration
	quotaMiss  bool // a 429 while some account had quota, still 50 ms later
	raErr      time.Duration
	retryAfter bool
	// evidence is what -explain read at the refusal.
	evidence *evidence
}

func runOne(ctx context.Context, o options, provider string, load int) (*result, error) {
	accounts, quota, models := o.geminiAccounts, o.geminiQuota, geminiModels
	if provider == quotasim.Codex {
		accounts, quota, models = o.codexAccounts, o.codexQuota, codexModels
	}
	gtokens, ctokens := tokens("bench-gemini-", o.geminiAccounts), tokens("bench-codex-", o.codexAccounts)
	ids := make([]string, accounts)
	for i := range ids {
		if provider == quotasim.Gemini {
			ids[i] = geminiProject(i)
		} else {
			ids[i] = codexAccount(i)
		}
	}
	// The windows run from now; the load starts once the gateway has read
	// every credential's quota once (a gateway that has been up for a poll
	// interval), so the run measures routing, not the first minutes of a
	// gateway that knows nothing yet (compressed windows would make those
	// weigh far more than they do over real, hours-long windows).
	epoch := time.Now()
	sim := quotasim.New(provider, quotasim.Config{Window: o.window, Quota: quota, Models: models}, ids,
		epoch, time.Now)
	base, up, err := startUpstream(sim, provider, gtokens, ctokens)
	if err != nil {
		return nil, err
	}
	defer func() { _ = up.Close() }()
	gw, err := startGateway(ctx, o, base)
	if err != nil {
		return nil, err
	}
	defer gw.closeFn()
	toks := gtokens
	if provider == quotasim.Codex {
		toks = ctokens
	}
	if err := gw.onboard(ctx, provider, toks); err != nil {
		return nil, err
	}
	if err := gw.awaitQuota(ctx, provider, accounts, o.quotaPoll+5*time.Second); err != nil {
		return nil, err
	}
	start := time.Now()
	lead := start.Sub(epoch)

	capacity := sim.Capacity()
	if provider == quotasim.Gemini {
		capacity *= float64(len(models)) // each model has its own quota
	}
	span := time.Duration(o.windows) * o.window
	rng := rand.New(rand.NewPCG(o.seed, uint64(load)))
	arr := poissonArrivals(rng, capacity*float64(load)/100, span, models)

	client := &http.Client{Timeout: o.queueTimeout + time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 1024}}
	outs := make([]outcome, len(arr))
	var explained atomic.Int64
	done := make(chan int, len(arr))
	for i, a := range arr {
		if d := time.Until(start.Add(a.at)); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		go func() {
			var gather func(requestID string) *evidence
			if o.explain > 0 {
				gather = func(id string) *evidence { return gw.gather(ctx, provider, a.model, id, sim) }
			}
			reqID := fmt.Sprintf("pb-%s-%d-%d", provider, load, i)
			outs[i] = send(ctx, client, gw.url, provider, a, sim, reqID, gather)
			if outs[i].quotaMiss && outs[i].evidence != nil {
				if n := explained.Add(1); n <= int64(o.explain) {
					outs[i].evidence.print(os.Stderr, int(n), provider, a.model, gw.refusals.get(reqID))
				}
			}
			done <- i
		}()
	}
	for range arr {
		<-done
	}

	orc := newOracle(o.window, quota, sim.Offsets(), o.queueTimeout, provider == quotasim.Codex)
	res := &result{Provider: provider, LoadPercent: load, Capacity: capacity, Offered: len(arr)}
	var waits, oracleWaits []float64
	for i, a := range arr {
		if ok, w := orc.serve(lead+a.at, a.model); ok {
			res.Oracle++
			oracleWaits = append(oracleWaits, ms(w))
		}
		out := outs[i]
		switch {
		case out.status == http.StatusOK && out.complete:
			res.Served++
			waits = append(waits, ms(out.wait))
		case out.status == http.StatusTooManyRequests:
			res.Client429++
			if out.quotaMiss {
				res.Client429Quota++
			}
			if out.retryAfter {
				if e := out.raErr.Seconds(); e > res.RetryAfterMax {
					res.RetryAfterMax = e
				}
				if out.raErr > time.Second {
					res.RetryAfterLate++
				}
			}
		default:
			res.OtherErrors++
		}
	}
	if res.Oracle > 0 {
		res.ServedRatio = float64(res.Served) / float64(res.Oracle)
	}
	st := sim.Stats()
	res.UpstreamCalls, res.Upstream429 = st.Calls, st.Limited
	res.WaitP50, res.WaitP99 = percentile(waits, 50), percentile(waits, 99)
	res.OracleWaitP99 = percentile(oracleWaits, 99)
	res.UnusedQuota = sim.Unused(start, start.Add(span))
	if gw.refusals != nil {
		fmt.Fprintf(os.Stderr, "%s %d%%: upstream 429s failed over from, by the pick that sent them: %v\n",
			provider, load, gw.refusals.limited())
	}
	res.OracleUnused = orc.unused(lead, lead+span, models)
	return res, nil
}

func tokens(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i)
	}
	return out
}

// send makes one client request and reads the whole answer. When gather is
// not nil, a 429 sent while some account had quota has it read the evidence
// at once.
func send(ctx context.Context, client *http.Client, base, provider string, a arrival, sim *quotasim.Sim,
	requestID string, gather func(requestID string) *evidence) outcome {
	var (
		url  string
		body string
	)
	if provider == quotasim.Gemini {
		method := "generateContent"
		if a.stream {
			method = "streamGenerateContent?alt=sse"
		}
		url = base + "/geminicli/v1beta/models/" + a.model + ":" + method
		body = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
	} else {
		url = base + "/codex/v1/responses"
		body = `{"model":"` + a.model + `","input":"hi","stream":` + strconv.FormatBool(a.stream) + `}`
	}
	began := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		return outcome{}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+benchKey)
	req.Header.Set("X-Request-Id", requestID)
	resp, err := client.Do(req)
	if err != nil {
		return outcome{}
	}
	data, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	out := outcome{status: resp.StatusCode, wait: time.Since(began)}
	if err != nil {
		return out
	}
	text := string(data)
	if resp.StatusCode == http.StatusOK {
		switch {
		case provider == quotasim.Gemini && a.stream:
			out.complete = strings.Contains(text, "finishReason")
		case provider == quotasim.Codex && a.stream:
			out.complete = strings.Contains(text, "response.completed")
		default:
			out.complete = json.Valid(data)
		}
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		now := time.Now()
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil {
			truth := sim.NextAvailable(a.model, now).Sub(now)
			out.retryAfter, out.raErr = true, time.Duration(secs)*time.Second-truth
		}
		if sim.Available(a.model, now) {
			if gather != nil {
				out.evidence = gather(requestID)
			}
			// Still there 50 ms later: no race with a reset or another
			// request explains the refusal.
			time.Sleep(50 * time.Millisecond)
			out.quotaMiss = sim.Available(a.model, time.Now())
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// percentile returns the p-th percentile (nearest rank) of xs.
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	i := int(p/100*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func printHeader(w io.Writer, o options) {
	fmt.Fprintf(w, "poolbench: %d Gemini credentials (%d req/model/window), %d Codex accounts (%d req/window), window %s, %d windows, routing %s, queue timeout %s\n",
		o.geminiAccounts, o.geminiQuota, o.codexAccounts, o.codexQuota, o.window, o.windows, o.routing, o.queueTimeout)
	fmt.Fprintf(w, "%-9s %5s %7s %7s %7s %7s %9s %6s %9s %9s %8s %8s %9s %6s %13s\n",
		"provider", "load", "offered", "oracle", "served", "ratio", "429", "q-miss", "up-calls", "up-429", "wait50", "wait99", "RA-maxerr", "RA>1s", "unused/oracle")
}

func printResult(w io.Writer, o options, r *result) error {
	if o.json {
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	up429 := 0.0
	if r.UpstreamCalls > 0 {
		up429 = 100 * float64(r.Upstream429) / float64(r.UpstreamCalls)
	}
	_, err := fmt.Fprintf(w, "%-9s %4d%% %7d %7d %7d %6.1f%% %9d %6d %9d %5d/%.1f%% %6.0fms %6.0fms %8.2fs %6d %6d/%d\n",
		r.Provider, r.LoadPercent, r.Offered, r.Oracle, r.Served, 100*r.ServedRatio, r.Client429, r.Client429Quota,
		r.UpstreamCalls, r.Upstream429, up429, r.WaitP50, r.WaitP99, r.RetryAfterMax, r.RetryAfterLate, r.UnusedQuota, r.OracleUnused)
	return err
}
