package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/pollux-gateway/pollux/providers/geminicli"
)

// Gemini request structures (generateContent), only what the surface
// writes.
type gContent struct {
	Role  string  `json:"role,omitempty"`
	Parts []gPart `json:"parts"`
}

type gPart struct {
	Text             string             `json:"text,omitempty"`
	Thought          bool               `json:"thought,omitempty"`
	InlineData       *gBlob             `json:"inlineData,omitempty"`
	FunctionCall     *gFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *gFunctionResponse `json:"functionResponse,omitempty"`
	ThoughtSignature string             `json:"thoughtSignature,omitempty"`
}

type gBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type gFunctionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type gRequest struct {
	Contents          []gContent   `json:"contents"`
	SystemInstruction *gContent    `json:"systemInstruction,omitempty"`
	Tools             []gTool      `json:"tools,omitempty"`
	ToolConfig        *gToolConfig `json:"toolConfig,omitempty"`
	GenerationConfig  *gGenConfig  `json:"generationConfig,omitempty"`
}

type gTool struct {
	FunctionDeclarations []gFunctionDecl `json:"functionDeclarations"`
}

type gFunctionDecl struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type gToolConfig struct {
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	} `json:"functionCallingConfig"`
}

type gGenConfig struct {
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"topP,omitempty"`
	MaxOutputTokens  *int64          `json:"maxOutputTokens,omitempty"`
	StopSequences    []string        `json:"stopSequences,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	PresencePenalty  *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMimeType string          `json:"responseMimeType,omitempty"`
	ResponseSchema   json.RawMessage `json:"responseSchema,omitempty"`
	ThinkingConfig   *gThinking      `json:"thinkingConfig,omitempty"`
}

type gThinking struct {
	ThinkingBudget  *int64 `json:"thinkingBudget,omitempty"`
	ThinkingLevel   string `json:"thinkingLevel,omitempty"`
	IncludeThoughts bool   `json:"includeThoughts,omitempty"`
}

// thinkingLevels map reasoning_effort to Gemini 3's thinking levels; those
// models always think, so none is their lowest level.
var thinkingLevels = map[string]string{
	"none": "low", "minimal": "low", "low": "low", "medium": "high", "high": "high", "xhigh": "high",
}

// thinking is the thinkingConfig for a reasoning effort: a level for
// Gemini 3 models, a token budget for the others.
func thinking(model, effort string) *gThinking {
	if strings.HasPrefix(strings.TrimPrefix(model, "models/"), "gemini-3") {
		return &gThinking{ThinkingLevel: thinkingLevels[effort], IncludeThoughts: effort != "none"}
	}
	b := thinkingBudgets[effort]
	return &gThinking{ThinkingBudget: &b, IncludeThoughts: effort != "none"}
}

// thinkingBudgets map reasoning_effort to Gemini thinking budgets (tokens).
var thinkingBudgets = map[string]int64{
	"none": 0, "minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 32768,
}

