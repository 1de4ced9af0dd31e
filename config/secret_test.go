package config

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

const secretValue = "sk-live-0123456789"

func TestSecretFormatting(t *testing.T) {
	s := Secret(secretValue)
	tests := []struct {
		format string
		want   string
	}{
		{"%s", "[REDACTED]"},
		{"%v", "[REDACTED]"},
		{"%+v", "[REDACTED]"},
		{"%q", "[REDACTED]"},
		{"%x", "[REDACTED]"},
		{"%#v", `config.Secret("[REDACTED]")`},
		{"%10s", "[REDACTED]"},
	}
	for _, tc := range tests {
		t.Run(tc.format, func(t *testing.T) {
			if got := fmt.Sprintf(tc.format, s); got != tc.want {
				t.Errorf("Sprintf(%q) = %q, want %q", tc.format, got, tc.want)
			}
		})
	}
}

func TestSecretInsideStructs(t *testing.T) {
	c := Default()
	c.Basic.PolluxKey = secretValue
	c.Basic.AdminKey = secretValue + "-admin"
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		if got := fmt.Sprintf(format, c); strings.Contains(got, secretValue) {
			t.Errorf("Sprintf(%q, Config) shows the secret: %s", format, got)
		}
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secretValue) {
		t.Errorf("json.Marshal(Config) shows the secret: %s", b)
	}
	if !strings.Contains(string(b), `"PolluxKey":"[REDACTED]"`) {
		t.Errorf("json.Marshal(Config) = %s, want PolluxKey masked", b)
	}
}

func TestSecretEmptyPrintsEmpty(t *testing.T) {
	if got := fmt.Sprintf("%s|%v", Secret(""), Secret("")); got != "|" {
		t.Errorf("empty Secret prints %q, want %q", got, "|")
	}
}

func TestSecretInZap(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	log := zap.New(core)
	c := Default()
	c.Basic.PolluxKey = secretValue

	log.Info("fields",
		zap.Any("key", Secret(secretValue)),
		zap.Stringer("stringer", Secret(secretValue)),
		zap.Any("basic", c.Basic),
		zap.Reflect("config", c),
	)
	log.Sugar().Infow("sugar", "key", Secret(secretValue))
	log.Sugar().Infof("formatted %v %s", Secret(secretValue), Secret(secretValue))

	// Encode through a real JSON encoder too: the observer keeps fields
	// unencoded, and the encoder is where reflection would leak.
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	for _, entry := range logs.All() {
		buf, err := enc.EncodeEntry(entry.Entry, entry.Context)
		if err != nil {
			t.Fatalf("encode %q: %v", entry.Message, err)
		}
		line := buf.String()
		buf.Free()
		if strings.Contains(line, secretValue) {
			t.Errorf("log line shows the secret: %s", line)
		}
		if !strings.Contains(line, "[REDACTED]") {
			t.Errorf("log line has no mask, so the field was dropped rather than masked: %s", line)
		}
	}
	if got := logs.Len(); got != 3 {
		t.Errorf("observed %d entries, want 3", got)
	}
}

func TestSecretMatches(t *testing.T) {
	tests := []struct {
		name      string
		secret    Secret
		candidate string
		want      bool
	}{
		{"equal", "abc", "abc", true},
		{"different", "abc", "abd", false},
		{"prefix", "abc", "ab", false},
		{"longer", "abc", "abcd", false},
		{"empty candidate", "abc", "", false},
		{"empty secret matches nothing", "", "", false},
		{"empty secret, any candidate", "", "abc", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.secret.Matches(tc.candidate); got != tc.want {
				t.Errorf("Secret(%q).Matches(%q) = %v, want %v", tc.secret.Reveal(), tc.candidate, got, tc.want)
			}
		})
	}
}

func TestSecretRevealAndIsZero(t *testing.T) {
	if got := Secret(secretValue).Reveal(); got != secretValue {
		t.Errorf("Reveal() = %q, want %q", got, secretValue)
	}
	if Secret("").IsZero() != true || Secret("x").IsZero() != false {
		t.Error("IsZero wrong")
	}
}
