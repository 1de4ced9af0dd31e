package messages

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// request is an Anthropic Messages request as Pollux reads it. Members it
// does not know are refused by name (unknownMember), never dropped.
type request struct {
	Model         string          `json:"model"`
	MaxTokens     *int64          `json:"max_tokens"`
	Messages      []message       `json:"messages"`
	System        systemPrompt    `json:"system"`
	Tools         []tool          `json:"tools"`
	ToolChoice    *toolChoice     `json:"tool_choice"`
	Thinking      *thinking       `json:"thinking"`
	StopSequences []string        `json:"stop_sequences"`
	Temperature   *float64        `json:"temperature"`
	TopP          *float64        `json:"top_p"`
	TopK          *int64          `json:"top_k"`
	Stream        bool            `json:"stream"`
	Metadata      json.RawMessage `json:"metadata"`
	OutputFormat  *outputFormat   `json:"output_format"`
	OutputConfig  *outputConfig   `json:"output_config"`
	ServiceTier   string          `json:"service_tier"`
	// ContextManagement asks Anthropic's servers to edit the context
	// (clear old tool results); no pool can, so it is dropped and named.
	ContextManagement json.RawMessage `json:"context_management"`
}

// outputConfig is the newer home of the output's effort and format.
type outputConfig struct {
	Effort string        `json:"effort"` // low | medium | high
	Format *outputFormat `json:"format"`
}

// knownMembers are the request members Pollux translates (or drops on
// purpose, naming them in X-Pollux-Dropped-Params).
var knownMembers = map[string]bool{
	"model": true, "max_tokens": true, "messages": true, "system": true, "tools": true,
	"tool_choice": true, "thinking": true, "stop_sequences": true, "temperature": true,
	"top_p": true, "top_k": true, "stream": true, "metadata": true, "output_format": true,
	"service_tier": true, "output_config": true, "context_management": true,
}

type message struct {
	Role    string         `json:"role"`
	Content messageContent `json:"content"`
}

// messageContent is a message's content: a string or an array of blocks.
type messageContent []block

func (c *messageContent) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*c = []block{{Type: "text", Text: s}}
		return nil
	}
	var bs []block
	if err := json.Unmarshal(b, &bs); err != nil {
		return err
	}
	*c = bs
	return nil
}

// block is one content block of a request message.
type block struct {
	Type string `json:"type"`
	// text
	Text string `json:"text,omitempty"`
	// image
	Source *imageSource `json:"source,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// tool_result
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   *messageContent `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	// thinking
	Thinking  string `json:"thinking,omitempty"`
	Signature string `json:"signature,omitempty"`
	// redacted_thinking
	Data string `json:"data,omitempty"`
}

type imageSource struct {
	Type      string `json:"type"` // base64 | url | text (documents)
	MediaType string `json:"media_type"`
	Data      string `json:"data"`
	URL       string `json:"url"`
}

// systemPrompt is the system member: a string or text blocks.
type systemPrompt []block

func (s *systemPrompt) UnmarshalJSON(b []byte) error {
	var c messageContent
	if err := c.UnmarshalJSON(b); err != nil {
		return err
	}
	*s = systemPrompt(c)
	return nil
}

type tool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type toolChoice struct {
	Type                   string `json:"type"` // auto | any | tool | none
	Name                   string `json:"name"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use"`
}

type thinking struct {
	Type         string `json:"type"` // enabled | disabled | adaptive
	BudgetTokens int64  `json:"budget_tokens"`
}

type outputFormat struct {
	Type   string          `json:"type"` // json_schema
	Schema json.RawMessage `json:"schema"`
}

// badRequest is a request Pollux cannot translate: Param names the member
// at fault.
type badRequest struct {
	Param, Message string
}

func (e *badRequest) Error() string {
	if e.Param == "" {
		return e.Message
	}
	return e.Param + ": " + e.Message
}

func bad(param, format string, args ...any) *badRequest {
	return &badRequest{Param: param, Message: fmt.Sprintf(format, args...)}
}

