package config

import (
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// DatabasePath returns the SQLite file named by DatabaseURL: "sqlite://PATH",
// "sqlite:PATH" and a bare PATH all give PATH; a query string is dropped, as
// the storage package sets its own connection options.
// "sqlite:///app/data/pollux.db" gives the absolute "/app/data/pollux.db".
func (b Basic) DatabasePath() string {
	p := b.DatabaseURL
	switch {
	case strings.HasPrefix(p, "sqlite://"):
		p = strings.TrimPrefix(p, "sqlite://")
	case strings.HasPrefix(p, "sqlite:"):
		p = strings.TrimPrefix(p, "sqlite:")
	}
	p, _, _ = strings.Cut(p, "?")
	return p
}

// Addr returns the listen address in host:port form for net.Listen.
func (b Basic) Addr() string {
	return net.JoinHostPort(b.ListenAddr, strconv.Itoa(b.ListenPort))
}

// ShutdownTimeout returns ShutdownTimeoutSecs as a duration.
func (b Basic) ShutdownTimeout() time.Duration {
	return time.Duration(b.ShutdownTimeoutSecs) * time.Second
}

// TrustedProxyPrefixes returns TrustedProxies as prefixes: a bare address is
// a prefix of its full length. Entries that do not parse are left out
// (Validate reports them).
func (b Basic) TrustedProxyPrefixes() []netip.Prefix {
	out := make([]netip.Prefix, 0, len(b.TrustedProxies))
	for _, s := range b.TrustedProxies {
		if p, ok := parsePrefix(s); ok {
			out = append(out, p)
		}
	}
	return out
}

// parsePrefix reads "10.0.0.0/8", "fd00::/8" or a bare address.
func parsePrefix(s string) (netip.Prefix, bool) {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		return p.Masked(), err == nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}
