package geminicli

import (
	"bytes"
	"container/list"
	"crypto/sha256"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"
)

// Thought-signature repair.
//
// Gemini 3 models sign their thinking: a response part may carry a
// thoughtSignature, and a follow-up request whose earlier model turns lost
// theirs is rejected (400) when it involves function calls. Many clients
// (OpenAI-compatible tools, older SDKs, hand-written agents) drop the
// signature. Pollux records the signatures it sees in responses, keyed by
// what identifies the part, and gives each model-role part of a request
// that lacks one its recorded signature, or the documented bypass value
// when none is known. A signature the client sent is never touched.

// SkipSignature is the thoughtSignature value Google documents for model
// turns whose signature is not known (history written by another model, or
// dropped by a client): the validator accepts it.
const SkipSignature = "skip_thought_signature_validator"

const (
	// DefaultSignatureCacheBytes is the default memory budget of one pool's
	// signature cache.
	DefaultSignatureCacheBytes = 16 << 20
	// signatureTTL is how long a recorded signature is kept: long enough
	// for a working session's follow-ups, short enough that a cache never
	// holds stale days.
	signatureTTL = 6 * time.Hour
	// maxSignatureLen skips signatures too large to be worth keeping.
	maxSignatureLen = 64 << 10
	// signatureShards splits the cache so concurrent requests rarely meet
	// on one lock.
	signatureShards = 16
	// entryOverhead approximates an entry's memory beyond its signature
	// bytes: key, list element, map slot.
	entryOverhead = 160
)

// sigKey identifies a part: the SHA-256 of "f" + the function call's
// canonical JSON, or of "t" + the thought text.
type sigKey [sha256.Size]byte

// SignatureCache maps parts to the thought signatures seen for them. It is
// bounded in bytes (least recently used entries go first) and entries
// expire. It is safe for concurrent use; each of its shards has a mutex
// held only for a map lookup and a list move.
type SignatureCache struct {
	shards      [signatureShards]sigShard
	shardBudget int
	now         func() time.Time

	hits, misses atomic.Uint64
}

type sigShard struct {
	mu sync.Mutex
	// guards the following fields
	entries map[sigKey]*list.Element
	lru     list.List // front: most recently used; values are *sigEntry
	bytes   int
}

type sigEntry struct {
	key       sigKey
	signature string
	expires   time.Time
}

// NewSignatureCache returns a cache that holds at most about budget bytes.
// A budget <= 0 gives nil, which records nothing and repairs nothing.
func NewSignatureCache(budget int, now func() time.Time) *SignatureCache {
	if budget <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	c := &SignatureCache{shardBudget: max(budget/signatureShards, 1), now: now}
	for i := range c.shards {
		c.shards[i].entries = make(map[sigKey]*list.Element)
	}
	return c
}

// SignatureStats is a cache's counters.
type SignatureStats struct {
	// Hits and Misses count request parts given a recorded signature and
	// parts given the bypass value.
	Hits, Misses uint64
	// Entries and Bytes are the cache's current size.
	Entries, Bytes int
}

// Stats returns the counters; a nil cache has none.
func (c *SignatureCache) Stats() SignatureStats {
	if c == nil {
		return SignatureStats{}
	}
	st := SignatureStats{Hits: c.hits.Load(), Misses: c.misses.Load()}
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.Lock()
		st.Entries += len(s.entries)
		st.Bytes += s.bytes
		s.mu.Unlock()
	}
	return st
}

func (c *SignatureCache) shard(k sigKey) *sigShard { return &c.shards[k[0]%signatureShards] }

func (c *SignatureCache) put(k sigKey, signature string) {
	if len(signature) > maxSignatureLen {
		return
	}
	size := len(signature) + entryOverhead
	now := c.now()
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	if el, ok := s.entries[k]; ok {
		e := el.Value.(*sigEntry)
		s.bytes += len(signature) - len(e.signature)
		e.signature, e.expires = signature, now.Add(signatureTTL)
		s.lru.MoveToFront(el)
	} else {
		s.entries[k] = s.lru.PushFront(&sigEntry{key: k, signature: signature, expires: now.Add(signatureTTL)})
		s.bytes += size
	}
	for s.bytes > c.shardBudget && s.lru.Len() > 0 {
		s.remove(s.lru.Back())
	}
}

func (c *SignatureCache) get(k sigKey) (string, bool) {
	s := c.shard(k)
	s.mu.Lock()
	defer s.mu.Unlock()
	el, ok := s.entries[k]
	if !ok {
		return "", false
	}
	e := el.Value.(*sigEntry)
	if !c.now().Before(e.expires) {
		s.remove(el)
		return "", false
	}
	s.lru.MoveToFront(el)
	return e.signature, true
}

func (s *sigShard) remove(el *list.Element) {
	e := s.lru.Remove(el).(*sigEntry)
	delete(s.entries, e.key)
	s.bytes -= len(e.signature) + entryOverhead
}

// part is the members of a Gemini content part that signatures concern.
type part struct {
	Text             *string         `json:"text"`
	Thought          bool            `json:"thought"`
	FunctionCall     json.RawMessage `json:"functionCall"`
	ThoughtSignature string          `json:"thoughtSignature"`
}

