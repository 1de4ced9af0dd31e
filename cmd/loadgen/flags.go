package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// defaultRequests is -n when neither -n nor -duration is set.
const defaultRequests = 1000

type options struct {
	url      string
	header   http.Header
	body     []byte
	n        int // 0: bounded by duration only
	c        int
	duration time.Duration // 0: bounded by n only
	timeout  time.Duration
	stream   bool
	pid      int
	json     bool
	// Soak mode (soak.go): sample every sample; metrics is the target's
	// Prometheus page (scraped with the same headers).
	sample  time.Duration
	metrics string
	// Floor mode (floor.go): path names a benchmark request built under
	// -url; floor sends it in the upstream's wire format straight at the
	// simulator; upstreamPID is sampled alongside pid.
	path  string
	floor bool
	// bare sends the floor's request to -url, cmd/bareproxy in front of
	// the simulator (the reference proxy).
	bare        bool
	project     string
	upstreamPID int
	// compare lists the summary files of -compare.
	compare []string
}

// headerFlag collects repeated -header "K: V" values.
type headerFlag http.Header

func (h headerFlag) String() string { return "" }

func (h headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("header %q is not \"Key: Value\"", v)
	}
	http.Header(h).Add(k, strings.TrimSpace(val))
	return nil
}

func parseFlags(args []string, out io.Writer) (options, error) {
	o := options{header: http.Header{}}
	var body string
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.url, "url", "", "full URL to POST to (loopback only)")
	fs.Var(headerFlag(o.header), "header", `request header "Key: Value" (repeatable)`)
	fs.StringVar(&body, "body", "", "request body: inline JSON (starting with { or [) or a file path")
	fs.IntVar(&o.n, "n", 0, fmt.Sprintf("total requests (default %d when -duration is not set)", defaultRequests))
	fs.IntVar(&o.c, "c", 10, "concurrent requests")
	fs.DurationVar(&o.duration, "duration", 0, "stop issuing requests after this long")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "timeout of each request, body included")
	fs.BoolVar(&o.stream, "stream", false, "read answers as SSE and check each stream ends with a terminal event")
	fs.IntVar(&o.pid, "pid", 0, "process whose CPU time and RSS to sample before and after")
	fs.BoolVar(&o.json, "json", false, "print the summary as JSON")
	fs.DurationVar(&o.sample, "sample", 0, "soak mode: sample -pid's RSS and fds and -metrics' heap and goroutines this often")
	fs.StringVar(&o.metrics, "metrics", "", "soak mode: the target's Prometheus metrics URL (loopback only; sent the -header values)")
	fs.StringVar(&o.path, "path", "", "a benchmark request ("+pathNames()+"); -url is then the target's base URL (http://host:port)")
	fs.BoolVar(&o.floor, "floor", false, "with -path: send the request Pollux would send upstream straight at cmd/upstreamsim (the floor)")
	fs.BoolVar(&o.bare, "bare", false, "with -path: send the floor's request through cmd/bareproxy at -url (the reference net/http proxy)")
	fs.StringVar(&o.project, "project", "", "with -path and -floor on a Gemini path: the Code Assist project of the envelope")
	fs.IntVar(&o.upstreamPID, "upstream-pid", 0, "a second process (the simulator behind Pollux) whose CPU time and RSS to sample")
	compare := fs.Bool("compare", false, "read the -json summaries of -path runs from the files named as arguments and print Pollux / floor (and the bare proxy's figures) per path")
	if err := fs.Parse(args); err != nil {
		return options{}, err
	}
	if *compare {
		if fs.NArg() == 0 {
			return options{}, errors.New("-compare needs the files of -json summaries as arguments")
		}
		o.compare = fs.Args()
		return o, nil
	}

	var errs []error
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q", fs.Args()))
	}
	if o.path != "" {
		u, b, stream, err := pathRequest(o.path, o.floor || o.bare, o.url, o.project)
		if err != nil {
			errs = append(errs, err)
		} else {
			o.url, o.stream = u, stream
			if body == "" {
				body = string(b)
			}
		}
	} else if o.floor || o.bare || o.project != "" {
		errs = append(errs, errors.New("-floor, -bare and -project go with -path"))
	}
	if o.upstreamPID < 0 {
		errs = append(errs, errors.New("-upstream-pid must not be negative"))
	}
	if err := checkLoopbackURL(o.url); err != nil {
		errs = append(errs, err)
	}
	if o.n < 0 || o.duration < 0 {
		errs = append(errs, errors.New("-n and -duration must not be negative"))
	}
	if o.n == 0 && o.duration == 0 {
		o.n = defaultRequests
	}
	if o.c < 1 {
		errs = append(errs, errors.New("-c must be at least 1"))
	}
	if o.timeout <= 0 {
		errs = append(errs, errors.New("-timeout must be positive"))
	}
	if o.metrics != "" {
		if err := checkLoopbackURL(o.metrics); err != nil {
			errs = append(errs, fmt.Errorf("-metrics: %w", err))
		}
	}
	if o.sample < 0 {
		errs = append(errs, errors.New("-sample must not be negative"))
	}
	if o.pid < 0 {
		errs = append(errs, errors.New("-pid must not be negative"))
	}
	b, err := loadBody(body)
	if err != nil {
		errs = append(errs, err)
	}
	o.body = b
	return o, errors.Join(errs...)
}

// loadBody reads the -body value: inline JSON or the contents of a file.
func loadBody(v string) ([]byte, error) {
	if t := strings.TrimSpace(v); t == "" || t[0] == '{' || t[0] == '[' {
		return []byte(t), nil
	}
	b, err := os.ReadFile(v)
	if err != nil {
		return nil, fmt.Errorf("read -body: %w", err)
	}
	return bytes.TrimSpace(b), nil
}

// checkLoopbackURL reports why raw may not be loaded, or nil when it is an
// http(s) URL on a loopback host.
func checkLoopbackURL(raw string) error {
	if raw == "" {
		return errors.New("-url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("-url %q: scheme must be http or https", raw)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-url host %q is not a loopback address (127.0.0.0/8, ::1, localhost): loadgen only loads this machine", host)
}
