package codex

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/pollux-gateway/pollux/providers/jsonscan"
)

// ErrBadRequestBody marks a client body that Normalize cannot accept; the
// message says why and is safe to show the client.
var ErrBadRequestBody = errors.New("codex: invalid request body")

// isStripped reports whether key is a Responses API field the Codex backend
// rejects. (service_tier is kept when it is "priority"; Normalize checks.)
func isStripped(key string) bool {
	switch key {
	case "max_output_tokens", "temperature", "top_p", "metadata", "user",
		"truncation", "previous_response_id", "service_tier":
		return true
	}
	return false
}

// Normalize rewrites a client's POST /responses body into what the backend
// accepts:
//
//   - "stream" is forced to true and "store" to false;
//   - "instructions" is always present: the client's, then the text of every
//     role "system" message of input, joined with "\n\n" (the system
//     messages leave input; "developer" messages stay where they are);
//   - a string "input" becomes one user message;
//   - max_output_tokens, temperature, top_p, metadata, user, truncation,
//     previous_response_id and service_tier (unless "priority") are removed
//     and their names returned, sorted, in dropped.
//
// Every other member keeps its bytes exactly (tools of every type, reasoning,
// include, prompt_cache_key, text, input item ids); members are written in
// sorted key order. stream is the client's own flag (false when absent):
// streaming is decided by the body, never by the Accept header. A body that is
// not a JSON object or has no string "model" is an error wrapping
// ErrBadRequestBody.
func Normalize(body []byte) (out []byte, stream bool, dropped []string, err error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, false, nil, err
	}
	if raw, ok := m["stream"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &stream); err != nil {
			return nil, false, nil, fmt.Errorf("%w: \"stream\" must be a boolean", ErrBadRequestBody)
		}
	}
	for key, raw := range m {
		if !isStripped(key) {
			continue
		}
		if key == "service_tier" && jsonString(raw) == "priority" {
			continue
		}
		delete(m, key)
		dropped = append(dropped, key)
	}
	slices.Sort(dropped)

	var parts []string
	if raw, ok := m["instructions"]; ok && !isNull(raw) {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false, nil, fmt.Errorf("%w: \"instructions\" must be a string", ErrBadRequestBody)
		}
		if s != "" {
			parts = append(parts, s)
		}
	}
	if raw, ok := m["input"]; ok {
		input, system, err := normalizeInput(raw)
		if err != nil {
			return nil, false, nil, err
		}
		m["input"] = input
		parts = append(parts, system...)
	}
	m["instructions"] = mustMarshalString(strings.Join(parts, "\n\n"))
	m["stream"] = json.RawMessage("true")
	m["store"] = json.RawMessage("false")
	return encodeObject(m), stream, dropped, nil
}

// NormalizeCompact checks a client's POST /responses/compact body (a JSON
// object with a string "model") and returns it unchanged.
func NormalizeCompact(body []byte) ([]byte, error) {
	if _, err := decodeObject(body); err != nil {
		return nil, err
	}
	return body, nil
}

// WithModel returns a request body (a JSON object with a string "model")
// with "model" set to model: the model an alias names, or a fallback. Every
// other member keeps its bytes; members are written in sorted key order.
func WithModel(body []byte, model string) ([]byte, error) {
	m, err := decodeObject(body)
	if err != nil {
		return nil, err
	}
	m["model"] = mustMarshalString(model)
	return encodeObject(m), nil
}

// decodeObject decodes the top level of a request body, keeping every member
// value as its original bytes, and checks "model".
func decodeObject(body []byte) (map[string]json.RawMessage, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return nil, fmt.Errorf("%w: the body must be a JSON object", ErrBadRequestBody)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(trimmed, &m); err != nil {
		return nil, fmt.Errorf("%w: the body is not valid JSON: %w", ErrBadRequestBody, err)
	}
	var model string
	if raw, ok := m["model"]; !ok || json.Unmarshal(raw, &model) != nil || model == "" {
		return nil, fmt.Errorf("%w: \"model\" must be a non-empty string", ErrBadRequestBody)
	}
	return m, nil
}

