package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// The floor: the same requests straight at cmd/upstreamsim, in the
// upstream's own wire format, so a figure through Pollux can be read as a
// ratio to what the simulator and the load generator cost alone.

// Targets of a -path run.
const (
	targetPollux = "pollux"
	targetFloor  = "floor"
	// targetBare: the floor's request through cmd/bareproxy, the least a
	// net/http proxy does, so Pollux / floor splits into bare / floor and
	// Pollux / bare.
	targetBare = "bare"
)

// Simulator mounts (cmd/upstreamsim) and the models of the benchmark.
const (
	simGeminiPrefix = "/gemini"
	simCodexPrefix  = "/codex"
	benchGemini     = "gemini-2.5-pro"
	benchCodex      = "gpt-5.2-codex"
	geminiBenchBody = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
)

// benchPath is one request shape of the benchmark: how a client sends it to
// Pollux, and how Pollux sends it upstream (the floor's request).
type benchPath struct {
	name string
	// polluxRoute and polluxBody are the client's request to Pollux.
	polluxRoute string
	polluxBody  string
	// floorRoute and floorBody are the upstream request Pollux makes for
	// it; a Code Assist body is the v1internal envelope around the
	// client's.
	floorRoute string
	floorBody  func(project string) string
	// stream: the client reads SSE. floorStream: the upstream answers
	// SSE (the Codex backend always streams; Pollux collects it for a
	// client that did not ask to stream).
	stream, floorStream bool
}

// codexUpstreamBody is what Pollux sends the Codex backend for
// {"model":M,"input":"hi"} (codex.Normalize's output).
const codexUpstreamBody = `{"input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"hi"}]}],"instructions":"","model":"` + benchCodex + `","store":false,"stream":true}`

func codeAssistEnvelope(project string) string {
	p, _ := json.Marshal(project) // marshalling a string cannot fail
	return `{"model":"` + benchGemini + `","project":` + string(p) + `,"user_prompt_id":"loadgen","request":` + geminiBenchBody + `}`
}

var benchPaths = []benchPath{
	{
		name:        "gunary",
		polluxRoute: "/geminicli/v1beta/models/" + benchGemini + ":generateContent",
		polluxBody:  geminiBenchBody,
		floorRoute:  simGeminiPrefix + "/v1internal:generateContent",
		floorBody:   codeAssistEnvelope,
	},
	{
		name:        "gstream",
		polluxRoute: "/geminicli/v1beta/models/" + benchGemini + ":streamGenerateContent?alt=sse",
		polluxBody:  geminiBenchBody,
		floorRoute:  simGeminiPrefix + "/v1internal:streamGenerateContent?alt=sse",
		floorBody:   codeAssistEnvelope,
		stream:      true, floorStream: true,
	},
	{
		name:        "cstream",
		polluxRoute: "/codex/v1/responses",
		polluxBody:  `{"model":"` + benchCodex + `","input":"hi","stream":true}`,
		floorRoute:  simCodexPrefix + "/backend-api/codex/responses",
		floorBody:   func(string) string { return codexUpstreamBody },
		stream:      true, floorStream: true,
	},
	{
		name:        "cunary",
		polluxRoute: "/codex/v1/responses",
		polluxBody:  `{"model":"` + benchCodex + `","input":"hi"}`,
		floorRoute:  simCodexPrefix + "/backend-api/codex/responses",
		floorBody:   func(string) string { return codexUpstreamBody },
		floorStream: true,
	},
}

// pathNames lists the benchmark's paths for flag help and errors.
func pathNames() string {
	names := make([]string, len(benchPaths))
	for i, p := range benchPaths {
		names[i] = p.name
	}
	return strings.Join(names, ", ")
}

