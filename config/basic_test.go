package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTrustedProxies(t *testing.T) {
	path := writeFile(t, "[basic]\npollux_key = \"a-long-enough-test-key-0001\"\n"+
		"trusted_proxies = [\"127.0.0.1\", \"10.1.2.3/8\", \"fd00::/8\", \"::ffff:192.168.0.1\"]\n")
	c, _, err := Load(path, envFrom(nil))
	if err != nil {
		t.Fatal(err)
	}
	got := c.Basic.TrustedProxyPrefixes()
	want := []netip.Prefix{
		netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.168.0.1/32"),
	}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Errorf("prefixes (-want +got):\n%s", diff)
	}

	bad := writeFile(t, "[basic]\npollux_key = \"a-long-enough-test-key-0001\"\ntrusted_proxies = [\"10.0.0.1\", \"proxy.lan\", \"10.0.0.0/33\"]\n")
	_, _, err = Load(bad, envFrom(nil))
	for _, want := range []string{"basic.trusted_proxies[1]: must be an IP address or a CIDR prefix", "basic.trusted_proxies[2]"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
}