// toGemini translates a Chat request into a Gemini generateContent body.
func toGemini(r *request) ([]byte, error) {
	var g gRequest
	names := toolNames(r.Messages)
	var system []gPart
	for i := range r.Messages {
		m := &r.Messages[i]
		var c gContent
		switch m.Role {
		case "system", "developer":
			t, err := m.text(i)
			if err != nil {
				return nil, err
			}
			system = append(system, gPart{Text: t})
			continue
		case "user":
			ps, err := m.parts(i)
			if err != nil {
				return nil, err
			}
			c.Role = "user"
			for j, p := range ps {
				if p.Type == "text" {
					c.Parts = append(c.Parts, gPart{Text: p.Text})
					continue
				}
				mime, data, ok := dataURL(p.ImageURL.URL)
				if !ok {
					return nil, badField(sprintf("messages[%d].content[%d].image_url.url", i, j),
						"the Gemini pool takes images only as data URLs (data:image/png;base64,...)")
				}
				c.Parts = append(c.Parts, gPart{InlineData: &gBlob{MimeType: mime, Data: data}})
			}
		case "assistant":
			t, err := m.text(i)
			if err != nil {
				return nil, err
			}
			c.Role = "model"
			if t != "" {
				c.Parts = append(c.Parts, gPart{Text: t})
			}
			for j, tc := range m.ToolCalls {
				args := json.RawMessage(tc.Function.Arguments)
				if len(args) == 0 {
					args = json.RawMessage("{}")
				}
				if !json.Valid(args) {
					return nil, badField(sprintf("messages[%d].tool_calls[%d].function.arguments", i, j), "must be JSON")
				}
				c.Parts = append(c.Parts, gPart{FunctionCall: &gFunctionCall{ID: tc.ID, Name: tc.Function.Name, Args: args}})
			}
		case "tool":
			t, err := m.text(i)
			if err != nil {
				return nil, err
			}
			name := names[m.ToolCallID]
			if name == "" {
				return nil, badField(sprintf("messages[%d].tool_call_id", i), "%q answers no tool call of an earlier assistant message", m.ToolCallID)
			}
			c.Role = "user"
			out := toolResponse(t)
			c.Parts = []gPart{{FunctionResponse: &gFunctionResponse{ID: m.ToolCallID, Name: name, Response: out}}}
		}
		if len(c.Parts) == 0 {
			continue
		}
		// Gemini wants turns to alternate; consecutive turns of one role
		// (parallel tool results above all) become one.
		if n := len(g.Contents); n > 0 && g.Contents[n-1].Role == c.Role {
			g.Contents[n-1].Parts = append(g.Contents[n-1].Parts, c.Parts...)
			continue
		}
		g.Contents = append(g.Contents, c)
	}
	if len(g.Contents) == 0 {
		return nil, badField("messages", "hold no user or assistant content")
	}
	if len(system) > 0 {
		g.SystemInstruction = &gContent{Role: "user", Parts: system}
	}
	if len(r.Tools) > 0 {
		decls := make([]gFunctionDecl, 0, len(r.Tools))
		for i, t := range r.Tools {
			d := gFunctionDecl{Name: t.Function.Name, Description: t.Function.Description}
			if p := t.Function.Parameters; len(p) > 0 && string(p) != "null" {
				clean, err := geminicli.CleanToolSchema(p)
				if err != nil {
					return nil, badField(sprintf("tools[%d].function.parameters", i), "%v", err)
				}
				d.Parameters = clean
			}
			decls = append(decls, d)
		}
		g.Tools = []gTool{{FunctionDeclarations: decls}}
	}
	if tc, err := geminiToolChoice(r.ToolChoice); err != nil {
		return nil, err
	} else if tc != nil {
		g.ToolConfig = tc
	}
	gc := gGenConfig{
		Temperature: r.Temperature, TopP: r.TopP, MaxOutputTokens: r.maxTokens(), StopSequences: r.stops,
		Seed: r.Seed, PresencePenalty: r.PresencePenalty, FrequencyPenalty: r.FrequencyPenalty,
	}
	if rf := r.ResponseFormat; rf != nil && rf.Type != "text" {
		gc.ResponseMimeType = "application/json"
		if rf.Type == "json_schema" {
			clean, err := geminicli.CleanToolSchema(rf.JSONSchema.Schema)
			if err != nil {
				return nil, badField("response_format.json_schema.schema", "%v", err)
			}
			gc.ResponseSchema = clean
		}
	}
	if e := r.ReasoningEffort; e != "" {
		gc.ThinkingConfig = thinking(r.Model, e)
	}
	if g := r.google(); g != nil && g.ThinkingConfig != nil {
		// Google's own thinking options win over reasoning_effort.
		tc := g.ThinkingConfig
		gc.ThinkingConfig = &gThinking{ThinkingBudget: tc.ThinkingBudget, ThinkingLevel: tc.ThinkingLevel, IncludeThoughts: tc.IncludeThoughts}
	}
	if gc.Temperature != nil || gc.TopP != nil || gc.MaxOutputTokens != nil || gc.StopSequences != nil ||
		gc.Seed != nil || gc.PresencePenalty != nil || gc.FrequencyPenalty != nil ||
		gc.ResponseMimeType != "" || gc.ThinkingConfig != nil {
		g.GenerationConfig = &gc
	}
	return json.Marshal(g)
}

// geminiToolChoice maps tool_choice to Gemini's function calling config.
func geminiToolChoice(raw json.RawMessage) (*gToolConfig, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var tc gToolConfig
	var s string
	if json.Unmarshal(raw, &s) == nil {
		switch s {
		case "auto":
			tc.FunctionCallingConfig.Mode = "AUTO"
		case "none":
			tc.FunctionCallingConfig.Mode = "NONE"
		case "required":
			tc.FunctionCallingConfig.Mode = "ANY"
		default:
			return nil, badField("tool_choice", "must be auto, none, required or a function")
		}
		return &tc, nil
	}
	var named struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if json.Unmarshal(raw, &named) != nil || named.Type != "function" || named.Function.Name == "" {
		return nil, badField("tool_choice", "must be auto, none, required or {\"type\":\"function\",\"function\":{\"name\":...}}")
	}
	tc.FunctionCallingConfig.Mode = "ANY"
	tc.FunctionCallingConfig.AllowedFunctionNames = []string{named.Function.Name}
	return &tc, nil
}