// partKey returns the key of a part: its function call's canonical JSON
// (name and args; a call id is left out, clients drop those too), else its
// thought text. ok is false for parts with neither.
func partKey(p *part) (sigKey, bool) {
	if len(p.FunctionCall) > 0 && string(p.FunctionCall) != "null" {
		var call struct {
			Name string          `json:"name"`
			Args json.RawMessage `json:"args"`
		}
		if json.Unmarshal(p.FunctionCall, &call) != nil {
			return sigKey{}, false
		}
		canon, ok := canonicalJSON(call.Args)
		if !ok {
			return sigKey{}, false
		}
		h := sha256.New()
		h.Write([]byte("f"))
		h.Write([]byte(call.Name))
		h.Write([]byte{0})
		h.Write(canon)
		var k sigKey
		h.Sum(k[:0])
		return k, true
	}
	if p.Thought && p.Text != nil && *p.Text != "" {
		return sha256.Sum256(append([]byte("t"), *p.Text...)), true
	}
	return sigKey{}, false
}

// canonicalJSON re-encodes v with object keys sorted and no insignificant
// space; numbers keep their text. Empty or null args are "{}".
func canonicalJSON(v json.RawMessage) ([]byte, bool) {
	if len(bytes.TrimSpace(v)) == 0 || string(bytes.TrimSpace(v)) == "null" {
		return []byte("{}"), true
	}
	dec := json.NewDecoder(bytes.NewReader(v))
	dec.UseNumber()
	var x any
	if dec.Decode(&x) != nil {
		return nil, false
	}
	b, err := json.Marshal(x) // maps marshal with sorted keys
	return b, err == nil
}

// signatureKey is present in every response worth scanning.
var signatureKey = []byte(`"thoughtSignature"`)

// Record stores the signatures of every part of every candidate of a
// Gemini response (unary, or one streamed chunk).
func (c *SignatureCache) Record(response []byte) {
	if c == nil || !bytes.Contains(response, signatureKey) {
		return
	}
	var r struct {
		Candidates []struct {
			Content struct {
				Parts []part `json:"parts"`
			} `json:"content"`
		} `json:"candidates"`
	}
	if json.Unmarshal(response, &r) != nil {
		return
	}
	for i := range r.Candidates {
		for j := range r.Candidates[i].Content.Parts {
			p := &r.Candidates[i].Content.Parts[j]
			if p.ThoughtSignature == "" {
				continue
			}
			if k, ok := partKey(p); ok {
				c.put(k, p.ThoughtSignature)
			}
		}
	}
}

// Repair returns body with a thoughtSignature on every part of every
// model-role content that lacks one: the recorded signature when there is
// one, else SkipSignature. Parts that carry a signature are left as they
// are, and a body that needs nothing comes back unchanged (the same
// slice). Only the "contents" member is re-encoded; the rest of the body
// keeps its bytes.
func (c *SignatureCache) Repair(body []byte) []byte {
	if c == nil || !bytes.Contains(body, []byte(`"model"`)) {
		return body
	}
	if !needsRepair(body) {
		return body
	}
	start, end, ok := memberSpan(body, "contents")
	if !ok {
		return body
	}
	var contents []map[string]json.RawMessage
	if json.Unmarshal(body[start:end], &contents) != nil {
		return body
	}
	changed := false
	for _, content := range contents {
		var role string
		if json.Unmarshal(content["role"], &role) != nil || role != "model" {
			continue
		}
		var parts []map[string]json.RawMessage
		if json.Unmarshal(content["parts"], &parts) != nil {
			continue
		}
		partsChanged := false
		for _, raw := range parts {
			if sig, ok := raw["thoughtSignature"]; ok && len(sig) > 2 && string(sig) != "null" {
				continue // the client's own
			}
			signature := SkipSignature
			var p part
			if b, err := json.Marshal(raw); err == nil && json.Unmarshal(b, &p) == nil {
				if k, ok := partKey(&p); ok {
					if s, found := c.get(k); found {
						signature = s
					}
				}
			}
			if signature == SkipSignature {
				c.misses.Add(1)
			} else {
				c.hits.Add(1)
			}
			enc, _ := json.Marshal(signature)
			raw["thoughtSignature"] = enc
			partsChanged = true
		}
		if partsChanged {
			b, err := json.Marshal(parts)
			if err != nil {
				return body
			}
			content["parts"] = b
			changed = true
		}
	}
	if !changed {
		return body
	}
	enc, err := json.Marshal(contents)
	if err != nil {
		return body
	}
	out := make([]byte, 0, len(body)-(end-start)+len(enc))
	out = append(out, body[:start]...)
	out = append(out, enc...)
	return append(out, body[end:]...)
}

// memberSpan finds the value of a top-level member of a JSON object:
// body[start:end] is its bytes.
func memberSpan(body []byte, name string) (start, end int, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return 0, 0, false
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return 0, 0, false
		}
		key, _ := t.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return 0, 0, false
		}
		if key == name {
			end = int(dec.InputOffset())
			return end - len(raw), end, true
		}
	}
	return 0, 0, false
}

// needsRepair reports whether some model-role part of body lacks a
// signature. Clients that keep signatures (the Gemini CLI, current SDKs)
// send long histories with every one in place; this scan skips everything
// but roles and signatures and allocates little, so they pay no re-encode.
func needsRepair(body []byte) bool {
	var probe struct {
		Contents []struct {
			Role  modelRole `json:"role"`
			Parts []struct {
				ThoughtSignature present `json:"thoughtSignature"`
			} `json:"parts"`
		} `json:"contents"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return false
	}
	for _, c := range probe.Contents {
		if !c.Role {
			continue
		}
		for _, p := range c.Parts {
			if !p.ThoughtSignature {
				return true
			}
		}
	}
	return false
}

// present decodes to whether a member holds a non-empty value, without
// keeping (or allocating) the value.
type present bool

func (p *present) UnmarshalJSON(b []byte) error {
	*p = len(b) > 2 && string(b) != "null"
	return nil
}

// modelRole decodes a role to whether it is "model", without allocating.
type modelRole bool

func (r *modelRole) UnmarshalJSON(b []byte) error {
	*r = string(b) == `"model"`
	return nil
}
