package transport

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/providers"
	"github.com/pollux-gateway/pollux/transport/operations"
)

// Metrics served at GET /metrics (all prefixed pollux_):
//
//	requests_total{surface,model,code,key}      client requests on the API surfaces; code is
//	                                            the status class (2xx, 4xx, 5xx, ...); key is
//	                                            the member key's name, "operator" for
//	                                            pollux_key, "none" before a key is known
//	request_duration_seconds{surface}           whole request, streams included
//	upstream_latency_seconds{provider}          upstream call until its response headers
//	upstream_ttfb_seconds{provider}             upstream call until its first streamed event
//	failovers_total{provider,reason}            attempts retried on another credential, by outcome
//	model_fallbacks_total{provider,model,fallback}  requests served by a fallback model (issue 14)
//	credentials{provider,status}                credentials per status (at scrape time)
//	cooldowns_active{provider,model}            running cooldowns per model, "*" credential-wide
//	refreshes_total{provider,result}            token refreshes: ok, transient, permanent
//	scheduler_waiting{provider}                 requests queued for a credential (at scrape time)
//	scheduler_wait_seconds{provider}            time from Acquire to its answer
//	tokens_total{provider,model,kind,key}       usage tokens, kind input or output
//
// plus the Go runtime and process collectors. Label values are bounded: a
// model outside the provider's model_list counts as "other", a request
// without a model as "none".

// Bounded label values. Key names are chosen by the operator, so the key
// label stays bounded too.
const (
	labelOther    = "other"
	labelNone     = "none"
	labelOperator = actors.OperatorKeyName
)

// poolScrapeTimeout bounds the pool snapshots one scrape waits for.
const poolScrapeTimeout = 2 * time.Second

// metrics holds the server's collectors with their label sets resolved
// ahead where the set is fixed, so the request path does no lookups beyond
// a map read.
type metrics struct {
	handler   http.Handler
	surfaces  [surfaceOpenAI + 1]*surfaceMetrics
	providers map[string]*providerMetrics
}

// surfaceMetrics are one API surface's request series.
type surfaceMetrics struct {
	name     string
	duration prometheus.Observer
	requests *prometheus.CounterVec
	// models are the surface's model labels (model_list, "other", "none").
	models []string
	// byKey maps a key label to its byModel.
	byKey sync.Map
}

// byModel holds, per model label, the counters of the status classes
// resolved ahead (index status/100).
type byModel map[string]*statusCounters

// forKey returns the key's counters, resolving them on the key's first
// request; later requests pay one sync.Map read.
func (sm *surfaceMetrics) forKey(key string) byModel {
	if v, ok := sm.byKey.Load(key); ok {
		return v.(byModel)
	}
	bm := make(byModel, len(sm.models))
	for _, model := range sm.models {
		row := &statusCounters{}
		for _, class := range []int{2, 4, 5} {
			row[class] = sm.requests.WithLabelValues(sm.name, model, statusClass(class*100), key)
		}
		bm[model] = row
	}
	v, _ := sm.byKey.LoadOrStore(key, bm)
	return v.(byModel)
}

// statusCounters are one model's request counters by status class.
type statusCounters [6]prometheus.Counter

// providerMetrics are one provider's upstream series.
type providerMetrics struct {
	latency   prometheus.Observer
	ttfb      prometheus.Observer
	wait      prometheus.Observer
	failovers [providers.KindAbandoned + 1]prometheus.Counter
	refreshes [actors.RefreshPermanent + 1]prometheus.Counter
	// fallbacks counts requests moved on to a fallback model, by model
	// and fallback (both of model_list: validated chains bound the series).
	fallbacks *prometheus.CounterVec
	// name, tokensVec and models resolve the token counters of a key
	// (tokensFor).
	name      string
	tokensVec *prometheus.CounterVec
	models    []string
	// tokens maps a key label to its counters per model label (model_list
	// and "other"), a map[string]tokenCounters.
	tokens sync.Map
}

// tokensFor returns the key's token counters per model, resolving them on
// the key's first use.
func (p *providerMetrics) tokensFor(key string) map[string]tokenCounters {
	if v, ok := p.tokens.Load(key); ok {
		return v.(map[string]tokenCounters)
	}
	m := make(map[string]tokenCounters, len(p.models))
	for _, model := range p.models {
		m[model] = tokenCounters{
			input:  p.tokensVec.WithLabelValues(p.name, model, "input", key),
			output: p.tokensVec.WithLabelValues(p.name, model, "output", key),
		}
	}
	v, _ := p.tokens.LoadOrStore(key, m)
	return v.(map[string]tokenCounters)
}

