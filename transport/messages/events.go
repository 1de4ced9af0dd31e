package messages

import (
	"encoding/json"

	"github.com/pollux-gateway/pollux/providers/sse"
)

// Anthropic stream event names.
const (
	evMessageStart = "message_start"
	evBlockStart   = "content_block_start"
	evBlockDelta   = "content_block_delta"
	evBlockStop    = "content_block_stop"
	evMessageDelta = "message_delta"
	evMessageStop  = "message_stop"
	evError        = "error"
)

// Stop reasons.
const (
	stopEndTurn   = "end_turn"
	stopMaxTokens = "max_tokens"
	stopToolUse   = "tool_use"
	stopRefusal   = "refusal"
	stopSequence  = "stop_sequence"
)

// usage is Anthropic's usage object. input_tokens excludes the cached
// prompt tokens, which are cache_read_input_tokens.
type usage struct {
	InputTokens          int64 `json:"input_tokens"`
	OutputTokens         int64 `json:"output_tokens"`
	CacheReadInputTokens int64 `json:"cache_read_input_tokens"`
	// reasoning is the part of OutputTokens spent thinking: not on
	// Anthropic's wire, counted for the request record.
	reasoning int64
}

// contentBlock is one block of an answer.
type contentBlock struct {
	Type string `json:"type"`
	// text
	Text *string `json:"text,omitempty"`
	// tool_use
	ID    string          `json:"id,omitempty"`
	Name  string          `json:"name,omitempty"`
	Input json.RawMessage `json:"input,omitempty"`
	// thinking
	Thinking  *string `json:"thinking,omitempty"`
	Signature *string `json:"signature,omitempty"`
}

type delta struct {
	Type        string `json:"type"`
	Text        string `json:"text,omitempty"`
	PartialJSON string `json:"partial_json,omitempty"`
	Thinking    string `json:"thinking,omitempty"`
	Signature   string `json:"signature,omitempty"`
}

// answer is the message object: the unary answer, and the message of
// message_start (empty content, no stop reason).
type answer struct {
	ID           string         `json:"id"`
	Type         string         `json:"type"`
	Role         string         `json:"role"`
	Model        string         `json:"model"`
	Content      []contentBlock `json:"content"`
	StopReason   *string        `json:"stop_reason"`
	StopSequence *string        `json:"stop_sequence"`
	Usage        usage          `json:"usage"`
}

// event is one Anthropic stream event.
type event struct {
	Type         string        `json:"type"`
	Message      *answer       `json:"message,omitempty"`
	Index        *int          `json:"index,omitempty"`
	ContentBlock *contentBlock `json:"content_block,omitempty"`
	Delta        any           `json:"delta,omitempty"`
	Usage        *usage        `json:"usage,omitempty"`
	Error        *errorBody    `json:"error,omitempty"`
}

type messageDelta struct {
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
}

// sink receives a translated answer, event by event: the stream codec
// writes them as SSE, the collector builds the unary message.
type sink interface {
	emit(ev *event)
}

// builder turns what an upstream says into Anthropic events: it opens and
// closes content blocks so that their indexes run 0, 1, 2... and at most
// one is open.
type builder struct {
	out     sink
	id      string
	model   string
	started bool
	// open is the open block's type ("" when none); index the next
	// block's index.
	open     string
	index    int
	toolUsed bool
	stopped  bool
}

func (b *builder) start(id string, in usage) {
	if b.started {
		return
	}
	b.started = true
	if id != "" {
		b.id = id
	}
	b.out.emit(&event{Type: evMessageStart, Message: &answer{
		ID: b.id, Type: "message", Role: "assistant", Model: b.model, Content: []contentBlock{}, Usage: in,
	}})
}

// openBlock opens a block of type typ unless one of that type is open
// (text and thinking continue; a tool_use block always opens anew).
func (b *builder) openBlock(cb contentBlock) {
	b.start("", usage{})
	if b.open != "" && b.open == cb.Type && cb.Type != "tool_use" {
		return
	}
	b.closeBlock()
	i := b.index
	b.out.emit(&event{Type: evBlockStart, Index: &i, ContentBlock: &cb})
	b.open = cb.Type
	if cb.Type == "tool_use" {
		b.toolUsed = true
	}
}

