package config

import (
	"fmt"
	"strings"
)

// ownTargets are the log targets of the original Pollux's own crates in a
// filter directive ("pollux=debug", "pollux_core::x=trace").
func ownTarget(target string) bool {
	return target == "pollux" || strings.HasPrefix(target, "pollux::") || strings.HasPrefix(target, "pollux_")
}

// compatLogLevel turns the loglevel values the original Pollux accepted
// into one of Pollux's four levels: any case ("INFO"), "trace" (zap has no
// trace level: debug), and tracing filter directives ("pollux=debug",
// "info,hyper=warn"), from which Pollux takes the level for its own target,
// else the bare default level, and ignores the rest. It reports a warning
// when it dropped or mapped anything; a value it cannot read is left for
// Validate to refuse.
func compatLogLevel(b *Basic) (Warning, bool) {
	raw := b.LogLevel
	var (
		own, global string
		ignored     []string
	)
	for _, d := range strings.Split(raw, ",") {
		d = strings.TrimSpace(d)
		if d == "" {
			continue
		}
		target, level, isTarget := strings.Cut(d, "=")
		switch {
		case !isTarget:
			global = strings.ToLower(d)
		case ownTarget(strings.TrimSpace(target)):
			own = strings.ToLower(strings.TrimSpace(level))
		default:
			ignored = append(ignored, d)
		}
	}
	level := own
	if level == "" {
		level = global
	}
	if level == "" {
		return Warning{}, false // empty or only other targets: Validate says so
	}
	var notes []string
	switch level {
	case "trace":
		if own == "" && global == "trace" && len(ignored) == 0 && strings.EqualFold(strings.TrimSpace(raw), "trace") {
			b.LogLevel = "debug"
			return Warning{Key: "basic.loglevel", Message: `"trace" is not supported; using "debug"`}, true
		}
		level = "debug"
		notes = append(notes, `"trace" is not supported, "debug" is the most detailed`)
	case "warning":
		level = "warn"
	case "off":
		level = "error"
		notes = append(notes, `"off" is not supported, "error" is the quietest`)
	}
	b.LogLevel = level
	if len(ignored) > 0 {
		notes = append(notes, "directives for other components ignored: "+strings.Join(ignored, ","))
	}
	if len(notes) == 0 && !strings.Contains(raw, "=") && !strings.Contains(raw, ",") {
		return Warning{}, false // only the case differed
	}
	msg := fmt.Sprintf("%q read as %q", raw, level)
	if len(notes) > 0 {
		msg += "; " + strings.Join(notes, "; ")
	}
	return Warning{Key: "basic.loglevel", Message: msg}, true
}

// antigravityKey is the original Pollux's third provider section.
const antigravityKey = "providers.antigravity"

// AntigravityMessage is the warning for an original [providers.antigravity]
// section.
const AntigravityMessage = "the Antigravity provider is not supported by this version; the section is ignored " +
	"and Antigravity credentials in the database are kept, untouched"

// antigravityWarning replaces the unknown-key warnings of an original
// [providers.antigravity] section with one warning that says why.
func antigravityWarning(warns []Warning) []Warning {
	out := warns[:0]
	seen := false
	for _, w := range warns {
		if w.Key != antigravityKey && !strings.HasPrefix(w.Key, antigravityKey+".") {
			out = append(out, w)
			continue
		}
		if !seen {
			seen = true
			out = append(out, Warning{Key: antigravityKey, Line: w.Line, Message: AntigravityMessage})
		}
	}
	return out
}
