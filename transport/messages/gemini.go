package messages

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/pollux-gateway/pollux/providers/geminicli"
)

// Gemini request wire (generateContent), only what Pollux writes.
type gRequest struct {
	Contents          []gContent   `json:"contents"`
	SystemInstruction *gContent    `json:"systemInstruction,omitempty"`
	Tools             []gTool      `json:"tools,omitempty"`
	ToolConfig        *gToolConfig `json:"toolConfig,omitempty"`
	GenerationConfig  *gGenConfig  `json:"generationConfig,omitempty"`
}

type gContent struct {
	Role  string  `json:"role,omitempty"`
	Parts []gPart `json:"parts"`
}

type gPart struct {
	Text             string             `json:"text,omitempty"`
	Thought          bool               `json:"thought,omitempty"`
	ThoughtSignature string             `json:"thoughtSignature,omitempty"`
	InlineData       *gBlob             `json:"inlineData,omitempty"`
	FileData         *gFile             `json:"fileData,omitempty"`
	FunctionCall     *gFunctionCall     `json:"functionCall,omitempty"`
	FunctionResponse *gFunctionResponse `json:"functionResponse,omitempty"`
}

type gBlob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type gFile struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type gFunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type gFunctionResponse struct {
	ID       string         `json:"id,omitempty"`
	Name     string         `json:"name"`
	Response map[string]any `json:"response"`
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
	FunctionCallingConfig gFCConfig `json:"functionCallingConfig"`
}

type gFCConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type gGenConfig struct {
	MaxOutputTokens    *int64          `json:"maxOutputTokens,omitempty"`
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int64          `json:"topK,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	ThinkingConfig     *gThinking      `json:"thinkingConfig,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
}

type gThinking struct {
	IncludeThoughts bool   `json:"includeThoughts"`
	ThinkingBudget  *int64 `json:"thinkingBudget,omitempty"`
}