// inputItem is the part of an input item Normalize looks at.
type inputItem struct {
	Type    string          `json:"type"`
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

// normalizeInput turns a string input into one user message and takes the
// text of system messages out of an array input. Items it does not move keep
// their bytes; an array without system messages is returned as it came.
func normalizeInput(raw json.RawMessage) (json.RawMessage, []string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return raw, nil, nil
	}
	switch raw[0] {
	case '"':
		var text string
		if err := json.Unmarshal(raw, &text); err != nil {
			return nil, nil, fmt.Errorf("%w: \"input\": %w", ErrBadRequestBody, err)
		}
		return userMessage(text), nil, nil
	case '[':
	default:
		// Anything else is the backend's to reject.
		return raw, nil, nil
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, nil, fmt.Errorf("%w: \"input\": %w", ErrBadRequestBody, err)
	}
	var system []string
	changed := false
	kept := make([]json.RawMessage, 0, len(items))
	for _, item := range items {
		var it inputItem
		if json.Unmarshal(item, &it) != nil || it.Role != "system" || (it.Type != "" && it.Type != "message") {
			kept = append(kept, item)
			continue
		}
		changed = true
		text, ok := messageText(it.Content)
		if !ok {
			// Not plain text (an image, say): keep the message, as developer.
			item, err := asDeveloper(item)
			if err != nil {
				return nil, nil, err
			}
			kept = append(kept, item)
			continue
		}
		if text != "" {
			system = append(system, text)
		}
	}
	if !changed {
		return raw, nil, nil
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, item := range kept {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(item)
	}
	buf.WriteByte(']')
	return buf.Bytes(), system, nil
}

// messageText returns the text of a message's content: a string, or an
// array of text parts joined with "\n". ok is false when a part is not text.
func messageText(content json.RawMessage) (string, bool) {
	var s string
	if json.Unmarshal(content, &s) == nil {
		return s, true
	}
	var parts []struct {
		Type string  `json:"type"`
		Text *string `json:"text"`
	}
	if json.Unmarshal(content, &parts) != nil {
		return "", false
	}
	texts := make([]string, 0, len(parts))
	for _, p := range parts {
		if p.Text == nil || (p.Type != "input_text" && p.Type != "text" && p.Type != "output_text") {
			return "", false
		}
		texts = append(texts, *p.Text)
	}
	return strings.Join(texts, "\n"), true
}

// asDeveloper rewrites a system message's role, keeping its other members.
func asDeveloper(item json.RawMessage) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(item, &m); err != nil {
		return nil, fmt.Errorf("%w: \"input\": %w", ErrBadRequestBody, err)
	}
	m["role"] = json.RawMessage(`"developer"`)
	return encodeObject(m), nil
}

func userMessage(text string) json.RawMessage {
	const head, tail = `[{"type":"message","role":"user","content":[{"type":"input_text","text":`, `}]}]`
	buf := make([]byte, 0, len(head)+len(text)+8+len(tail))
	buf = append(buf, head...)
	buf = jsonscan.AppendString(buf, text, false)
	return append(buf, tail...)
}

// encodeObject writes m with sorted keys, every value byte for byte.
// (json.Marshal would compact and HTML-escape RawMessage values.)
func encodeObject(m map[string]json.RawMessage) json.RawMessage {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	size := 2
	for k, v := range m {
		size += len(k) + len(v) + 4
	}
	buf := make([]byte, 0, size)
	buf = append(buf, '{')
	for i, k := range keys {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = jsonscan.AppendString(buf, k, false)
		buf = append(buf, ':')
		buf = append(buf, bytes.TrimSpace(m[k])...)
	}
	return append(buf, '}')
}

// mustMarshalString encodes s as a JSON string without HTML escaping.
func mustMarshalString(s string) json.RawMessage {
	return jsonscan.AppendString(make([]byte, 0, len(s)+2), s, false)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }
