package signin

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
)

// oauthMemStore is an in-memory SettingsStore.
type oauthMemStore struct {
	mu   sync.Mutex
	vals map[string][]byte
}

func newOAuthMemStore() *oauthMemStore { return &oauthMemStore{vals: make(map[string][]byte)} }

func (m *oauthMemStore) Setting(_ context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.vals[key]
	return append([]byte(nil), v...), ok, nil
}

func (m *oauthMemStore) PutSetting(_ context.Context, key string, value []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.vals[key] = append([]byte(nil), value...)
	return nil
}

func TestOverHTTPS(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name, remote, proto string
		tls                 bool
		want                bool
	}{
		{"own TLS", "192.0.2.1:5000", "", true, true},
		{"plain", "192.0.2.1:5000", "", false, false},
		{"untrusted peer says https", "192.0.2.1:5000", "https", false, false},
		{"trusted peer says https", "10.1.2.3:5000", "https", false, true},
		{"trusted IPv6 peer says https", "[fd00::5]:5000", "https", false, true},
		{"trusted IPv4-mapped peer says https", "[::ffff:10.1.2.3]:5000", "https", false, true},
		{"trusted peer says http", "10.1.2.3:5000", "http", false, false},
		{"trusted peer says nothing", "10.1.2.3:5000", "", false, false},
		{"unparsable peer", "pipe", "https", false, false},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/x", nil)
		r.RemoteAddr = tt.remote
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if tt.tls {
			r.TLS = &tls.ConnectionState{}
		} else {
			r.TLS = nil
		}
		if got := overHTTPS(r, trusted); got != tt.want {
			t.Errorf("%s: overHTTPS = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestGeminiRedirectURI(t *testing.T) {
	tests := []struct {
		name   string
		host   string
		tls    bool
		header string
		want   string
	}{
		{"loopback ip", "127.0.0.1:8188", false, "", "http://127.0.0.1:8188/oauth2callback"},
		{"localhost", "localhost:8188", false, "", "http://localhost:8188/oauth2callback"},
		{"ipv6 loopback", "[::1]:9000", false, "", "http://[::1]:9000/oauth2callback"},
		{"loopback over tls", "localhost:8443", true, "", "https://localhost:8443/oauth2callback"},
		{"loopback behind tls proxy", "localhost", false, "https", "https://localhost/oauth2callback"},
		{"remote host with port", "10.0.0.5:8188", false, "", "http://localhost:8188/oauth2callback"},
		{"remote name behind proxy", "pollux.example.com", false, "https", "http://localhost/oauth2callback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/geminicli/auth", nil)
			r.Host = tt.host
			if tt.tls {
				r.TLS = &tls.ConnectionState{}
			}
			if tt.header != "" {
				r.Header.Set("X-Forwarded-Proto", tt.header)
			}
			if got := geminiRedirectURI(r); got != tt.want {
				t.Errorf("geminiRedirectURI(%s) = %q, want %q", tt.host, got, tt.want)
			}
		})
	}
}

func TestParsePasted(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want callbackParams
		ok   bool
	}{
		{"codex address", "http://localhost:1455/auth/callback?code=ac_1&scope=openid&state=s1", callbackParams{code: "ac_1", state: "s1"}, true},
		{"google address with encoded code", "http://localhost:8188/oauth2callback?state=s2&code=4%2F0Ab-x&scope=email", callbackParams{code: "4/0Ab-x", state: "s2"}, true},
		{"query string only", "code=c3&state=s3", callbackParams{code: "c3", state: "s3"}, true},
		{"fragment dropped", "http://localhost/cb?code=c4&state=s4#frag", callbackParams{code: "c4", state: "s4"}, true},
		{"bare code", "  4/0Ab-raw\n", callbackParams{code: "4/0Ab-raw"}, true},
		{"bare escaped code", "4%2F0Ab", callbackParams{code: "4/0Ab"}, true},
		{"provider error", "http://localhost:1455/auth/callback?error=access_denied&state=s5", callbackParams{state: "s5", err: "access_denied"}, true},
		{"address without query", "http://localhost:1455/auth/callback", callbackParams{}, false},
		{"query without code", "http://localhost/cb?foo=bar", callbackParams{}, false},
		{"words", "it did not work", callbackParams{}, false},
		{"empty", "   ", callbackParams{}, false},
		{"too long", strings.Repeat("a", maxPastedLen+1), callbackParams{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parsePasted(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parsePasted(%q) = %+v, %v; want %+v, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestEnableOAuthKey(t *testing.T) {
	tests := []struct {
		name    string
		stored  []byte
		wantErr bool
	}{
		{"absent: generated", nil, false},
		{"present: kept", []byte(strings.Repeat("k", oauthKeyLen)), false},
		{"too short", []byte("short"), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store := newOAuthMemStore()
			if tt.stored != nil {
				_ = store.PutSetting(context.Background(), oauthKeySetting, tt.stored)
			}
			a := New(Deps{})
			err := a.Enable(context.Background(), store, Options{})
			if (err != nil) != tt.wantErr {
				t.Fatalf("EnableOAuth: err %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				if a.flows != nil {
					t.Error("flows enabled despite the error")
				}
				return
			}
			stored, _, _ := store.Setting(context.Background(), oauthKeySetting)
			if len(stored) != oauthKeyLen || string(stored) != string(a.flows.key) {
				t.Errorf("stored key %d bytes, flows use %d bytes, want the same %d", len(stored), len(a.flows.key), oauthKeyLen)
			}
			if tt.stored != nil && string(stored) != string(tt.stored) {
				t.Error("an existing key was replaced")
			}
		})
	}
}