type tokenCounters struct{ input, output prometheus.Counter }

// Histogram buckets, in seconds.
func requestBuckets() []float64 {
	return []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}
}

func upstreamBuckets() []float64 {
	return []float64{0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300}
}

func waitBuckets() []float64 {
	return []float64{0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60}
}

// newMetrics registers every collector on reg. models maps each provider
// to its model_list (bare ids); the surfaces use their provider's list.
func newMetrics(reg *prometheus.Registry, log *zap.Logger, models map[string][]string, pools *poolCollector) *metrics {
	register := func(c prometheus.Collector) {
		if err := reg.Register(c); err != nil {
			log.Warn("metrics: collector not registered", zap.Error(err))
		}
	}
	opts := func(name, help string) prometheus.Opts {
		return prometheus.Opts{Namespace: "pollux", Name: name, Help: help}
	}
	hist := func(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
		o := opts(name, help)
		v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Namespace: o.Namespace, Name: o.Name, Help: o.Help, Buckets: buckets}, labels)
		register(v)
		return v
	}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		v := prometheus.NewCounterVec(prometheus.CounterOpts(opts(name, help)), labels)
		register(v)
		return v
	}

	requests := counter("requests_total", "Client requests on the API surfaces by model, status class and key.", "surface", "model", "code", "key")
	duration := hist("request_duration_seconds", "Time to serve a client request, streams included.", requestBuckets(), "surface")
	latency := hist("upstream_latency_seconds", "Upstream calls until their response headers.", upstreamBuckets(), "provider")
	ttfb := hist("upstream_ttfb_seconds", "Upstream calls until their first streamed event.", upstreamBuckets(), "provider")
	failovers := counter("failovers_total", "Attempts retried on another credential, by the failed attempt's outcome.", "provider", "reason")
	fallbacks := counter("model_fallbacks_total", "Requests served by a fallback model because every credential for the model asked for was cooling beyond the request's patience.", "provider", "model", "fallback")
	refreshes := counter("refreshes_total", "Token refreshes by result (ok, transient, permanent).", "provider", "result")
	wait := hist("scheduler_wait_seconds", "Time from asking the scheduler for a credential to its answer.", waitBuckets(), "provider")
	tokens := counter("tokens_total", "Tokens reported by the upstream's usage accounting.", "provider", "model", "kind", "key")
	register(collectors.NewGoCollector())
	register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	register(pools)

	m := &metrics{providers: make(map[string]*providerMetrics, len(models))}
	for name, list := range models {
		p := &providerMetrics{
			latency: latency.WithLabelValues(name),
			ttfb:    ttfb.WithLabelValues(name),
			wait:    wait.WithLabelValues(name),
			name:    name, tokensVec: tokens, fallbacks: fallbacks,
			models: append(append([]string(nil), list...), labelOther),
		}
		for k := range p.failovers {
			if kind := providers.Kind(k); kind.Retryable() {
				p.failovers[k] = failovers.WithLabelValues(name, kind.String())
			}
		}
		for r := range p.refreshes {
			p.refreshes[r] = refreshes.WithLabelValues(name, actors.RefreshResult(r).String())
		}
		p.tokensFor(labelOperator)
		m.providers[name] = p
	}
	for _, sf := range []surface{surfaceGemini, surfaceOpenAI} {
		name := sf.label()
		list := models[name]
		sm := &surfaceMetrics{name: name, duration: duration.WithLabelValues(name), requests: requests,
			models: append(append([]string(nil), list...), labelOther, labelNone)}
		sm.forKey(labelOperator)
		sm.forKey(labelNone)
		m.surfaces[sf] = sm
	}
	errLog, err := zap.NewStdLogAt(log.Named("metrics"), zapcore.WarnLevel)
	if err != nil {
		errLog = zap.NewStdLog(log.Named("metrics"))
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorLog: errLog, ErrorHandling: promhttp.ContinueOnError})
	return m
}

// label is the surface's metric and log label: the path root it lives under.
func (sf surface) label() string {
	switch sf {
	case surfaceGemini:
		return "geminicli"
	case surfaceOpenAI:
		return "codex"
	case surfacePlain:
	}
	return ""
}

// statusClass is the code label of an HTTP status: "2xx" and so on.
func statusClass(status int) string {
	switch status / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	case 5:
		return "5xx"
	}
	return strconv.Itoa(status)
}