// toGemini translates a Messages request into a generateContent body. The
// metadata member has no place in Gemini and is named in dropped.
func toGemini(r *request) (body []byte, dropped []string, err error) {
	g := gRequest{Contents: make([]gContent, 0, len(r.Messages))}
	// System messages inside the conversation join the system
	// instruction: Gemini has only the one.
	system := []block(r.System)
	for _, m := range r.Messages {
		if m.Role == "system" {
			system = append(system, m.Content...)
		}
	}
	if sys := textOf(system); sys != "" {
		g.SystemInstruction = &gContent{Parts: []gPart{{Text: sys}}}
	}
	// names maps tool_use ids to their function names: a Gemini
	// functionResponse names its function.
	names := map[string]string{}
	for i, m := range r.Messages {
		if m.Role == "system" {
			continue
		}
		c := gContent{Role: "user", Parts: make([]gPart, 0, len(m.Content))}
		if m.Role == "assistant" {
			c.Role = "model"
		}
		for j, b := range m.Content {
			at := fmt.Sprintf("messages[%d].content[%d]", i, j)
			switch b.Type {
			case "text":
				if b.Text != "" {
					c.Parts = append(c.Parts, gPart{Text: b.Text})
				}
			case "image":
				c.Parts = append(c.Parts, geminiImage(b.Source))
			case "document":
				c.Parts = append(c.Parts, geminiDocument(b.Source))
			case "thinking":
				// A signed thought goes back where Gemini put it; an
				// unsigned one (another model's, or a Codex summary) means
				// nothing to Gemini and stays behind.
				if b.Signature != "" {
					c.Parts = append(c.Parts, gPart{Text: b.Thinking, Thought: true, ThoughtSignature: b.Signature})
				}
			case "redacted_thinking":
				// Anthropic's encrypted thinking means nothing to Gemini.
			case "tool_use":
				names[b.ID] = b.Name
				args := b.Input
				if len(args) == 0 || string(args) == "null" {
					args = json.RawMessage(`{}`)
				}
				c.Parts = append(c.Parts, gPart{FunctionCall: &gFunctionCall{ID: b.ID, Name: b.Name, Args: args}})
			case "tool_result":
				name, ok := names[b.ToolUseID]
				if !ok {
					return nil, nil, bad(at+".tool_use_id", "no earlier tool_use block has the id %q", b.ToolUseID)
				}
				resp, images := toolResultContent(b)
				c.Parts = append(c.Parts, gPart{FunctionResponse: &gFunctionResponse{ID: b.ToolUseID, Name: name, Response: resp}})
				c.Parts = append(c.Parts, images...)
			}
		}
		if len(c.Parts) == 0 {
			continue
		}
		// Gemini wants turns to alternate; Anthropic allows consecutive
		// messages of one role, which merge.
		if n := len(g.Contents); n > 0 && g.Contents[n-1].Role == c.Role {
			g.Contents[n-1].Parts = append(g.Contents[n-1].Parts, c.Parts...)
			continue
		}
		g.Contents = append(g.Contents, c)
	}
	if len(r.Tools) > 0 {
		decls := make([]gFunctionDecl, 0, len(r.Tools))
		for i, t := range r.Tools {
			params, err := geminicli.CleanToolSchema(t.InputSchema)
			if err != nil {
				return nil, nil, bad(fmt.Sprintf("tools[%d].input_schema", i), "%v", err)
			}
			decls = append(decls, gFunctionDecl{Name: t.Name, Description: t.Description, Parameters: params})
		}
		g.Tools = []gTool{{FunctionDeclarations: decls}}
	}
	if tc := r.ToolChoice; tc != nil {
		cfg := gFCConfig{Mode: "AUTO"}
		switch tc.Type {
		case "any":
			cfg.Mode = "ANY"
		case "none":
			cfg.Mode = "NONE"
		case "tool":
			cfg.Mode, cfg.AllowedFunctionNames = "ANY", []string{tc.Name}
		}
		g.ToolConfig = &gToolConfig{FunctionCallingConfig: cfg}
		// Gemini has no switch for parallel calls: a client that forbids
		// them is told in the dropped header.
		if tc.DisableParallelToolUse {
			dropped = append(dropped, "tool_choice.disable_parallel_tool_use")
		}
	}
	gc := &gGenConfig{MaxOutputTokens: r.MaxTokens, Temperature: r.Temperature, TopP: r.TopP, TopK: r.TopK, StopSequences: r.StopSequences}
	if t := r.Thinking; t != nil {
		switch t.Type {
		case "enabled":
			budget := t.BudgetTokens
			gc.ThinkingConfig = &gThinking{IncludeThoughts: true, ThinkingBudget: &budget}
		case "adaptive":
			dynamic := int64(-1)
			gc.ThinkingConfig = &gThinking{IncludeThoughts: true, ThinkingBudget: &dynamic}
		}
	}
	if f := r.OutputFormat; f != nil {
		gc.ResponseMimeType, gc.ResponseJSONSchema = "application/json", f.Schema
	}
	g.GenerationConfig = gc
	if oc := r.OutputConfig; oc != nil && oc.Effort != "" && gc.ThinkingConfig == nil {
		// An effort without a thinking budget: Gemini's own budget for it.
		budget := geminiBudgetFor(oc.Effort)
		gc.ThinkingConfig = &gThinking{ThinkingBudget: &budget}
	}
	if len(r.ContextManagement) > 0 {
		dropped = append(dropped, "context_management")
	}
	if len(r.Metadata) > 0 {
		dropped = append(dropped, "metadata")
	}
	if r.ServiceTier != "" {
		dropped = append(dropped, "service_tier")
	}
	body, err = json.Marshal(g)
	return body, dropped, err
}

// geminiBudgetFor maps an output effort to a Gemini thinking budget.
func geminiBudgetFor(effort string) int64 {
	switch effort {
	case "low":
		return 1024
	case "medium":
		return 8192
	}
	return 24576
}

// geminiImage is an image block as a Gemini part: inline data, or a file
// reference for a URL.
func geminiImage(src *imageSource) gPart {
	if src.Type == "url" {
		return gPart{FileData: &gFile{FileURI: src.URL, MimeType: mimeFromURL(src.URL)}}
	}
	return gPart{InlineData: &gBlob{MimeType: src.MediaType, Data: src.Data}}
}

// geminiDocument is a document block as a Gemini part: a PDF inline or by
// URL, a text document as text.
func geminiDocument(src *imageSource) gPart {
	switch src.Type {
	case "text":
		return gPart{Text: src.Data}
	case "url":
		return gPart{FileData: &gFile{FileURI: src.URL, MimeType: "application/pdf"}}
	}
	return gPart{InlineData: &gBlob{MimeType: src.MediaType, Data: src.Data}}
}