// Gemini reply structures, only what the surface reads.
type gResponse struct {
	ResponseID string `json:"responseId"`
	Candidates []struct {
		Content struct {
			Parts []struct {
				Text         string         `json:"text"`
				Thought      bool           `json:"thought"`
				FunctionCall *gFunctionCall `json:"functionCall"`
			} `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount        int64 `json:"promptTokenCount"`
		CandidatesTokenCount    int64 `json:"candidatesTokenCount"`
		ThoughtsTokenCount      int64 `json:"thoughtsTokenCount"`
		CachedContentTokenCount int64 `json:"cachedContentTokenCount"`
	} `json:"usageMetadata"`
	PromptFeedback *struct {
		BlockReason string `json:"blockReason"`
	} `json:"promptFeedback"`
}

func (g *gResponse) usage() *usage {
	u := g.UsageMetadata
	if u == nil {
		return nil
	}
	return newUsage(u.PromptTokenCount, u.CandidatesTokenCount+u.ThoughtsTokenCount, u.CachedContentTokenCount, u.ThoughtsTokenCount)
}

// geminiFinish maps a Gemini finish reason to Chat's.
func geminiFinish(reason string, calls bool) string {
	switch reason {
	case "":
		return ""
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE":
		return "content_filter"
	}
	if calls {
		return "tool_calls"
	}
	return "stop"
}

// callID is a function call's id: Gemini's, or one made from the
// completion's id and the call's position, unique across the turns of a
// conversation.
func callID(id, completionID string, n int) string {
	if id != "" {
		return id
	}
	return "call_" + strings.TrimPrefix(completionID, "chatcmpl-") + "_" + strconv.Itoa(n)
}

// geminiCompletion translates a whole Gemini reply into a chat.completion.
func geminiCompletion(inner []byte, id, model string, created int64) ([]byte, *usage, error) {
	var g gResponse
	if err := json.Unmarshal(inner, &g); err != nil {
		return nil, nil, err
	}
	msg := replyMessage{Role: "assistant"}
	finish := "stop"
	if len(g.Candidates) > 0 {
		c := g.Candidates[0]
		var text, thought []byte
		for _, p := range c.Content.Parts {
			switch {
			case p.FunctionCall != nil:
				args := string(p.FunctionCall.Args)
				if args == "" {
					args = "{}"
				}
				msg.ToolCalls = append(msg.ToolCalls, replyToolCall{ID: callID(p.FunctionCall.ID, id, len(msg.ToolCalls)),
					Type: "function", Function: replyFunction{Name: p.FunctionCall.Name, Arguments: args}})
			case p.Thought:
				thought = append(thought, p.Text...)
			default:
				text = append(text, p.Text...)
			}
		}
		if len(text) > 0 || len(msg.ToolCalls) == 0 {
			s := string(text)
			msg.Content = &s
		}
		msg.ReasoningContent = string(thought)
		finish = geminiFinish(c.FinishReason, len(msg.ToolCalls) > 0)
		if finish == "" {
			finish = "stop"
		}
	} else if g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
		finish = "content_filter"
		empty := ""
		msg.Content = &empty
	}
	u := g.usage()
	out, err := json.Marshal(completion{ID: id, Object: "chat.completion", Created: created, Model: model,
		Choices: []choice{{Index: 0, Message: &msg, FinishReason: &finish}}, Usage: u})
	return out, u, err
}

// geminiStream turns Gemini stream responses into chunks.
type geminiStream struct {
	chunks *chunker
	calls  int
	finish string
	usage  *usage
}

// event appends the chunks for one Gemini response to dst.
func (s *geminiStream) event(inner []byte, dst []byte) ([]byte, error) {
	var g gResponse
	if err := json.Unmarshal(inner, &g); err != nil {
		return dst, err
	}
	if u := g.usage(); u != nil {
		s.usage = u
	}
	if len(g.Candidates) == 0 {
		if g.PromptFeedback != nil && g.PromptFeedback.BlockReason != "" {
			s.finish = "content_filter"
		}
		return dst, nil
	}
	c := g.Candidates[0]
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			args := string(p.FunctionCall.Args)
			if args == "" {
				args = "{}"
			}
			dst = s.chunks.toolCall(dst, s.calls, callID(p.FunctionCall.ID, s.chunks.id, s.calls), p.FunctionCall.Name, args)
			s.calls++
		case p.Text == "":
		case p.Thought:
			dst = s.chunks.reasoning(dst, p.Text)
		default:
			dst = s.chunks.content(dst, p.Text)
		}
	}
	if c.FinishReason != "" {
		s.finish = geminiFinish(c.FinishReason, s.calls > 0)
	}
	return dst, nil
}

// toolResponse is a tool message's content as a functionResponse's
// response, which Gemini wants to be an object: content that is a JSON
// object goes as that object (a tool that answers JSON keeps its
// structure), anything else as {"output": content}.
func toolResponse(content string) json.RawMessage {
	if trimmed := bytes.TrimSpace([]byte(content)); len(trimmed) > 0 && trimmed[0] == '{' && json.Valid(trimmed) {
		return trimmed
	}
	out, _ := json.Marshal(map[string]string{"output": content})
	return out
}
