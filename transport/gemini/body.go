package gemini

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/pollux-gateway/pollux/providers/geminicli"
	"github.com/pollux-gateway/pollux/transport/relay"
)

// maxAffinityLen is the longest session id used verbatim as an affinity
// key; longer ones are hashed so the scheduler keeps short keys.
const maxAffinityLen = 128

// usageKey is the member of a Gemini response with its token counts.
const usageKey = `"usageMetadata"`

// replyUsage reads the usageMetadata of a generateContent reply
// without decoding the whole (possibly large) reply again: Google writes it
// after the candidates, so the members from its last occurrence to the end
// form a small object of their own. When they do not (the key also occurs
// deeper, say in function-call arguments), the whole reply is decoded.
func replyUsage(inner []byte) *geminicli.Usage {
	i := bytes.LastIndex(inner, []byte(usageKey))
	if i < 0 {
		return nil
	}
	tail := make([]byte, 0, len(inner)-i+1)
	tail = append(append(tail, '{'), inner[i:]...)
	if json.Valid(tail) {
		return geminicli.UsageOf(tail)
	}
	return geminicli.UsageOf(inner)
}

// isGoogleErrorBody reports whether body is a JSON object with an "error" object.
func isGoogleErrorBody(body []byte) bool {
	var env struct {
		Error json.RawMessage `json:"error"`
	}
	return json.Unmarshal(body, &env) == nil && len(env.Error) > 0 && env.Error[0] == '{'
}

// bodyIsObject reports whether b is one valid JSON object (surrounding
// whitespace allowed). The first byte is checked before the full scan.
func bodyIsObject(b []byte) bool {
	for _, ch := range b {
		switch ch {
		case ' ', '\t', '\n', '\r':
			continue
		}
		return ch == '{' && json.Valid(b)
	}
	return false
}

// checkBody decides, before any credential is leased, that the
// upstream envelope of method can be built from body: a body the wrapper
// would refuse is the client's 400, not an upstream failure on every
// credential. (FuzzGeminiCheckedBodyWraps holds it to that.)
func checkBody(method string, body []byte) error {
	if !bodyIsObject(body) {
		return &relay.Error{Kind: relay.KindInvalidArgument, Message: "Invalid JSON payload received: the request body must be a JSON object"}
	}
	if method == geminicli.MethodCountTokens {
		if _, err := geminicli.WrapCountTokens("m", body); err != nil {
			return &relay.Error{Kind: relay.KindInvalidArgument, Err: err,
				Message: "Invalid JSON payload received: generateContentRequest must be a JSON object (the request whose tokens to count)"}
		}
	}
	return nil
}

// sessionAffinity returns the affinity key of a Gemini request: its
// top-level session_id (the Gemini CLI sends one per conversation), or ""
// without one. Bodies that do not mention session_id skip the decode.
func sessionAffinity(body []byte) string {
	if !bytes.Contains(body, []byte(`"session_id"`)) {
		return ""
	}
	var v struct {
		SessionID json.RawMessage `json:"session_id"`
	}
	if json.Unmarshal(body, &v) != nil || len(v.SessionID) == 0 || v.SessionID[0] != '"' {
		return ""
	}
	var id string
	if json.Unmarshal(v.SessionID, &id) != nil || id == "" {
		return ""
	}
	if len(id) > maxAffinityLen {
		sum := sha256.Sum256([]byte(id))
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return id
}