// parseRequest decodes and checks a Messages body; counting (the
// count_tokens route) needs no max_tokens.
func parseRequest(body []byte, counting bool) (*request, error) {
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil || members == nil {
		return nil, bad("", "the request body must be a JSON object")
	}
	for k := range members {
		if !knownMembers[k] {
			return nil, bad(k, "this member is not supported by this gateway")
		}
	}
	var r request
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, bad(typeErrorField(err), "invalid value: %v", err)
	}
	switch {
	case r.Model == "":
		return nil, bad("model", "required")
	case r.MaxTokens == nil && !counting:
		return nil, bad("max_tokens", "required")
	case r.MaxTokens != nil && *r.MaxTokens < 1:
		return nil, bad("max_tokens", "must be at least 1")
	case len(r.Messages) == 0:
		return nil, bad("messages", "at least one message is required")
	}
	if r.Thinking != nil {
		switch r.Thinking.Type {
		case "enabled":
			if r.Thinking.BudgetTokens < 1024 {
				return nil, bad("thinking.budget_tokens", "must be at least 1024")
			}
		case "disabled", "adaptive":
		default:
			return nil, bad("thinking.type", "must be enabled, disabled or adaptive")
		}
	}
	if oc := r.OutputConfig; oc != nil {
		switch oc.Effort {
		case "", "low", "medium", "high":
		default:
			return nil, bad("output_config.effort", "must be low, medium or high")
		}
		if oc.Format != nil {
			if r.OutputFormat != nil {
				return nil, bad("output_config.format", "give the format once: output_format or output_config.format")
			}
			if oc.Format.Type != "json_schema" || len(oc.Format.Schema) == 0 {
				return nil, bad("output_config.format", "only {\"type\":\"json_schema\",\"schema\":{...}} is supported")
			}
			r.OutputFormat = oc.Format
		}
	}
	if f := r.OutputFormat; f != nil && (f.Type != "json_schema" || len(f.Schema) == 0) {
		return nil, bad("output_format", "only {\"type\":\"json_schema\",\"schema\":{...}} is supported")
	}
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any", "none":
		case "tool":
			if tc.Name == "" {
				return nil, bad("tool_choice.name", "required when type is tool")
			}
		default:
			return nil, bad("tool_choice.type", "must be auto, any, tool or none")
		}
	}
	for i, t := range r.Tools {
		if t.Type != "" && t.Type != "custom" {
			return nil, bad(fmt.Sprintf("tools[%d].type", i), "server tools (%s) are not supported: only client tools with an input_schema", t.Type)
		}
		if t.Name == "" {
			return nil, bad(fmt.Sprintf("tools[%d].name", i), "required")
		}
	}
	for i, s := range r.System {
		if s.Type != "text" {
			return nil, bad(fmt.Sprintf("system[%d].type", i), "only text blocks are supported in system")
		}
	}
	for i, m := range r.Messages {
		switch m.Role {
		case "user", "assistant":
		case "system":
			// Claude Code sends system messages in the conversation.
			for j, b := range m.Content {
				if b.Type != "text" {
					return nil, bad(fmt.Sprintf("messages[%d].content[%d].type", i, j), "system messages hold only text")
				}
			}
			continue
		default:
			return nil, bad(fmt.Sprintf("messages[%d].role", i), "must be user, assistant or system, not %q", m.Role)
		}
		for j, b := range m.Content {
			if err := checkBlock(fmt.Sprintf("messages[%d].content[%d]", i, j), m.Role, b); err != nil {
				return nil, err
			}
		}
	}
	return &r, nil
}

// checkBlock refuses blocks that cannot be translated, naming them.
func checkBlock(at, role string, b block) error {
	switch b.Type {
	case "text":
	case "image":
		if b.Source == nil {
			return bad(at+".source", "required")
		}
		switch b.Source.Type {
		case "base64":
			if b.Source.MediaType == "" || b.Source.Data == "" {
				return bad(at+".source", "base64 images need media_type and data")
			}
		case "url":
			if b.Source.URL == "" {
				return bad(at+".source.url", "required")
			}
		default:
			return bad(at+".source.type", "must be base64 or url")
		}
	case "document":
		if role != "user" {
			return bad(at+".type", "document blocks belong to user messages")
		}
		if b.Source == nil {
			return bad(at+".source", "required")
		}
		switch b.Source.Type {
		case "base64":
			if b.Source.MediaType != "application/pdf" || b.Source.Data == "" {
				return bad(at+".source", "base64 documents must be application/pdf with data")
			}
		case "text":
			if b.Source.Data == "" {
				return bad(at+".source.data", "required")
			}
		case "url":
			if b.Source.URL == "" {
				return bad(at+".source.url", "required")
			}
		default:
			return bad(at+".source.type", "must be base64, text or url")
		}
	case "tool_use":
		if role != "assistant" {
			return bad(at+".type", "tool_use blocks belong to assistant messages")
		}
		if b.ID == "" || b.Name == "" {
			return bad(at, "tool_use needs id and name")
		}
	case "tool_result":
		if role != "user" {
			return bad(at+".type", "tool_result blocks belong to user messages")
		}
		if b.ToolUseID == "" {
			return bad(at+".tool_use_id", "required")
		}
		if b.Content != nil {
			for k, c := range *b.Content {
				if c.Type != "text" && c.Type != "image" {
					return bad(fmt.Sprintf("%s.content[%d].type", at, k), "tool results may hold text and image blocks")
				}
				if err := checkBlock(fmt.Sprintf("%s.content[%d]", at, k), role, c); err != nil {
					return err
				}
			}
		}
	case "thinking", "redacted_thinking":
		if role != "assistant" {
			return bad(at+".type", "thinking blocks belong to assistant messages")
		}
	default:
		return bad(at+".type", "content blocks of type %q are not supported by this gateway", b.Type)
	}
	return nil
}

// typeErrorField names the member of a JSON type error.
func typeErrorField(err error) string {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return te.Field
	}
	return ""
}

// textOf joins the text blocks of content.
func textOf(content []block) string {
	var b bytes.Buffer
	for _, c := range content {
		if c.Type == "text" {
			if b.Len() > 0 {
				b.WriteString("\n\n")
			}
			b.WriteString(c.Text)
		}
	}
	return b.String()
}
