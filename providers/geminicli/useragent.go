package geminicli

import "runtime"

// nodePlatform is Node's process.platform for a Go GOOS: the Gemini CLI is
// a Node program and puts that name in its User-Agent.
func nodePlatform(goos string) string {
	switch goos {
	case "windows":
		return "win32"
	case "illumos", "solaris":
		return "sunos"
	default: // linux, darwin, freebsd, openbsd, aix, android: the same names
		return goos
	}
}

// nodeArch is Node's process.arch for a Go GOARCH.
func nodeArch(goarch string) string {
	switch goarch {
	case "amd64":
		return "x64"
	case "386":
		return "ia32"
	case "ppc64le":
		return "ppc64"
	case "mipsle":
		return "mipsel"
	default: // arm64, arm, s390x, riscv64, loong64, mips: the same names
		return goarch
	}
}

// userAgentFor is the Gemini CLI's User-Agent,
// "GeminiCLI/<version>/<model> (<platform>; <arch>; terminal)", with Node's
// platform and architecture names.
func userAgentFor(version, model, goos, goarch string) string {
	return "GeminiCLI/" + version + "/" + model + " (" + nodePlatform(goos) + "; " + nodeArch(goarch) + "; terminal)"
}

// userAgent is the User-Agent for a call about model. Calls that concern no
// model (onboarding) name the first configured model, as the CLI names the
// model it is set to.
func (c *Client) userAgent(model string) string {
	if model == "" && len(c.models) > 0 {
		model = c.models[0]
	}
	return userAgentFor(c.version, model, runtime.GOOS, runtime.GOARCH)
}
