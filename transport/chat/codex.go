package chat

import (
	"encoding/json"
	"slices"
	"strings"
)

// Responses request structures, only what the surface writes.
type rRequest struct {
	Model             string      `json:"model"`
	Instructions      string      `json:"instructions"`
	Input             []any       `json:"input"`
	Tools             []rTool     `json:"tools,omitempty"`
	ToolChoice        any         `json:"tool_choice,omitempty"`
	ParallelToolCalls *bool       `json:"parallel_tool_calls,omitempty"`
	Reasoning         *rReasoning `json:"reasoning,omitempty"`
	Text              *rText      `json:"text,omitempty"`
	PromptCacheKey    string      `json:"prompt_cache_key,omitempty"`
	Include           []string    `json:"include,omitempty"`
	Stream            bool        `json:"stream"`
	Store             bool        `json:"store"`
}

type rMessage struct {
	Type    string         `json:"type"`
	Role    string         `json:"role"`
	Content []rContentPart `json:"content"`
}

type rContentPart struct {
	Type     string `json:"type"`
	Text     string `json:"text,omitempty"`
	ImageURL string `json:"image_url,omitempty"`
	Detail   string `json:"detail,omitempty"`
}

type rFunctionCall struct {
	Type      string `json:"type"`
	CallID    string `json:"call_id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type rFunctionOutput struct {
	Type   string `json:"type"`
	CallID string `json:"call_id"`
	Output string `json:"output"`
}

type rTool struct {
	Type        string          `json:"type"`
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type rReasoning struct {
	Effort  string `json:"effort"`
	Summary string `json:"summary,omitempty"`
}

type rText struct {
	Format    *rFormat `json:"format,omitempty"`
	Verbosity string   `json:"verbosity,omitempty"`
}

type rFormat struct {
	Type        string          `json:"type"`
	Name        string          `json:"name,omitempty"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// codexDropped are the Chat members the Codex backend refuses; they are
// removed and named.
func codexDropped(r *request) []string {
	var d []string
	if r.Temperature != nil {
		d = append(d, "temperature")
	}
	if r.TopP != nil {
		d = append(d, "top_p")
	}
	if r.MaxTokens != nil {
		d = append(d, "max_tokens")
	}
	if r.MaxCompletionTokens != nil {
		d = append(d, "max_completion_tokens")
	}
	if r.stops != nil {
		d = append(d, "stop")
	}
	if r.Seed != nil {
		d = append(d, "seed")
	}
	if r.PresencePenalty != nil {
		d = append(d, "presence_penalty")
	}
	if r.FrequencyPenalty != nil {
		d = append(d, "frequency_penalty")
	}
	if r.User != "" {
		d = append(d, "user")
	}
	if r.Google != nil {
		d = append(d, "google")
	}
	if r.ExtraBody != nil {
		d = append(d, "extra_body")
	}
	return d
}

// toResponses translates a Chat request into a Responses body for the
// Codex backend (always streamed, never stored).
func toResponses(r *request) ([]byte, error) {
	out := rRequest{Model: r.Model, ParallelToolCalls: r.ParallelToolCalls, PromptCacheKey: r.PromptCacheKey, Stream: true}
	var system []string
	for i := range r.Messages {
		m := &r.Messages[i]
		switch m.Role {
		case "system", "developer":
			t, err := m.text(i)
			if err != nil {
				return nil, err
			}
			system = append(system, t)
		case "user":
			ps, err := m.parts(i)
			if err != nil {
				return nil, err
			}
			msg := rMessage{Type: "message", Role: "user"}
			for _, p := range ps {
				if p.Type == "text" {
					msg.Content = append(msg.Content, rContentPart{Type: "input_text", Text: p.Text})
					continue
				}
				msg.Content = append(msg.Content, rContentPart{Type: "input_image", ImageURL: p.ImageURL.URL, Detail: detail(p.ImageURL.Detail)})
			}
			if len(msg.Content) > 0 {
				out.Input = append(out.Input, msg)
			}
		case "assistant":
			t, err := m.text(i)
			if err != nil {
				return nil, err
			}
			if t != "" {
				out.Input = append(out.Input, rMessage{Type: "message", Role: "assistant",
					Content: []rContentPart{{Type: "output_text", Text: t}}})
			}
			for _, tc := range m.ToolCalls {
				out.Input = append(out.Input, rFunctionCall{Type: "function_call", CallID: tc.ID, Name: tc.Function.Name, Arguments: tc.Function.Arguments})
			}
		case "tool":
			t, err := m.text(i)
			if err != nil {
				return nil, err
			}
			out.Input = append(out.Input, rFunctionOutput{Type: "function_call_output", CallID: m.ToolCallID, Output: t})
		}
	}
	out.Instructions = strings.Join(system, "\n\n")
	for _, t := range r.Tools {
		rt := rTool{Type: "function", Name: t.Function.Name, Description: t.Function.Description, Strict: t.Function.Strict}
		if p := t.Function.Parameters; len(p) > 0 && string(p) != "null" {
			rt.Parameters = p
		} else {
			rt.Parameters = json.RawMessage(`{"type":"object","properties":{}}`)
		}
		out.Tools = append(out.Tools, rt)
	}
	if tc := r.ToolChoice; len(tc) > 0 && string(tc) != "null" {
		var s string
		var named struct {
			Type     string `json:"type"`
			Function struct {
				Name string `json:"name"`
			} `json:"function"`
		}
		switch {
		case json.Unmarshal(tc, &s) == nil && slices.Contains([]string{"auto", "none", "required"}, s):
			out.ToolChoice = s
		case json.Unmarshal(tc, &named) == nil && named.Type == "function" && named.Function.Name != "":
			out.ToolChoice = map[string]string{"type": "function", "name": named.Function.Name}
		default:
			return nil, badField("tool_choice", "must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":...}}")
		}
	}
	if e := r.ReasoningEffort; e != "" {
		out.Reasoning = &rReasoning{Effort: e}
		if e != "none" {
			out.Reasoning.Summary = "auto"
		}
	}
	if rf := r.ResponseFormat; rf != nil && rf.Type != "text" {
		f := rFormat{Type: rf.Type}
		if js := rf.JSONSchema; js != nil && rf.Type == "json_schema" {
			f.Name, f.Description, f.Schema, f.Strict = js.Name, js.Description, js.Schema, js.Strict
			if f.Name == "" {
				f.Name = "response"
			}
		}
		out.Text = &rText{Format: &f}
	}
	if r.Verbosity != "" {
		if out.Text == nil {
			out.Text = &rText{}
		}
		out.Text.Verbosity = r.Verbosity
	}
	if out.Input == nil {
		return nil, badField("messages", "hold no user or assistant content")
	}
	return json.Marshal(out)
}

