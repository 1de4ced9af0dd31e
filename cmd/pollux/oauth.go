package main

import (
	"context"

	"github.com/pollux-gateway/pollux/actors"
	"github.com/pollux-gateway/pollux/config"
	"github.com/pollux-gateway/pollux/transport"
)

// enableOAuth turns on the browser sign-in flows, keeping their cookie key in
// the database so a restart does not break a flow in progress.
func enableOAuth(ctx context.Context, srv *transport.Server, sys *actors.System, b config.Basic) error {
	return srv.EnableOAuth(ctx, sys, transport.OAuthOptions{
		InsecureCookie: b.InsecureCookie,
		TrustedProxies: b.TrustedProxyPrefixes(),
	})
}
