package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bareproxy:", err)
		os.Exit(2)
	}
}

// run parses args, listens and serves until ctx ends.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bareproxy", flag.ContinueOnError)
	fs.SetOutput(out)
	listen := fs.String("listen", "127.0.0.1:0", "loopback address to listen on")
	upstream := fs.String("upstream", "", "the upstream's base URL, e.g. http://127.0.0.1:19094 (loopback only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	target, err := loopbackURL(*upstream)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !isLoopback(host) {
		return fmt.Errorf("-listen %q: want a loopback host:port", *listen)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: newProxy(target), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "bareproxy listening on http://%s, forwarding to %s\n", ln.Addr(), target)
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx) // best effort: a benchmark fixture
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newProxy is the whole proxy: the request as it came, rewritten to
// target, over a transport that keeps enough idle connections for a
// benchmark's concurrency; the answer flushed after every upstream write.
func newProxy(target *url.URL) http.Handler {
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.Proxy = nil
	transport.MaxIdleConnsPerHost = 256
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			r.Out.Host = r.In.Host
		},
		Transport:     transport,
		FlushInterval: -1,
		ErrorLog:      log.New(io.Discard, "", 0),
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The transport sends the request body upstream while the answer
		// is already being written back. Without full duplex, net/http's
		// HTTP/1 server discards what is left of the request body at the
		// answer's first write; the transport's read of it then fails and
		// the upstream connection breaks mid-answer (a stream stalls or
		// loses its end, about once in 2,000 in the test below).
		_ = http.NewResponseController(w).EnableFullDuplex() // HTTP/1 only; HTTP/2 is duplex
		proxy.ServeHTTP(w, r)
	})
}

func loopbackURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("-upstream %q: want http://host:port", raw)
	}
	if !isLoopback(u.Hostname()) {
		return nil, fmt.Errorf("-upstream %q: only a loopback upstream is accepted", raw)
	}
	return u, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
