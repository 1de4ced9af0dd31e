package chat

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
)

var sprintf = fmt.Sprintf

// request is a Chat Completions request body, as read.
type request struct {
	Model               string          `json:"model"`
	Messages            []message       `json:"messages"`
	Tools               []tool          `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ParallelToolCalls   *bool           `json:"parallel_tool_calls"`
	ResponseFormat      *responseFormat `json:"response_format"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	Temperature         *float64        `json:"temperature"`
	TopP                *float64        `json:"top_p"`
	Stop                json.RawMessage `json:"stop"`
	N                   *int            `json:"n"`
	Seed                *int64          `json:"seed"`
	PresencePenalty     *float64        `json:"presence_penalty"`
	FrequencyPenalty    *float64        `json:"frequency_penalty"`
	Stream              bool            `json:"stream"`
	StreamOptions       *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Modalities     []string        `json:"modalities"`
	Audio          json.RawMessage `json:"audio"`
	Logprobs       bool            `json:"logprobs"`
	PromptCacheKey string          `json:"prompt_cache_key"`
	Verbosity      string          `json:"verbosity"`
	// Google and ExtraBody carry the Gemini-specific options Google's own
	// OpenAI compatibility takes (extra_body={"google": {...}} reaches the
	// server either merged into the body or as a literal extra_body).
	Google    *googleOptions `json:"google"`
	ExtraBody *struct {
		Google *googleOptions `json:"google"`
	} `json:"extra_body"`
	User string `json:"user"`

	// dropped are members read but not sent to the pool (named in the
	// dropped-params header); stops are the stop sequences.
	dropped []string
	stops   []string
}

type message struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	Name       string          `json:"name"`
	ToolCalls  []toolCall      `json:"tool_calls"`
	ToolCallID string          `json:"tool_call_id"`
}

type toolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type tool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
		Strict      *bool           `json:"strict"`
	} `json:"function"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Schema      json.RawMessage `json:"schema"`
		Strict      *bool           `json:"strict"`
	} `json:"json_schema"`
}

// googleOptions are the Gemini options of Google's OpenAI compatibility
// that Pollux honours: the thinking config.
type googleOptions struct {
	ThinkingConfig *struct {
		ThinkingBudget  *int64 `json:"thinking_budget"`
		ThinkingLevel   string `json:"thinking_level"`
		IncludeThoughts bool   `json:"include_thoughts"`
	} `json:"thinking_config"`
}

// google returns the Gemini options, from either place.
func (r *request) google() *googleOptions {
	if r.Google != nil {
		return r.Google
	}
	if r.ExtraBody != nil {
		return r.ExtraBody.Google
	}
	return nil
}

// part is one content part of a message.
type part struct {
	Type     string `json:"type"`
	Text     string `json:"text"`
	ImageURL *struct {
		URL    string `json:"url"`
		Detail string `json:"detail"`
	} `json:"image_url"`
}

// known are the request members the surface reads; any other member is
// dropped and named.
var known = map[string]bool{
	"model": true, "messages": true, "tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"response_format": true, "reasoning_effort": true, "max_tokens": true, "max_completion_tokens": true,
	"temperature": true, "top_p": true, "stop": true, "n": true, "seed": true, "presence_penalty": true,
	"frequency_penalty": true, "stream": true, "stream_options": true, "modalities": true, "audio": true,
	"logprobs": true, "prompt_cache_key": true, "user": true, "verbosity": true,
	"google": true, "extra_body": true,
}

// refused are request members that change what the model may do and that
// neither pool can honour: a 400, not a silent drop.
var refused = map[string]string{
	"functions":          "the deprecated functions are not supported; use tools",
	"function_call":      "the deprecated function_call is not supported; use tool_choice",
	"web_search_options": "web search is not supported on this surface",
	"prediction":         "predicted outputs are not supported",
}

// parseRequest reads and checks a Chat Completions body. What cannot be
// translated to either pool is a *fieldError.
func parseRequest(body []byte) (*request, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, badField("body", "the body must be a JSON object")
	}
	var r request
	if err := json.Unmarshal(body, &r); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, badField(te.Field, "has the wrong type (%s)", te.Value)
		}
		return nil, badField("body", "%v", err)
	}
	for k, v := range members {
		if msg, ok := refused[k]; ok && string(v) != "null" {
			return nil, badField(k, "%s", msg)
		}
		if !known[k] {
			r.dropped = append(r.dropped, k)
		}
	}
	slices.Sort(r.dropped)
	switch {
	case r.Model == "":
		return nil, badField("model", "is required")
	case len(r.Messages) == 0:
		return nil, badField("messages", "must hold at least one message")
	case r.N != nil && *r.N != 1:
		return nil, badField("n", "only n=1 is supported: the pools generate one choice per request")
	case len(r.Audio) > 0 && string(r.Audio) != "null" || slices.Contains(r.Modalities, "audio"):
		return nil, badField("audio", "audio output is not supported")
	case r.Logprobs:
		return nil, badField("logprobs", "log probabilities are not supported")
	}
	if len(r.Stop) > 0 && string(r.Stop) != "null" {
		var one string
		if json.Unmarshal(r.Stop, &one) == nil {
			r.stops = []string{one}
		} else if json.Unmarshal(r.Stop, &r.stops) != nil {
			return nil, badField("stop", "must be a string or an array of strings")
		}
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "json_object":
		case "json_schema":
			if rf.JSONSchema == nil || len(rf.JSONSchema.Schema) == 0 {
				return nil, badField("response_format.json_schema.schema", "is required for type json_schema")
			}
		default:
			return nil, badField("response_format.type", "must be text, json_object or json_schema")
		}
	}
	switch r.Verbosity {
	case "", "low", "medium", "high":
	default:
		return nil, badField("verbosity", "must be low, medium or high")
	}
	switch r.ReasoningEffort {
	case "", "none", "minimal", "low", "medium", "high", "xhigh":
	default:
		return nil, badField("reasoning_effort", "must be none, minimal, low, medium, high or xhigh")
	}
	for i, t := range r.Tools {
		if t.Type != "function" {
			return nil, badField(sprintf("tools[%d].type", i), "only function tools are supported, not %q", t.Type)
		}
		if t.Function.Name == "" {
			return nil, badField(sprintf("tools[%d].function.name", i), "is required")
		}
	}
	for i, m := range r.Messages {
		switch m.Role {
		case "system", "developer", "user", "assistant", "tool":
		case "function":
			return nil, badField(sprintf("messages[%d].role", i), "the deprecated function role is not supported; use tool")
		default:
			return nil, badField(sprintf("messages[%d].role", i), "unknown role %q", m.Role)
		}
		if m.Role == "tool" && m.ToolCallID == "" {
			return nil, badField(sprintf("messages[%d].tool_call_id", i), "is required for a tool message")
		}
	}
	return &r, nil
}

// maxTokens is the output limit the client set, or nil.
func (r *request) maxTokens() *int64 {
	if r.MaxCompletionTokens != nil {
		return r.MaxCompletionTokens
	}
	return r.MaxTokens
}

func (r *request) includeUsage() bool { return r.StreamOptions != nil && r.StreamOptions.IncludeUsage }

// parts returns a message's content as parts: a string is one text part,
// null none.
func (m *message) parts(i int) ([]part, error) {
	c := bytes.TrimSpace(m.Content)
	if len(c) == 0 || string(c) == "null" {
		return nil, nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return nil, badField(sprintf("messages[%d].content", i), "is not a valid string")
		}
		return []part{{Type: "text", Text: s}}, nil
	}
	var ps []part
	if err := json.Unmarshal(c, &ps); err != nil {
		return nil, badField(sprintf("messages[%d].content", i), "must be a string or an array of content parts")
	}
	for j, p := range ps {
		switch p.Type {
		case "text":
		case "image_url":
			if p.ImageURL == nil || p.ImageURL.URL == "" {
				return nil, badField(sprintf("messages[%d].content[%d].image_url.url", i, j), "is required")
			}
		default:
			return nil, badField(sprintf("messages[%d].content[%d].type", i, j), "content parts of type %q are not supported", p.Type)
		}
	}
	return ps, nil
}

// text joins a message's text parts; images in a system or tool message
// are refused.
func (m *message) text(i int) (string, error) {
	ps, err := m.parts(i)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for j, p := range ps {
		if p.Type != "text" {
			return "", badField(sprintf("messages[%d].content[%d]", i, j), "a %s message may hold only text", m.Role)
		}
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// dataURL splits a data: URL into its media type and base64 data.
func dataURL(u string) (mime, data string, ok bool) {
	rest, ok := strings.CutPrefix(u, "data:")
	if !ok {
		return "", "", false
	}
	meta, data, ok := strings.Cut(rest, ",")
	if !ok {
		return "", "", false
	}
	mime, b64 := strings.CutSuffix(meta, ";base64")
	if !b64 {
		// Percent-encoded data: decode, re-encode as base64.
		raw, err := url.PathUnescape(data)
		if err != nil {
			return "", "", false
		}
		data = base64.StdEncoding.EncodeToString([]byte(raw))
	}
	if mime == "" {
		mime = "text/plain"
	}
	return mime, data, true
}

// toolNames maps the tool call ids of the assistant turns to the names of
// the functions called (Gemini's functionResponse needs the name).
func toolNames(ms []message) map[string]string {
	names := map[string]string{}
	for _, m := range ms {
		for _, tc := range m.ToolCalls {
			names[tc.ID] = tc.Function.Name
		}
	}
	return names
}