func mimeFromURL(u string) string {
	u = strings.ToLower(u)
	switch {
	case strings.HasSuffix(u, ".png"):
		return "image/png"
	case strings.HasSuffix(u, ".gif"):
		return "image/gif"
	case strings.HasSuffix(u, ".webp"):
		return "image/webp"
	}
	return "image/jpeg"
}

// toolResultContent is a tool_result's content as a functionResponse's
// response object ({"content": text} or {"error": text}) and its images as
// separate parts.
func toolResultContent(b block) (map[string]any, []gPart) {
	var text string
	var images []gPart
	if b.Content != nil {
		text = textOf(*b.Content)
		for _, c := range *b.Content {
			if c.Type == "image" {
				images = append(images, geminiImage(c.Source))
			}
		}
	}
	if b.IsError {
		return map[string]any{"error": text}, images
	}
	return map[string]any{"content": text}, images
}

// Gemini response wire, only what Pollux reads.
type gResponse struct {
	ResponseID string `json:"responseId"`
	Candidates []struct {
		Content struct {
			Parts []gPart `json:"parts"`
		} `json:"content"`
		FinishReason string `json:"finishReason"`
	} `json:"candidates"`
	UsageMetadata *struct {
		PromptTokenCount     int64 `json:"promptTokenCount"`
		CandidatesTokenCount int64 `json:"candidatesTokenCount"`
		ThoughtsTokenCount   int64 `json:"thoughtsTokenCount"`
		CachedContentTokens  int64 `json:"cachedContentTokenCount"`
	} `json:"usageMetadata"`
}

// geminiTranslator turns Gemini response chunks (or one whole response)
// into Anthropic events.
type geminiTranslator struct {
	b     builder
	usage usage
	// newID makes a tool_use id for a functionCall without one; ids are
	// made once, so they stay stable across the stream.
	newID func() string
}

// chunk translates one Gemini response (the inner object). It returns
// true once a finish reason ended the message.
func (t *geminiTranslator) chunk(data []byte) (bool, error) {
	var r gResponse
	if err := json.Unmarshal(data, &r); err != nil {
		return false, fmt.Errorf("messages: gemini chunk: %w", err)
	}
	if u := r.UsageMetadata; u != nil {
		t.usage = usage{
			InputTokens:          u.PromptTokenCount - u.CachedContentTokens,
			CacheReadInputTokens: u.CachedContentTokens,
			OutputTokens:         u.CandidatesTokenCount + u.ThoughtsTokenCount,
			reasoning:            u.ThoughtsTokenCount,
		}
	}
	id := ""
	if r.ResponseID != "" {
		id = "msg_" + r.ResponseID
	}
	// message_start tells the prompt's tokens when the first chunk has them.
	t.b.start(id, usage{InputTokens: t.usage.InputTokens, CacheReadInputTokens: t.usage.CacheReadInputTokens})
	if len(r.Candidates) == 0 {
		return false, nil
	}
	c := r.Candidates[0]
	for _, p := range c.Content.Parts {
		switch {
		case p.FunctionCall != nil:
			callID := p.FunctionCall.ID
			if callID == "" {
				callID = t.newID()
			}
			args := p.FunctionCall.Args
			if len(args) == 0 || string(args) == "null" {
				args = json.RawMessage(`{}`)
			}
			t.b.toolStart(callID, p.FunctionCall.Name)
			t.b.toolArgs(string(args))
		case p.Thought:
			t.b.thinking(p.Text)
			t.b.signature(p.ThoughtSignature)
		case p.Text != "":
			t.b.text(p.Text)
		}
	}
	if c.FinishReason == "" {
		return false, nil
	}
	t.b.finish(geminiStopReason(c.FinishReason), t.usage)
	return true, nil
}

// geminiStopReason maps a Gemini finishReason to Anthropic's stop_reason.
func geminiStopReason(fr string) string {
	switch fr {
	case "MAX_TOKENS":
		return stopMaxTokens
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY":
		return stopRefusal
	}
	return stopEndTurn
}
