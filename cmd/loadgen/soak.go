package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SoakSample is one reading of the loaded process during a soak (-sample):
// RSS and open file descriptors from /proc (-pid), live heap and goroutines
// from its Prometheus metrics (-metrics). A value that could not be read
// is -1.
type SoakSample struct {
	ElapsedSecs float64 `json:"elapsed_secs"`
	RSSMiB      float64 `json:"rss_mib"`
	FDs         int     `json:"fds"`
	HeapMiB     float64 `json:"heap_mib"`
	Goroutines  int     `json:"goroutines"`
}

// soaker samples the process every interval until stopped, printing each
// sample as it is taken.
type soaker struct {
	o      options
	client *http.Client
	out    io.Writer
	start  time.Time

	mu      sync.Mutex
	samples []SoakSample
}

// run samples at once, then every o.sample until ctx ends, then once more.
func (s *soaker) run(ctx context.Context) {
	tick := time.NewTicker(s.o.sample)
	defer tick.Stop()
	s.take(ctx)
	for {
		select {
		case <-ctx.Done():
			s.take(context.Background())
			return
		case <-tick.C:
			s.take(ctx)
		}
	}
}

func (s *soaker) take(ctx context.Context) {
	smp := SoakSample{ElapsedSecs: time.Since(s.start).Seconds(), RSSMiB: -1, FDs: -1, HeapMiB: -1, Goroutines: -1}
	if s.o.pid > 0 {
		if p, err := readProc(s.o.pid); err == nil {
			smp.RSSMiB = float64(p.rssKiB) / 1024
		}
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", s.o.pid)); err == nil {
			smp.FDs = len(ents)
		}
	}
	if s.o.metrics != "" {
		if m, err := s.scrape(ctx); err == nil {
			if v, ok := m["go_memstats_heap_alloc_bytes"]; ok {
				smp.HeapMiB = v / (1 << 20)
			}
			if v, ok := m["go_goroutines"]; ok {
				smp.Goroutines = int(v)
			}
			if v, ok := m["process_open_fds"]; ok && smp.FDs < 0 {
				smp.FDs = int(v)
			}
		}
	}
	s.mu.Lock()
	s.samples = append(s.samples, smp)
	s.mu.Unlock()
	fmt.Fprintf(s.out, "soak t=%6.0fs rss=%7.1fMiB heap=%6.1fMiB goroutines=%5d fds=%4d\n",
		smp.ElapsedSecs, smp.RSSMiB, smp.HeapMiB, smp.Goroutines, smp.FDs)
}

// scrape reads the unlabelled samples of the metrics page.
func (s *soaker) scrape(ctx context.Context) (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.o.metrics, nil)
	if err != nil {
		return nil, err
	}
	for k, v := range s.o.header {
		req.Header[k] = v
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics returns the value of every unlabelled sample in a
// Prometheus text page.
func parseMetrics(r io.Reader) (map[string]float64, error) {
	out := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		if !ok || strings.ContainsRune(name, '{') {
			continue
		}
		if v, err := strconv.ParseFloat(strings.Fields(val)[0], 64); err == nil {
			out[name] = v
		}
	}
	return out, sc.Err()
}

// soakSamples returns what was taken so far.
func (s *soaker) soakSamples() []SoakSample {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SoakSample(nil), s.samples...)
}
