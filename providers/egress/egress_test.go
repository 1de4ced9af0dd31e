package egress_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/pollux-gateway/pollux/providers/egress"
)

// get does one GET and drains the body, so the connection may be reused.
func get(t *testing.T, c *http.Client, url string) *http.Response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		t.Fatal(err)
	}
	if err := resp.Body.Close(); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200", resp.StatusCode)
	}
	return resp
}

func TestClientReusesConnections(t *testing.T) {
	var accepted atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c, err := egress.NewClient(egress.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.CloseIdleConnections)
	for range 3 {
		get(t, c, srv.URL)
	}
	if got := accepted.Load(); got != 1 {
		t.Errorf("server accepted %d connections for 3 sequential requests, want 1", got)
	}
}

// connectProxy is a minimal HTTP CONNECT proxy that counts tunnels.
type connectProxy struct {
	t        *testing.T
	connects atomic.Int32
	wg       sync.WaitGroup
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	p.connects.Add(1)
	upstream, err := net.Dial("tcp", r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	client, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		_ = upstream.Close()
		p.t.Errorf("hijack: %v", err)
		return
	}
	if _, err := io.WriteString(client, "HTTP/1.1 200 Connection Established\r\n\r\n"); err != nil {
		_ = client.Close()
		_ = upstream.Close()
		return
	}
	// Bytes the server already buffered from the client belong upstream.
	if n := rw.Reader.Buffered(); n > 0 {
		buffered, _ := rw.Reader.Peek(n)
		if _, err := upstream.Write(buffered); err != nil {
			_ = client.Close()
			_ = upstream.Close()
			return
		}
	}
	p.wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer p.wg.Done()
		_, _ = io.Copy(dst, src)
		_ = dst.Close()
		_ = src.Close()
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
}

func TestClientHTTP2ThroughConnectProxy(t *testing.T) {
	var protos sync.Map
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		protos.Store(r.Proto, true)
		_, _ = io.WriteString(w, "ok")
	}))
	target.EnableHTTP2 = true
	target.StartTLS()
	t.Cleanup(target.Close)

	proxy := &connectProxy{t: t}
	proxySrv := httptest.NewServer(proxy)
	t.Cleanup(func() {
		proxySrv.Close()
		proxy.wg.Wait()
	})

	tr, err := egress.NewTransport(egress.Options{Proxy: proxySrv.URL})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(target.Certificate())
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	c := &http.Client{Transport: tr}
	t.Cleanup(tr.CloseIdleConnections)

	for i := range 3 {
		resp := get(t, c, target.URL)
		if resp.ProtoMajor != 2 {
			t.Errorf("request %d: protocol %s, want HTTP/2", i, resp.Proto)
		}
	}
	if got := proxy.connects.Load(); got != 1 {
		t.Errorf("proxy saw %d CONNECTs for 3 requests, want 1 (one pooled h2 connection)", got)
	}
	if _, ok := protos.Load("HTTP/2.0"); !ok {
		t.Error("target never saw an HTTP/2 request")
	}
	if _, ok := protos.Load("HTTP/1.1"); ok {
		t.Error("target saw an HTTP/1.1 request")
	}
}

func TestProxyValidation(t *testing.T) {
	tests := []struct {
		name    string
		proxy   string
		wantErr bool
	}{
		{"direct", "", false},
		{"http", "http://127.0.0.1:3128", false},
		{"https", "https://proxy.example:443", false},
		{"socks5 with credentials", "socks5://user:pass@127.0.0.1:1080", false},
		{"socks5h", "socks5h://127.0.0.1:1080", false},
		{"unsupported scheme", "ftp://proxy.example:21", true},
		{"no scheme", "proxy.example:3128", true},
		{"missing host", "http://", true},
		{"unparseable", "http://[::1", true},
		{"password not echoed", "ftp://user:hunter2@proxy.example", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := egress.ValidateProxy(tt.proxy)
			if (err != nil) != tt.wantErr {
				t.Fatalf("ValidateProxy(%q) = %v, want error %v", tt.proxy, err, tt.wantErr)
			}
			_, cerr := egress.NewClient(egress.Options{Proxy: tt.proxy})
			if (cerr != nil) != tt.wantErr {
				t.Fatalf("NewClient(%q) = %v, want error %v", tt.proxy, cerr, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error leaks the proxy password: %v", err)
			}
		})
	}
}