// observeRequest counts one finished request on an API surface under its
// key's name ("" before a key was known).
func (m *metrics) observeRequest(sf surface, key, model string, status int, d time.Duration) {
	if m == nil || int(sf) >= len(m.surfaces) || m.surfaces[sf] == nil {
		return
	}
	sm := m.surfaces[sf]
	sm.duration.Observe(d.Seconds())
	label := model
	if label == "" {
		label = labelNone
	}
	if key == "" {
		key = labelNone
	}
	bm := sm.forKey(key)
	row, ok := bm[label]
	if !ok {
		label, row = labelOther, bm[labelOther]
	}
	if class := status / 100; class >= 0 && class < len(row) && row[class] != nil {
		row[class].Inc()
		return
	}
	sm.requests.WithLabelValues(sm.name, label, statusClass(status), key).Inc()
}

// provider returns a provider's series, nil when unknown (every method of
// *providerMetrics accepts nil).
func (m *metrics) provider(name string) *providerMetrics {
	if m == nil {
		return nil
	}
	return m.providers[name]
}

// RefreshDone implements actors.Observer.
func (m *metrics) RefreshDone(provider string, r actors.RefreshResult) {
	if p := m.provider(provider); p != nil && int(r) < len(p.refreshes) {
		p.refreshes[r].Inc()
	}
}

// QueueWait implements actors.Observer.
func (m *metrics) QueueWait(provider string, waited time.Duration) {
	if p := m.provider(provider); p != nil {
		p.wait.Observe(waited.Seconds())
	}
}

// upstreamAnswered observes an upstream call's time to response headers.
func (p *providerMetrics) upstreamAnswered(d time.Duration) {
	if p != nil {
		p.latency.Observe(d.Seconds())
	}
}

// firstEvent observes an upstream call's time to its first streamed event.
func (p *providerMetrics) firstEvent(d time.Duration) {
	if p != nil {
		p.ttfb.Observe(d.Seconds())
	}
}

// failover counts an attempt that failed with k and is retried elsewhere.
func (p *providerMetrics) failover(k providers.Kind) {
	if p != nil && int(k) < len(p.failovers) && p.failovers[k] != nil {
		p.failovers[k].Inc()
	}
}

// fellBack counts a request moved on from model to fallback.
func (p *providerMetrics) fellBack(model, fallback string) {
	if p != nil {
		p.fallbacks.WithLabelValues(p.name, model, fallback).Inc()
	}
}

// addTokens counts a reply's usage tokens under its key's name and model.
func (p *providerMetrics) addTokens(key, model string, input, output int64) {
	if p == nil {
		return
	}
	if key == "" {
		key = labelOperator
	}
	byModel := p.tokensFor(key)
	tc, ok := byModel[model]
	if !ok {
		tc = byModel[labelOther]
	}
	if input > 0 {
		tc.input.Add(float64(input))
	}
	if output > 0 {
		tc.output.Add(float64(output))
	}
}

// requestInfo is what a handler tells the access log and the request
// metrics about its request. The access log puts it into the echo.Context
// before the handler runs and reads it after the handler returned; only the
// request's goroutine touches it, so it needs no lock. Every method accepts
// nil (a handler run without the middleware).
type requestInfo struct {
	start time.Time
	model string
	// served is the model that served the request when it is not model
	// (an alias's model, a fallback); "" otherwise.
	served       string
	credentialID int64
	attempts     int
	outcome      providers.Kind
	ttfb         time.Duration
	// team is the request's key (teamkeys.go).
	team teamInfo
	// routed is the surface of the pool a root route handed the request
	// to (rootapi.go); surfacePlain otherwise.
	routed surface
	// pick is why the scheduler chose the last credential; set only when
	// debug logging is on (the access log shows it then).
	pick string
}

// requestInfoKey is the echo.Context key of the request's *requestInfo.
const requestInfoKey = "pollux.request"

// requestInfoOf returns the request's info, or nil.
func requestInfoOf(c echo.Context) *requestInfo {
	info, _ := c.Get(requestInfoKey).(*requestInfo)
	return info
}

// surfaceOf is the request's API surface: that of the pool the root
// routed it to, else its path's.
func (i *requestInfo) surfaceOf(path string) surface {
	if i != nil && i.routed != surfacePlain {
		return i.routed
	}
	return surfaceOf(path)
}

func (i *requestInfo) setModel(model string) {
	if i != nil {
		i.model = model
	}
}

// setServed notes the model that served the request.
func (i *requestInfo) setServed(model string) {
	if i != nil && model != i.model {
		i.served = model
	}
}

// attempted notes an upstream attempt (the n-th) on a credential.
func (i *requestInfo) attempted(credentialID int64, n int) {
	if i != nil {
		i.credentialID, i.attempts = credentialID, n
	}
}

func (i *requestInfo) setOutcome(k providers.Kind) {
	if i != nil {
		i.outcome = k
	}
}

