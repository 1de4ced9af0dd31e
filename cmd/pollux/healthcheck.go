package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/pollux-gateway/pollux/config"
)

// runHealthcheck is "pollux healthcheck": it asks the gateway this config
// describes for GET /readyz on the loopback interface and returns an error
// (exit 1) unless it answers 200. Container images have no curl; the
// binary probes itself. It never writes a first-run config.
func runHealthcheck(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fl := flag.NewFlagSet("pollux healthcheck", flag.ContinueOnError)
	fl.SetOutput(stdout)
	configFlag := fl.String("config", "", "config file (default $POLLUX_CONFIG, else ./config.toml)")
	timeout := fl.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if err := parseFlags(fl, args); err != nil {
		return err
	}
	path := config.ResolvePath(*configFlag, getenv)
	cfg, warnings, err := config.Load(path, getenv)
	if err != nil {
		return configError(path, warnings, err)
	}
	target := "http://" + net.JoinHostPort(probeHost(cfg.Basic.ListenAddr), strconv.Itoa(cfg.Basic.ListenPort)) + "/readyz"
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Transport: &http.Transport{Proxy: nil}}).Do(req)
	if err != nil {
		return fmt.Errorf("unhealthy: %w", err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("unhealthy: GET %s: %d %s", target, resp.StatusCode, body)
	}
	fmt.Fprintf(stdout, "healthy: GET %s: %d\n", target, resp.StatusCode)
	return nil
}

// probeHost is where a local probe reaches a server bound to listenAddr:
// the loopback address of the same family for a wildcard address, else the
// address itself.
func probeHost(listenAddr string) string {
	switch listenAddr {
	case "", "0.0.0.0":
		return "127.0.0.1"
	case "::", "[::]":
		return "::1"
	}
	return listenAddr
}