func detail(d string) string {
	if d == "" {
		return "auto"
	}
	return d
}

// Responses reply structures, only what the surface reads.
type rResponse struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Output []struct {
		Type    string `json:"type"`
		CallID  string `json:"call_id"`
		Name    string `json:"name"`
		Args    string `json:"arguments"`
		Content []struct {
			Type    string `json:"type"`
			Text    string `json:"text"`
			Refusal string `json:"refusal"`
		} `json:"content"`
		Summary []struct {
			Text string `json:"text"`
		} `json:"summary"`
	} `json:"output"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	Usage *struct {
		InputTokens        int64 `json:"input_tokens"`
		OutputTokens       int64 `json:"output_tokens"`
		InputTokensDetails struct {
			CachedTokens int64 `json:"cached_tokens"`
		} `json:"input_tokens_details"`
		OutputTokensDetails struct {
			ReasoningTokens int64 `json:"reasoning_tokens"`
		} `json:"output_tokens_details"`
	} `json:"usage"`
}

func (r *rResponse) usage() *usage {
	u := r.Usage
	if u == nil {
		return nil
	}
	return newUsage(u.InputTokens, u.OutputTokens, u.InputTokensDetails.CachedTokens, u.OutputTokensDetails.ReasoningTokens)
}

// codexFinish maps a response's end to Chat's finish reason.
func codexFinish(status, incompleteReason string, calls bool) string {
	if status == "incomplete" {
		if incompleteReason == "content_filter" {
			return "content_filter"
		}
		return "length"
	}
	if calls {
		return "tool_calls"
	}
	return "stop"
}

// codexCompletion translates a final Responses object into a
// chat.completion.
func codexCompletion(resp []byte, id, model string, created int64) ([]byte, *usage, error) {
	var r rResponse
	if err := json.Unmarshal(resp, &r); err != nil {
		return nil, nil, err
	}
	msg := replyMessage{Role: "assistant"}
	var text, thought strings.Builder
	for _, item := range r.Output {
		switch item.Type {
		case "message":
			for _, c := range item.Content {
				switch c.Type {
				case "output_text":
					text.WriteString(c.Text)
				case "refusal":
					msg.Refusal += c.Refusal
				}
			}
		case "reasoning":
			for _, s := range item.Summary {
				thought.WriteString(s.Text)
			}
		case "function_call":
			msg.ToolCalls = append(msg.ToolCalls, replyToolCall{ID: item.CallID, Type: "function",
				Function: replyFunction{Name: item.Name, Arguments: item.Args}})
		}
	}
	if text.Len() > 0 || len(msg.ToolCalls) == 0 {
		s := text.String()
		msg.Content = &s
	}
	msg.ReasoningContent = thought.String()
	reason := ""
	if r.IncompleteDetails != nil {
		reason = r.IncompleteDetails.Reason
	}
	finish := codexFinish(r.Status, reason, len(msg.ToolCalls) > 0)
	u := r.usage()
	out, err := json.Marshal(completion{ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []choice{{Index: 0, Message: &msg, FinishReason: &finish}}, Usage: u})
	return out, u, err
}

// codexEvent is the part of a Responses stream event the surface reads.
type codexEvent struct {
	Type   string `json:"type"`
	Delta  string `json:"delta"`
	ItemID string `json:"item_id"`
	Item   *struct {
		ID        string `json:"id"`
		Type      string `json:"type"`
		CallID    string `json:"call_id"`
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"item"`
	Response json.RawMessage `json:"response"`
}

