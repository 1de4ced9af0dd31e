// Package egress builds the pooled HTTP client every provider uses to reach
// its upstream, directly or through an http://, https:// or socks5:// proxy.
// One client per provider is built at start and reused for every call, so
// connections (HTTP/2 where the upstream offers it) are pooled through the
// proxy as well as without one.
package egress
