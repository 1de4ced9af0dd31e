package chat

import (
	"encoding/json"
	"strconv"

	"github.com/pollux-gateway/pollux/providers/jsonscan"
	"github.com/pollux-gateway/pollux/providers/sse"
)

// completion is a chat.completion or a chat.completion.chunk.
type completion struct {
	ID      string    `json:"id"`
	Object  string    `json:"object"`
	Created int64     `json:"created"`
	Model   string    `json:"model"`
	Choices []choice  `json:"choices"`
	Usage   *usage    `json:"usage,omitempty"`
	Error   *apiError `json:"error,omitempty"`
}

type choice struct {
	Index        int           `json:"index"`
	Message      *replyMessage `json:"message,omitempty"`
	Delta        *replyMessage `json:"delta,omitempty"`
	FinishReason *string       `json:"finish_reason"`
}

type replyMessage struct {
	Role             string          `json:"role,omitempty"`
	Content          *string         `json:"content,omitempty"`
	Refusal          string          `json:"refusal,omitempty"`
	ReasoningContent string          `json:"reasoning_content,omitempty"`
	ToolCalls        []replyToolCall `json:"tool_calls,omitempty"`
}

type replyToolCall struct {
	Index    *int          `json:"index,omitempty"`
	ID       string        `json:"id,omitempty"`
	Type     string        `json:"type,omitempty"`
	Function replyFunction `json:"function"`
}

type replyFunction struct {
	Name      string `json:"name,omitempty"`
	Arguments string `json:"arguments"`
}

type usage struct {
	PromptTokens        int64 `json:"prompt_tokens"`
	CompletionTokens    int64 `json:"completion_tokens"`
	TotalTokens         int64 `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int64 `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int64 `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

func newUsage(prompt, completion, cached, reasoning int64) *usage {
	u := &usage{PromptTokens: prompt, CompletionTokens: completion, TotalTokens: prompt + completion}
	u.PromptTokensDetails.CachedTokens = cached
	u.CompletionTokensDetails.ReasoningTokens = reasoning
	return u
}

// chunker writes the chunks of one streamed completion; the first delta
// carries the role.
type chunker struct {
	id, model string
	created   int64
	started   bool
	// prefix is the start of every text chunk, up to the delta's members
	// (text deltas, the most common chunks, are appended by hand).
	prefix []byte
}

// textDelta appends a chunk whose delta is one text member (content or
// reasoning_content), byte for byte what append would write for it.
func (c *chunker) textDelta(dst []byte, member, text string) []byte {
	if c.prefix == nil {
		c.prefix = append(c.prefix, `data: {"id":`...)
		c.prefix = appendJSON(c.prefix, c.id)
		c.prefix = append(c.prefix, `,"object":"chat.completion.chunk","created":`...)
		c.prefix = strconv.AppendInt(c.prefix, c.created, 10)
		c.prefix = append(c.prefix, `,"model":`...)
		c.prefix = appendJSON(c.prefix, c.model)
		c.prefix = append(c.prefix, `,"choices":[{"index":0,"delta":{`...)
	}
	dst = append(dst, c.prefix...)
	if !c.started {
		c.started = true
		dst = append(dst, `"role":"assistant",`...)
	}
	dst = append(dst, member...)
	dst = appendJSON(dst, text)
	return append(dst, "},\"finish_reason\":null}]}\n\n"...)
}

// appendJSON appends s as a JSON string, escaped as encoding/json does.
func appendJSON(dst []byte, s string) []byte {
	return jsonscan.AppendString(dst, s, true)
}

func (c *chunker) append(dst []byte, ch completion) []byte {
	ch.ID, ch.Object, ch.Created, ch.Model = c.id, "chat.completion.chunk", c.created, c.model
	b, err := json.Marshal(ch)
	if err != nil {
		// Only strings and integers are encoded; this cannot happen.
		panic("chat: encode chunk: " + err.Error())
	}
	return sse.AppendEvent(dst, "", b)
}

func (c *chunker) delta(dst []byte, d replyMessage) []byte {
	if !c.started {
		c.started = true
		d.Role = "assistant"
	}
	return c.append(dst, completion{Choices: []choice{{Delta: &d}}})
}

func (c *chunker) content(dst []byte, text string) []byte {
	return c.textDelta(dst, `"content":`, text)
}

func (c *chunker) reasoning(dst []byte, text string) []byte {
	if text == "" {
		return c.delta(dst, replyMessage{})
	}
	return c.textDelta(dst, `"reasoning_content":`, text)
}

// toolCall starts call index (id, name) with its first arguments.
func (c *chunker) toolCall(dst []byte, index int, id, name, args string) []byte {
	return c.delta(dst, replyMessage{ToolCalls: []replyToolCall{{Index: &index, ID: id, Type: "function",
		Function: replyFunction{Name: name, Arguments: args}}}})
}

// toolArgs continues call index's arguments.
func (c *chunker) toolArgs(dst []byte, index int, args string) []byte {
	return c.delta(dst, replyMessage{ToolCalls: []replyToolCall{{Index: &index, Function: replyFunction{Arguments: args}}}})
}

// end appends the finish chunk, the usage chunk when asked for, and [DONE].
func (c *chunker) end(dst []byte, finish string, u *usage, includeUsage bool) []byte {
	if !c.started {
		dst = c.content(dst, "")
	}
	dst = c.append(dst, completion{Choices: []choice{{Delta: &replyMessage{}, FinishReason: &finish}}})
	if includeUsage {
		if u == nil {
			u = newUsage(0, 0, 0, 0)
		}
		dst = c.append(dst, completion{Choices: []choice{}, Usage: u})
	}
	return done(dst)
}

// fail appends the terminal error chunk and [DONE]: the end of a stream
// that broke after its first byte.
func (c *chunker) fail(dst []byte, status int, message string) []byte {
	e := newAPIError(status, message, "")
	dst = c.append(dst, completion{Choices: []choice{}, Error: &e})
	return done(dst)
}

func done(dst []byte) []byte { return sse.AppendEvent(dst, "", []byte("[DONE]")) }