// pathRequest builds the request of a -path run: the URL under base (the
// target's scheme://host:port), the body, and whether the answer is SSE.
func pathRequest(name string, floor bool, base, project string) (url string, body []byte, stream bool, err error) {
	i := slices.IndexFunc(benchPaths, func(p benchPath) bool { return p.name == name })
	if i < 0 {
		return "", nil, false, fmt.Errorf("-path %q: want one of %s", name, pathNames())
	}
	p := benchPaths[i]
	base = strings.TrimSuffix(base, "/")
	if !floor {
		return base + p.polluxRoute, []byte(p.polluxBody), p.stream, nil
	}
	if project == "" && strings.HasPrefix(p.floorRoute, simGeminiPrefix) {
		return "", nil, false, fmt.Errorf("-path %s -floor needs -project (the Code Assist envelope's project)", name)
	}
	return base + p.floorRoute, []byte(p.floorBody(project)), p.floorStream, nil
}

// floorRow is one path's comparison: medians over the rounds, and the
// spread of the per-round ratios.
type floorRow struct {
	Path string `json:"path"`
	// Rounds pairs the n-th floor run with the n-th Pollux run.
	Rounds int `json:"rounds"`
	// FloorCPU is the simulator's CPU per request, loaded directly;
	// PolluxCPU Pollux's own, and UpstreamCPU the simulator's behind it.
	FloorCPU    float64 `json:"floor_cpu_ms_per_request"`
	PolluxCPU   float64 `json:"pollux_cpu_ms_per_request"`
	UpstreamCPU float64 `json:"upstream_cpu_ms_per_request,omitempty"`
	// CPURatio is PolluxCPU / FloorCPU per round; SystemRatio is
	// (PolluxCPU + UpstreamCPU) / FloorCPU, the whole served path against
	// the upstream alone.
	CPURatio    spread `json:"cpu_ratio"`
	SystemRatio spread `json:"system_ratio,omitzero"`
	// AddedP50 and AddedP99 are Pollux's latency minus the floor's at
	// concurrency 1, in ms.
	AddedP50 spread `json:"added_p50_ms,omitzero"`
	AddedP99 spread `json:"added_p99_ms,omitzero"`
	// PolluxRSS is Pollux's peak RSS (VmHWM) over its runs; FloorRSS the
	// simulator's.
	PolluxRSS float64 `json:"pollux_peak_rss_mib"`
	FloorRSS  float64 `json:"floor_peak_rss_mib"`
	// BareCPU is cmd/bareproxy's CPU per request; BareRatio BareCPU /
	// FloorCPU per round (what any net/http proxy costs) and OverBare
	// PolluxCPU / BareCPU per round (what Pollux adds to that);
	// BareAddedP50 the reference proxy's latency minus the floor's at
	// concurrency 1. Zero without -bare runs.
	BareCPU      float64 `json:"bare_cpu_ms_per_request,omitempty"`
	BareRatio    spread  `json:"bare_cpu_ratio,omitzero"`
	OverBare     spread  `json:"pollux_over_bare,omitzero"`
	BareAddedP50 spread  `json:"bare_added_p50_ms,omitzero"`
	// Intact is the share of Pollux's 2xx streams that ended with their
	// terminal event (1 for unary paths with no errors).
	Intact float64 `json:"intact"`
	// BareIntact is the same share for the bare proxy's runs (zero
	// without them): a reference that lost streams would flatter itself.
	BareIntact float64 `json:"bare_intact,omitempty"`
}

// spread is a median with the smallest and largest value.
type spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	N      int     `json:"n"`
}