// codexStream turns Responses stream events into chunks.
type codexStream struct {
	chunks *chunker
	// calls maps a function call item's id to its tool call index and
	// whether any of its arguments went out.
	calls map[string]*streamedCall
}

type streamedCall struct {
	index int
	args  bool
}

// event appends the chunks for one Responses event to dst. terminal is a
// finished response (completed or incomplete), whose finish and usage it
// returns.
func (s *codexStream) event(data []byte, dst []byte) (_ []byte, finish string, u *usage, err error) {
	var ev codexEvent
	if err := json.Unmarshal(data, &ev); err != nil {
		return dst, "", nil, err
	}
	switch ev.Type {
	case "response.output_text.delta":
		if ev.Delta != "" {
			dst = s.chunks.content(dst, ev.Delta)
		}
	case "response.refusal.delta":
		if ev.Delta != "" {
			dst = s.chunks.delta(dst, replyMessage{Refusal: ev.Delta})
		}
	case "response.reasoning_summary_text.delta", "response.reasoning_text.delta":
		if ev.Delta != "" {
			dst = s.chunks.reasoning(dst, ev.Delta)
		}
	case "response.output_item.added":
		if ev.Item != nil && ev.Item.Type == "function_call" {
			if s.calls == nil {
				s.calls = map[string]*streamedCall{}
			}
			c := &streamedCall{index: len(s.calls), args: ev.Item.Arguments != ""}
			s.calls[ev.Item.ID] = c
			dst = s.chunks.toolCall(dst, c.index, ev.Item.CallID, ev.Item.Name, ev.Item.Arguments)
		}
	case "response.function_call_arguments.delta":
		if c, ok := s.calls[ev.ItemID]; ok && ev.Delta != "" {
			c.args = true
			dst = s.chunks.toolArgs(dst, c.index, ev.Delta)
		}
	case "response.output_item.done":
		// A call whose arguments came only whole, at its end.
		if ev.Item != nil && ev.Item.Type == "function_call" {
			if c, ok := s.calls[ev.Item.ID]; ok && !c.args && ev.Item.Arguments != "" {
				c.args = true
				dst = s.chunks.toolArgs(dst, c.index, ev.Item.Arguments)
			}
		}
	case "response.completed", "response.incomplete":
		var r rResponse
		if err := json.Unmarshal(ev.Response, &r); err != nil {
			return dst, "", nil, err
		}
		reason := ""
		if r.IncompleteDetails != nil {
			reason = r.IncompleteDetails.Reason
		}
		return dst, codexFinish(r.Status, reason, len(s.calls) > 0), r.usage(), nil
	}
	return dst, "", nil, nil
}
