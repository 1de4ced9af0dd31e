package egress

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// Options tunes the client. The zero value is sensible.
type Options struct {
	// Proxy is the egress proxy URL; empty means a direct connection. The
	// environment (HTTP_PROXY and friends) is never consulted: what the
	// config says is what happens.
	Proxy string
	// MaxConnsPerHost caps connections to one upstream host; 0 means 256.
	MaxConnsPerHost int
}

// NewClient returns an *http.Client with its own pooled transport. It sets
// no overall timeout: callers bound each call with a context, because a
// stream may legitimately last many minutes.
func NewClient(opts Options) (*http.Client, error) {
	tr, err := NewTransport(opts)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: tr}, nil
}

// NewTransport returns the pooled transport NewClient uses.
func NewTransport(opts Options) (*http.Transport, error) {
	proxy, err := proxyFunc(opts.Proxy)
	if err != nil {
		return nil, err
	}
	perHost := opts.MaxConnsPerHost
	if perHost <= 0 {
		perHost = 256
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          perHost * 2,
		MaxIdleConnsPerHost:   perHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Upstream SSE must not be buffered or re-encoded on the way.
		DisableCompression: false,
	}, nil
}

// ValidateProxy reports a malformed proxy URL with a message naming what is
// wrong; config validation uses it.
func ValidateProxy(raw string) error {
	_, err := proxyFunc(raw)
	return err
}

func proxyFunc(raw string) (func(*http.Request) (*url.URL, error), error) {
	if raw == "" {
		return nil, nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: %w", redactUserinfo(raw), err)
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("proxy %q: scheme must be http, https or socks5", redactUserinfo(raw))
	}
	if u.Host == "" {
		return nil, fmt.Errorf("proxy %q: missing host", redactUserinfo(raw))
	}
	return http.ProxyURL(u), nil
}

// redactUserinfo hides a proxy password in error messages.
func redactUserinfo(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if err != nil {
			return "<unparseable>"
		}
		return raw
	}
	return u.Redacted()
}