func spreadOf(xs []float64) spread {
	if len(xs) == 0 {
		return spread{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return spread{Median: m, Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// compareRuns pairs the floor and Pollux summaries of each path, in the
// order they were run, and computes the ratios. Runs at concurrency 1 give
// the latency figures; the others the CPU figures.
func compareRuns(runs []Summary) ([]floorRow, error) {
	type group struct{ floorLoad, polluxLoad, bareLoad, floorC1, polluxC1, bareC1 []Summary }
	groups := map[string]*group{}
	var order []string
	for _, s := range runs {
		if s.Path == "" || s.Target != targetFloor && s.Target != targetPollux && s.Target != targetBare {
			return nil, fmt.Errorf("a summary without -path and a target (%q, %q): run loadgen with -path", s.Path, s.Target)
		}
		g := groups[s.Path]
		if g == nil {
			g = &group{}
			groups[s.Path] = g
			order = append(order, s.Path)
		}
		switch {
		case s.Target == targetFloor && s.Concurrency == 1:
			g.floorC1 = append(g.floorC1, s)
		case s.Target == targetFloor:
			g.floorLoad = append(g.floorLoad, s)
		case s.Target == targetBare && s.Concurrency == 1:
			g.bareC1 = append(g.bareC1, s)
		case s.Target == targetBare:
			g.bareLoad = append(g.bareLoad, s)
		case s.Concurrency == 1:
			g.polluxC1 = append(g.polluxC1, s)
		default:
			g.polluxLoad = append(g.polluxLoad, s)
		}
	}
	rows := make([]floorRow, 0, len(order))
	for _, path := range order {
		g := groups[path]
		row := floorRow{Path: path}
		var floorCPU, polluxCPU, upstreamCPU, cpuRatio, systemRatio []float64
		for i := range min(len(g.floorLoad), len(g.polluxLoad)) {
			f, p := g.floorLoad[i].Process, g.polluxLoad[i].Process
			if f == nil || p == nil || f.CPUPerRequest <= 0 {
				return nil, fmt.Errorf("path %s: load runs need -pid (the simulator's for the floor, Pollux's through it)", path)
			}
			floorCPU = append(floorCPU, f.CPUPerRequest)
			polluxCPU = append(polluxCPU, p.CPUPerRequest)
			cpuRatio = append(cpuRatio, p.CPUPerRequest/f.CPUPerRequest)
			if u := g.polluxLoad[i].Upstream; u != nil {
				upstreamCPU = append(upstreamCPU, u.CPUPerRequest)
				systemRatio = append(systemRatio, (p.CPUPerRequest+u.CPUPerRequest)/f.CPUPerRequest)
			}
			row.Rounds++
		}
		row.FloorCPU, row.PolluxCPU = spreadOf(floorCPU).Median, spreadOf(polluxCPU).Median
		row.UpstreamCPU = spreadOf(upstreamCPU).Median
		row.CPURatio, row.SystemRatio = spreadOf(cpuRatio), spreadOf(systemRatio)
		var p50, p99 []float64
		for i := range min(len(g.floorC1), len(g.polluxC1)) {
			p50 = append(p50, g.polluxC1[i].Latency.P50-g.floorC1[i].Latency.P50)
			p99 = append(p99, g.polluxC1[i].Latency.P99-g.floorC1[i].Latency.P99)
		}
		row.AddedP50, row.AddedP99 = spreadOf(p50), spreadOf(p99)
		var bareCPU, bareRatio, overBare, bareP50 []float64
		for i := range min(len(g.floorLoad), len(g.polluxLoad), len(g.bareLoad)) {
			b := g.bareLoad[i].Process
			if b == nil || b.CPUPerRequest <= 0 {
				return nil, fmt.Errorf("path %s: bare runs need -pid (cmd/bareproxy's)", path)
			}
			bareCPU = append(bareCPU, b.CPUPerRequest)
			bareRatio = append(bareRatio, b.CPUPerRequest/g.floorLoad[i].Process.CPUPerRequest)
			overBare = append(overBare, g.polluxLoad[i].Process.CPUPerRequest/b.CPUPerRequest)
		}
		for i := range min(len(g.floorC1), len(g.bareC1)) {
			bareP50 = append(bareP50, g.bareC1[i].Latency.P50-g.floorC1[i].Latency.P50)
		}
		row.BareCPU = spreadOf(bareCPU).Median
		row.BareRatio, row.OverBare, row.BareAddedP50 = spreadOf(bareRatio), spreadOf(overBare), spreadOf(bareP50)
		for _, s := range slices.Concat(g.polluxLoad, g.polluxC1) {
			if s.Process != nil {
				row.PolluxRSS = max(row.PolluxRSS, s.Process.PeakRSSMiB)
			}
		}
		for _, s := range slices.Concat(g.floorLoad, g.floorC1) {
			if s.Process != nil {
				row.FloorRSS = max(row.FloorRSS, s.Process.PeakRSSMiB)
			}
		}
		row.Intact = intactShare(slices.Concat(g.polluxLoad, g.polluxC1))
		if bare := slices.Concat(g.bareLoad, g.bareC1); len(bare) > 0 {
			row.BareIntact = intactShare(bare)
		}
		rows = append(rows, row)
	}
	if len(rows) == 0 {
		return nil, errors.New("no summaries to compare")
	}
	return rows, nil
}

// intactShare is the share of runs' requests that ended whole: streams
// with their terminal event, unary requests answered; 1 when there were none.
func intactShare(runs []Summary) float64 {
	ok, total := 0, 0
	for _, s := range runs {
		if s.Stream != nil {
			ok, total = ok+s.Stream.Complete, total+s.Stream.Streams+s.Requests-s.OK
		} else {
			ok, total = ok+s.OK, total+s.Requests
		}
	}
	if total == 0 {
		return 1
	}
	return float64(ok) / float64(total)
}

// readSummaries decodes the JSON summaries (loadgen -json output, one
// after another) in r.
func readSummaries(r io.Reader) ([]Summary, error) {
	dec := json.NewDecoder(r)
	var out []Summary
	for {
		var s Summary
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read summaries: %w", err)
		}
		out = append(out, s)
	}
}

// runCompare is -compare: it reads the summaries in the named files and
// prints one row per path, as a Markdown table (or JSON with -json).
func runCompare(files []string, asJSON bool, w io.Writer) error {
	var runs []Summary
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("-compare: %w", err)
		}
		s, err := readSummaries(f)
		_ = f.Close() // read-only
		if err != nil {
			return fmt.Errorf("-compare %s: %w", name, err)
		}
		runs = append(runs, s...)
	}
	rows, err := compareRuns(runs)
	if err != nil {
		return err
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	return writeFloorTable(w, rows)
}

// writeFloorTable prints rows as the README's performance table.
func writeFloorTable(w io.Writer, rows []floorRow) error {
	var b strings.Builder
	b.WriteString("| path | floor CPU/req (simulator) | Pollux CPU/req | Pollux / floor | bare proxy / floor | Pollux / bare proxy | (Pollux + simulator) / floor | added p50 / p99 at C=1 | bare proxy added p50 | Pollux peak RSS | intact | bare proxy intact |\n")
	b.WriteString("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range rows {
		bareIntact := "—"
		if r.BareIntact > 0 {
			bareIntact = fmt.Sprintf("%.1f %%", 100*r.BareIntact)
		}
		fmt.Fprintf(&b, "| %s | %.3f ms | %.3f ms | %s | %s | %s | %s | %s / %s ms | %s ms | %.0f MiB | %.1f %% | %s |\n",
			r.Path, r.FloorCPU, r.PolluxCPU, ratioText(r.CPURatio), ratioText(r.BareRatio), ratioText(r.OverBare),
			ratioText(r.SystemRatio), addedText(r.AddedP50), addedText(r.AddedP99), addedText(r.BareAddedP50),
			r.PolluxRSS, 100*r.Intact, bareIntact)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func ratioText(s spread) string {
	if s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f, n=%d)", s.Median, s.Min, s.Max, s.N)
}

func addedText(s spread) string {
	if s.N == 0 {
		return "—"
	}
	return fmt.Sprintf("%+.2f", s.Median)
}
