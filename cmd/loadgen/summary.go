package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Summary is the result of a run; -json prints it as is. Durations are in
// milliseconds.
type Summary struct {
	URL      string `json:"url"`
	Requests int    `json:"requests"`
	OK       int    `json:"ok"` // 2xx answers, whole or not
	// Errors counts non-2xx answers by status code and failed requests by
	// class: timeout, canceled, transport (no answer), read (body cut).
	Errors       map[string]int `json:"errors"`
	FirstError   string         `json:"first_error,omitempty"`
	DurationSecs float64        `json:"duration_s"`
	Throughput   float64        `json:"throughput_rps"`
	Latency      Quantiles      `json:"latency_ms"`
	Stream       *StreamSummary `json:"stream,omitempty"`
	Process      *ProcSummary   `json:"process,omitempty"`
	// Upstream is what -upstream-pid sampled: the simulator behind Pollux.
	Upstream *ProcSummary `json:"upstream_process,omitempty"`
	// Path and Target name a -path run: the benchmark request, and
	// "floor" (straight at the simulator) or "pollux".
	Path        string `json:"path,omitempty"`
	Target      string `json:"target,omitempty"`
	Concurrency int    `json:"concurrency"`
	// Soak holds the samples of soak mode (-sample), in time order.
	Soak []SoakSample `json:"soak,omitempty"`
}

// Quantiles of a latency distribution, in milliseconds.
type Quantiles struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// StreamSummary covers the 2xx answers of a -stream run.
type StreamSummary struct {
	Streams    int       `json:"streams"`
	Complete   int       `json:"complete"`
	Incomplete int       `json:"incomplete"`
	Errored    int       `json:"errored"`
	TTFB       Quantiles `json:"ttfb_ms"`
	EventsMean float64   `json:"events_mean"`
	EventsMin  int       `json:"events_min"`
	EventsMax  int       `json:"events_max"`
}

// ProcSummary is what -pid sampled.
type ProcSummary struct {
	PID           int     `json:"pid"`
	CPUMillis     float64 `json:"cpu_ms"`
	CPUPerRequest float64 `json:"cpu_ms_per_request"`
	RSSBeforeMiB  float64 `json:"rss_before_mib"`
	RSSAfterMiB   float64 `json:"rss_after_mib"`
	PeakRSSMiB    float64 `json:"peak_rss_mib"`
}

// displayURL drops the query and user info of raw, which may carry a key.
func displayURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	out := u.Scheme + "://" + u.Host + u.EscapedPath()
	if u.RawQuery != "" {
		out += "?..."
	}
	return out
}

