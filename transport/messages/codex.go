package messages

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/pollux-gateway/pollux/providers/codex"
	"github.com/pollux-gateway/pollux/providers/sse"
)

// Responses request wire, only what Pollux writes.
type rRequest struct {
	Model             string      `json:"model"`
	Instructions      string      `json:"instructions"`
	Input             []rItem     `json:"input"`
	Tools             []rTool     `json:"tools,omitempty"`
	ToolChoice        any         `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool       `json:"parallel_tool_calls,omitempty"`
	Reasoning         *rReasoning `json:"reasoning,omitempty"`
	Include           []string    `json:"include,omitempty"`
	Text              *rText      `json:"text,omitempty"`
	Stream            bool        `json:"stream"`
	Store             bool        `json:"store"`
	ServiceTier       string      `json:"service_tier,omitempty"`
	PromptCacheKey    string      `json:"prompt_cache_key,omitempty"`
}

type rItem struct {
	Type    string     `json:"type"`
	Role    string     `json:"role,omitempty"`
	Content []rContent `json:"content,omitempty"`
	// function_call
	CallID    string `json:"call_id,omitempty"`
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments,omitempty"`
	// function_call_output
	Output *string `json:"output,omitempty"`
}

type rContent struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	// input_file
	Filename string `json:"filename,omitempty"`
	FileData string `json:"file_data,omitempty"`
	FileURL  string `json:"file_url,omitempty"`
}

type rTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters"`
	Strict      bool            `json:"strict"`
}

type rReasoning struct {
	Effort  string `json:"effort"`
	Summary string `json:"summary,omitempty"`
}

type rText struct {
	Format rFormat `json:"format"`
}

type rFormat struct {
	Type   string          `json:"type"`
	Name   string          `json:"name"`
	Schema json.RawMessage `json:"schema"`
	Strict bool            `json:"strict"`
}

// effortFor maps an Anthropic thinking budget to a Responses reasoning
// effort: below 4096 tokens low, below 16384 medium, else high.
func effortFor(budget int64) string {
	switch {
	case budget < 4096:
		return "low"
	case budget < 16384:
		return "medium"
	}
	return "high"
}

// toResponses translates a Messages request into a Codex Responses body.
// The Codex backend refuses max_output_tokens, temperature and top_p and
// has no top_k or stop sequences: those members are named in dropped.
// Thinking blocks of earlier turns are not sent: Codex keeps its reasoning
// encrypted and Anthropic's signatures mean nothing to it.
func toResponses(r *request) (body []byte, dropped []string, err error) {
	q := rRequest{Model: r.Model, Instructions: textOf(r.System), Input: make([]rItem, 0, len(r.Messages)), Stream: true}
	for i, m := range r.Messages {
		var msg *rItem
		flush := func() {
			if msg != nil && len(msg.Content) > 0 {
				q.Input = append(q.Input, *msg)
			}
			msg = nil
		}
		for j, b := range m.Content {
			switch b.Type {
			case "text", "image", "document":
				if msg == nil {
					// A system message keeps its place as a developer
					// message (the backend moves "system" ones into
					// instructions).
					role := m.Role
					if role == "system" {
						role = "developer"
					}
					msg = &rItem{Type: "message", Role: role}
				}
				msg.Content = append(msg.Content, responsesContent(m.Role, b))
			case "tool_use":
				flush()
				args := string(b.Input)
				if args == "" || args == "null" {
					args = "{}"
				}
				q.Input = append(q.Input, rItem{Type: "function_call", CallID: b.ID, Name: b.Name, Arguments: args})
			case "tool_result":
				flush()
				var out string
				if b.Content != nil {
					out = textOf(*b.Content)
					for k, c := range *b.Content {
						if c.Type == "image" {
							return nil, nil, bad(fmt.Sprintf("messages[%d].content[%d].content[%d]", i, j, k), "images in tool results are not supported on the Codex pool")
						}
					}
				}
				if b.IsError && out == "" {
					out = "error"
				}
				q.Input = append(q.Input, rItem{Type: "function_call_output", CallID: b.ToolUseID, Output: &out})
			}
		}
		flush()
	}
	for _, t := range r.Tools {
		params := t.InputSchema
		if len(params) == 0 {
			params = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		q.Tools = append(q.Tools, rTool{Type: "function", Name: t.Name, Description: t.Description, Parameters: params})
	}
	if tc := r.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
			q.ToolChoice = "auto"
		case "any":
			q.ToolChoice = "required"
		case "none":
			q.ToolChoice = "none"
		case "tool":
			q.ToolChoice = map[string]string{"type": "function", "name": tc.Name}
		}
		if tc.DisableParallelToolUse {
			f := false
			q.ParallelToolCalls = &f
		}
	}
	if t := r.Thinking; t != nil {
		switch t.Type {
		case "enabled":
			q.Reasoning = &rReasoning{Effort: effortFor(t.BudgetTokens), Summary: "auto"}
		case "adaptive":
			q.Reasoning = &rReasoning{Effort: "medium", Summary: "auto"}
		}
	}
	if oc := r.OutputConfig; oc != nil && oc.Effort != "" {
		// The effort a client states wins over one derived from a budget.
		if q.Reasoning == nil {
			q.Reasoning = &rReasoning{Summary: "auto"}
		}
		q.Reasoning.Effort = oc.Effort
	}
	if f := r.OutputFormat; f != nil {
		q.Text = &rText{Format: rFormat{Type: "json_schema", Name: "output", Schema: f.Schema, Strict: true}}
	}
	if id := metadataUserID(r.Metadata); id != "" {
		// One conversation, one cache key: the backend's prompt cache
		// follows it. Hashed, so the client's user id stays here.
		sum := sha256.Sum256([]byte(id))
		q.PromptCacheKey = "pollux-" + hex.EncodeToString(sum[:16])
	}
	if r.ServiceTier == "priority" {
		q.ServiceTier = "priority"
	}
	dropped = append(dropped, "max_tokens")
	for _, d := range []struct {
		name string
		set  bool
	}{
		{"context_management", len(r.ContextManagement) > 0},
		{"metadata", len(r.Metadata) > 0},
		{"service_tier", r.ServiceTier != "" && r.ServiceTier != "priority"},
		{"stop_sequences", len(r.StopSequences) > 0},
		{"temperature", r.Temperature != nil},
		{"top_k", r.TopK != nil},
		{"top_p", r.TopP != nil},
	} {
		if d.set {
			dropped = append(dropped, d.name)
		}
	}
	body, err = json.Marshal(q)
	return body, dropped, err
}

