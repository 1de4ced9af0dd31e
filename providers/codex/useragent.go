package codex

import (
	"bufio"
	"net/http"
	"os"
	"runtime"
	"strings"
)

// platform is what the Codex CLI puts in its User-Agent about the machine:
// the OS type and version as its os_info crate names them, and the
// architecture as uname -m does.
type platform struct {
	osType, osVersion, arch string
}

// userAgent is the Codex CLI's User-Agent:
// "<originator>/<version> (<os type> <os version>; <arch>) <terminal>". A
// process without a terminal reports "unknown", as the CLI does.
func (p platform) userAgent(originator, version string) string {
	return originator + "/" + version + " (" + p.osType + " " + p.osVersion + "; " + p.arch + ") unknown"
}

// hostPlatform describes the machine Pollux runs on, the way the Codex CLI
// would describe it if it ran there.
func hostPlatform() platform {
	p := platform{osType: "Linux", osVersion: "Unknown", arch: unameArch(runtime.GOOS, runtime.GOARCH)}
	switch runtime.GOOS {
	case "linux":
		if f, err := os.Open("/etc/os-release"); err == nil {
			p.osType, p.osVersion = osRelease(bufio.NewScanner(f))
			_ = f.Close()
		}
	case "darwin":
		p.osType = "Mac OS"
	case "windows":
		p.osType = "Windows"
	case "freebsd":
		p.osType = "FreeBSD"
	}
	return p
}

// osRelease reads an os-release file into os_info's type name and the
// version id.
func osRelease(sc *bufio.Scanner) (osType, version string) {
	osType, version = "Linux", "Unknown"
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		val = strings.Trim(val, `"'`)
		switch key {
		case "ID":
			if name, known := osInfoNames[val]; known {
				osType = name
			}
		case "VERSION_ID":
			if val != "" {
				version = val
			}
		}
	}
	return osType, version
}

// osInfoNames maps os-release IDs to the names os_info prints.
var osInfoNames = map[string]string{
	"alpine":        "Alpine Linux",
	"amzn":          "Amazon Linux",
	"arch":          "Arch Linux",
	"centos":        "CentOS",
	"debian":        "Debian",
	"fedora":        "Fedora",
	"linuxmint":     "Linux Mint",
	"manjaro":       "Manjaro",
	"nixos":         "NixOS",
	"opensuse-leap": "openSUSE",
	"rhel":          "Red Hat Enterprise Linux",
	"rocky":         "Rocky Linux",
	"ubuntu":        "Ubuntu",
}

// unameArch is uname -m's name for a Go architecture.
func unameArch(goos, goarch string) string {
	switch goarch {
	case "amd64":
		return "x86_64"
	case "arm64":
		if goos == "darwin" {
			return "arm64"
		}
		return "aarch64"
	case "386":
		return "i686"
	default:
		return goarch
	}
}

// clientIdentity returns the originator, version and User-Agent for an
// upstream call. A Codex CLI calling Pollux sends its own originator and
// User-Agent ("codex_cli_rs/0.171.0 (Mac OS 15.1.0; arm64) iTerm.app/3.5.0");
// they go upstream unchanged, with the version read from the User-Agent, so
// the three always agree. Any other client gets Pollux's own, consistent
// set.
func (c *Client) clientIdentity(originator, userAgent string) (string, string, string) {
	if originator != "" {
		if rest, ok := strings.CutPrefix(userAgent, originator+"/"); ok {
			if version, _, ok := strings.Cut(rest, " ("); ok && version != "" && !strings.ContainsAny(version, " /") {
				return originator, version, userAgent
			}
		}
	}
	return defaultOriginator, c.version, c.platform.userAgent(defaultOriginator, c.version)
}

// identityTransport sends a request through the provider's client with the
// Codex CLI's originator and User-Agent, which its HTTP client puts on every
// call, token refreshes included. x/oauth2 builds its own requests, so its
// client is given this transport.
type identityTransport struct{ c *Client }

func (t identityTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	t.c.setIdentity(r.Header)
	return t.c.hc.Do(r)
}

// setIdentity sets Pollux's own originator and User-Agent on h.
func (c *Client) setIdentity(h http.Header) {
	h.Set("originator", defaultOriginator)
	h.Set("User-Agent", c.platform.userAgent(defaultOriginator, c.version))
}
