package config

import (
	"net"
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