// firstByte notes when the answer's first byte came from upstream.
func (i *requestInfo) firstByte(at time.Time) {
	if i != nil {
		i.ttfb = at.Sub(i.start)
	}
}

// appendFields appends the info's access-log fields: the credential's id,
// never its email.
func (i *requestInfo) appendFields(fields []zap.Field, sf surface) []zap.Field {
	if sf != surfacePlain {
		fields = append(fields, zap.String(keySurface, sf.label()))
	}
	if i == nil {
		return fields
	}
	if i.model != "" {
		fields = append(fields, zap.String(keyModel, i.model))
	}
	if i.served != "" {
		fields = append(fields, zap.String(keyServedModel, i.served))
	}
	if i.attempts > 0 {
		fields = append(fields, zap.Int64(keyCredentialID, i.credentialID), zap.Int(keyAttempts, i.attempts),
			zap.String(keyOutcome, i.outcome.String()))
	}
	if i.ttfb > 0 {
		fields = append(fields, zap.Duration(keyTTFB, i.ttfb))
	}
	if i.pick != "" {
		fields = append(fields, zap.String("pick", i.pick))
	}
	return fields
}

// picked notes why the scheduler chose the attempt's credential.
func (i *requestInfo) picked(reason string) {
	if i != nil {
		i.pick = reason
	}
}

// poolCollector reports the pools' gauges, computed from a snapshot at
// scrape time (no polling goroutine).
type poolCollector struct {
	s           *Server
	credentials *prometheus.Desc
	cooldowns   *prometheus.Desc
	waiting     *prometheus.Desc
}

func newPoolCollector(s *Server) *poolCollector {
	return &poolCollector{
		s: s,
		credentials: prometheus.NewDesc("pollux_credentials", "Credentials by status.",
			[]string{"provider", "status"}, nil),
		cooldowns: prometheus.NewDesc("pollux_cooldowns_active", "Running cooldowns by model; \"*\" cools a whole credential.",
			[]string{"provider", "model"}, nil),
		waiting: prometheus.NewDesc("pollux_scheduler_waiting", "Requests queued for a credential.",
			[]string{"provider"}, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *poolCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.credentials
	ch <- c.cooldowns
	ch <- c.waiting
}

// Collect implements prometheus.Collector. A pool whose snapshot fails
// (shutting down, overloaded) is left out of this scrape.
func (c *poolCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), poolScrapeTimeout)
	defer cancel()
	now := time.Now()
	for _, p := range c.s.poolList() {
		if p.Admin == nil {
			continue
		}
		snap, err := p.Admin.Snapshot(ctx)
		if err != nil {
			c.s.log.Warn("metrics: pool snapshot failed", zap.String("provider", p.Name), zap.Error(err))
			continue
		}
		sum := operations.SummarizePool(p.Name, snap, p.Models, now)
		for _, st := range operations.Statuses() {
			ch <- prometheus.MustNewConstMetric(c.credentials, prometheus.GaugeValue, float64(sum.ByStatus.Get(st)), p.Name, string(st))
		}
		ch <- prometheus.MustNewConstMetric(c.waiting, prometheus.GaugeValue, float64(snap.Waiting), p.Name)
		counts := make(map[string]int, len(p.Models)+2)
		for _, m := range p.Models {
			counts[m] = 0
		}
		counts[allModelsLabel] = 0
		for i := range snap.Credentials {
			for _, cd := range snap.Credentials[i].Cooldowns {
				if !cd.Until.After(now) {
					continue
				}
				label := cd.Model
				if _, ok := counts[label]; !ok {
					label = labelOther
				}
				counts[label]++
			}
		}
		for model, n := range counts {
			ch <- prometheus.MustNewConstMetric(c.cooldowns, prometheus.GaugeValue, float64(n), p.Name, model)
		}
	}
}

// serveMetrics answers GET /metrics in the Prometheus text format.
func (s *Server) serveMetrics(c echo.Context) error {
	s.metrics.handler.ServeHTTP(c.Response(), c.Request())
	return nil
}

// allModelsLabel is the model label of credential-wide cooldowns.
const allModelsLabel = actors.AllModels

// modelListsOf maps each provider to its model_list, without the
// "models/" prefix Gemini model names may carry.
func modelListsOf(p config.Providers) map[string][]string {
	bare := func(ids []string) []string {
		out := make([]string, len(ids))
		for i, id := range ids {
			out[i] = strings.TrimPrefix(id, "models/")
		}
		return out
	}
	return map[string][]string{
		providers.GeminiCLI: bare(p.GeminiCLI.ModelList),
		providers.Codex:     bare(p.Codex.ModelList),
	}
}