func millis(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func quantiles(ds []time.Duration) Quantiles {
	s := sortedCopy(ds)
	return Quantiles{
		P50: millis(percentile(s, 50)),
		P90: millis(percentile(s, 90)),
		P99: millis(percentile(s, 99)),
		Max: millis(percentile(s, 100)),
	}
}

func summarize(o options, t *tally, elapsed time.Duration) Summary {
	s := Summary{
		URL:          displayURL(o.url),
		OK:           t.ok,
		Errors:       map[string]int{},
		FirstError:   t.firstErr,
		DurationSecs: elapsed.Seconds(),
		Latency:      quantiles(t.latencies),
		Concurrency:  o.c,
		Path:         o.path,
	}
	if o.path != "" {
		s.Target = targetPollux
		switch {
		case o.bare:
			s.Target = targetBare
		case o.floor:
			s.Target = targetFloor
		}
	}
	maps.Copy(s.Errors, t.errors)
	s.Requests = t.ok
	for _, n := range t.errors {
		s.Requests += n
	}
	if elapsed > 0 {
		s.Throughput = float64(s.Requests) / elapsed.Seconds()
	}
	if o.stream {
		ss := &StreamSummary{
			Streams:    len(t.events),
			Complete:   t.complete,
			Incomplete: t.incomplete,
			Errored:    t.errored,
			TTFB:       quantiles(t.ttfbs),
		}
		if len(t.events) > 0 {
			sum := 0
			for _, n := range t.events {
				sum += n
			}
			ss.EventsMean = float64(sum) / float64(len(t.events))
			ss.EventsMin, ss.EventsMax = slices.Min(t.events), slices.Max(t.events)
		}
		s.Stream = ss
	}
	return s
}

func processSummary(pid int, before, after procSample, requests int) *ProcSummary {
	const kibPerMiB = 1024
	p := &ProcSummary{
		PID:          pid,
		CPUMillis:    millis(after.cpu - before.cpu),
		RSSBeforeMiB: float64(before.rssKiB) / kibPerMiB,
		RSSAfterMiB:  float64(after.rssKiB) / kibPerMiB,
		PeakRSSMiB:   float64(after.peakKiB) / kibPerMiB,
	}
	if requests > 0 {
		p.CPUPerRequest = p.CPUMillis / float64(requests)
	}
	return p
}

func writeJSON(w io.Writer, s Summary) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

func writeText(w io.Writer, s Summary) error {
	var b strings.Builder
	fmt.Fprintf(&b, "url          %s (concurrency %d)\n", s.URL, s.Concurrency)
	fmt.Fprintf(&b, "requests     %d (ok %d, errors %d)\n", s.Requests, s.OK, s.Requests-s.OK)
	if len(s.Errors) > 0 {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(s.Errors)) {
			parts = append(parts, fmt.Sprintf("%s: %d", k, s.Errors[k]))
		}
		fmt.Fprintf(&b, "errors       %s (first: %s)\n", strings.Join(parts, ", "), s.FirstError)
	}
	fmt.Fprintf(&b, "duration     %.3fs\n", s.DurationSecs)
	fmt.Fprintf(&b, "throughput   %.1f req/s\n", s.Throughput)
	q := s.Latency
	fmt.Fprintf(&b, "latency      p50 %.2fms  p90 %.2fms  p99 %.2fms  max %.2fms\n", q.P50, q.P90, q.P99, q.Max)
	if st := s.Stream; st != nil {
		fmt.Fprintf(&b, "streams      %d (complete %d, incomplete %d, errored %d)\n", st.Streams, st.Complete, st.Incomplete, st.Errored)
		fmt.Fprintf(&b, "events       %.1f per stream (min %d, max %d)\n", st.EventsMean, st.EventsMin, st.EventsMax)
		fmt.Fprintf(&b, "ttfb         p50 %.2fms  p99 %.2fms\n", st.TTFB.P50, st.TTFB.P99)
	}
	if p := s.Process; p != nil {
		fmt.Fprintf(&b, "pid %-8d cpu %.1fms total, %.3f ms/request\n", p.PID, p.CPUMillis, p.CPUPerRequest)
		fmt.Fprintf(&b, "rss          %.1f MiB before, %.1f MiB after, %.1f MiB peak (VmHWM)\n", p.RSSBeforeMiB, p.RSSAfterMiB, p.PeakRSSMiB)
	}
	if p := s.Upstream; p != nil {
		fmt.Fprintf(&b, "upstream %-4d cpu %.1fms total, %.3f ms/request; rss %.1f MiB peak\n", p.PID, p.CPUMillis, p.CPUPerRequest, p.PeakRSSMiB)
	}
	if n := len(s.Soak); n > 0 {
		first, last := s.Soak[0], s.Soak[n-1]
		fmt.Fprintf(&b, "soak         %d samples over %.0fs: rss %.1f→%.1f MiB, heap %.1f→%.1f MiB, goroutines %d→%d, fds %d→%d\n",
			n, last.ElapsedSecs, first.RSSMiB, last.RSSMiB, first.HeapMiB, last.HeapMiB, first.Goroutines, last.Goroutines, first.FDs, last.FDs)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}