func responsesContent(role string, b block) rContent {
	if b.Type == "document" {
		switch b.Source.Type {
		case "text":
			return rContent{Type: "input_text", Text: b.Source.Data}
		case "url":
			return rContent{Type: "input_file", FileURL: b.Source.URL}
		}
		return rContent{Type: "input_file", Filename: "document.pdf", FileData: "data:application/pdf;base64," + b.Source.Data}
	}
	if b.Type == "image" {
		url := b.Source.URL
		if b.Source.Type == "base64" {
			url = "data:" + b.Source.MediaType + ";base64," + b.Source.Data
		}
		return rContent{Type: "input_image", ImageURL: url}
	}
	if role == "assistant" {
		return rContent{Type: "output_text", Text: b.Text}
	}
	// user, system (sent as developer)
	return rContent{Type: "input_text", Text: b.Text}
}

// responsesEvent is what Pollux reads of a Responses stream event.
type responsesEvent struct {
	Type  string `json:"type"`
	Delta string `json:"delta"`
	Item  *struct {
		Type   string `json:"type"`
		CallID string `json:"call_id"`
		Name   string `json:"name"`
	} `json:"item"`
	Response *struct {
		ID                string `json:"id"`
		Status            string `json:"status"`
		IncompleteDetails *struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
	} `json:"response"`
}

// codexTranslator turns a Codex Responses stream into Anthropic events.
type codexTranslator struct {
	b builder
}

// event translates one upstream event; info is its inspection. It returns
// true at the terminal event.
func (t *codexTranslator) event(ev sse.Event, info codex.EventInfo) (bool, error) {
	var e responsesEvent
	if err := json.Unmarshal(ev.Data, &e); err != nil {
		return false, fmt.Errorf("messages: codex event: %w", err)
	}
	typ := info.Type
	switch typ {
	case "response.created":
		id := ""
		if e.Response != nil && e.Response.ID != "" {
			id = "msg_" + e.Response.ID
		}
		t.b.start(id, usage{})
	case "response.output_item.added":
		if e.Item != nil {
			switch e.Item.Type {
			case "function_call":
				t.b.toolStart(e.Item.CallID, e.Item.Name)
			case "reasoning":
				t.b.thinking("")
			}
		}
	case "response.output_text.delta", "response.refusal.delta":
		t.b.text(e.Delta)
	case "response.function_call_arguments.delta":
		t.b.toolArgs(e.Delta)
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		t.b.thinking(e.Delta)
	case "response.output_item.done":
		t.b.closeBlock()
	}
	if !info.Terminal {
		return false, nil
	}
	if info.Failure != nil {
		return true, nil
	}
	var u usage
	if cu := info.Usage; cu != nil {
		u = usage{InputTokens: cu.InputTokens - cu.CachedTokens, CacheReadInputTokens: cu.CachedTokens,
			OutputTokens: cu.OutputTokens, reasoning: cu.ReasoningTokens}
	}
	stop := stopEndTurn
	if e.Response != nil && e.Response.Status == "incomplete" {
		stop = stopMaxTokens
		if d := e.Response.IncompleteDetails; d != nil && d.Reason == "content_filter" {
			stop = stopRefusal
		}
	}
	t.b.finish(stop, u)
	return true, nil
}