func (b *builder) closeBlock() {
	if b.open == "" {
		return
	}
	i := b.index
	b.out.emit(&event{Type: evBlockStop, Index: &i})
	b.open = ""
	b.index++
}

func (b *builder) text(s string) {
	if s == "" {
		return
	}
	empty := ""
	b.openBlock(contentBlock{Type: "text", Text: &empty})
	i := b.index
	b.out.emit(&event{Type: evBlockDelta, Index: &i, Delta: delta{Type: "text_delta", Text: s}})
}

func (b *builder) thinking(s string) {
	empty := ""
	b.openBlock(contentBlock{Type: "thinking", Thinking: &empty, Signature: &empty})
	if s == "" {
		return
	}
	i := b.index
	b.out.emit(&event{Type: evBlockDelta, Index: &i, Delta: delta{Type: "thinking_delta", Thinking: s}})
}

// signature ends the open thinking block with its signature.
func (b *builder) signature(sig string) {
	if b.open != "thinking" || sig == "" {
		return
	}
	i := b.index
	b.out.emit(&event{Type: evBlockDelta, Index: &i, Delta: delta{Type: "signature_delta", Signature: sig}})
}

func (b *builder) toolStart(id, name string) {
	b.openBlock(contentBlock{Type: "tool_use", ID: id, Name: name, Input: json.RawMessage(`{}`)})
}

func (b *builder) toolArgs(partial string) {
	if b.open != "tool_use" || partial == "" {
		return
	}
	i := b.index
	b.out.emit(&event{Type: evBlockDelta, Index: &i, Delta: delta{Type: "input_json_delta", PartialJSON: partial}})
}

// finish closes the message with its stop reason and final usage.
func (b *builder) finish(stop string, u usage) {
	if b.stopped {
		return
	}
	b.start("", usage{})
	b.closeBlock()
	b.stopped = true
	if stop == stopEndTurn && b.toolUsed {
		stop = stopToolUse
	}
	b.out.emit(&event{Type: evMessageDelta, Delta: messageDelta{StopReason: &stop}, Usage: &u})
	b.out.emit(&event{Type: evMessageStop})
}

// sseSink appends each event as SSE.
type sseSink struct{ buf []byte }

func (s *sseSink) emit(ev *event) {
	data, err := json.Marshal(ev)
	if err != nil {
		// Only strings, numbers and raw JSON Pollux checked are encoded.
		panic("messages: encode event: " + err.Error())
	}
	s.buf = sse.AppendEvent(s.buf, ev.Type, data)
}

// collector builds the unary answer from the events.
type collector struct {
	msg     answer
	partial []byte // the open tool_use block's argument JSON
	done    bool
}

func (c *collector) emit(ev *event) {
	switch ev.Type {
	case evMessageStart:
		c.msg = *ev.Message
	case evBlockStart:
		c.msg.Content = append(c.msg.Content, *ev.ContentBlock)
		c.partial = c.partial[:0]
	case evBlockDelta:
		cb := &c.msg.Content[len(c.msg.Content)-1]
		switch d := ev.Delta.(delta); d.Type {
		case "text_delta":
			s := *cb.Text + d.Text
			cb.Text = &s
		case "thinking_delta":
			s := *cb.Thinking + d.Thinking
			cb.Thinking = &s
		case "signature_delta":
			s := d.Signature
			cb.Signature = &s
		case "input_json_delta":
			c.partial = append(c.partial, d.PartialJSON...)
		}
	case evBlockStop:
		cb := &c.msg.Content[len(c.msg.Content)-1]
		switch {
		case cb.Type != "tool_use" || len(c.partial) == 0:
		case json.Valid(c.partial):
			cb.Input = append(json.RawMessage(nil), c.partial...)
		default:
			// Arguments that are not JSON (a model's slip) stay readable
			// rather than failing the whole answer.
			raw, _ := json.Marshal(map[string]string{"_raw_arguments": string(c.partial)})
			cb.Input = raw
		}
	case evMessageDelta:
		d := ev.Delta.(messageDelta)
		c.msg.StopReason, c.msg.StopSequence = d.StopReason, d.StopSequence
		c.msg.Usage = *ev.Usage
	case evMessageStop:
		c.done = true
	}
}
