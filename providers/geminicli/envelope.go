package geminicli

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/pollux-gateway/pollux/providers/jsonscan"
)

// ErrInvalidBody is returned for a client body that is not one JSON object.
var ErrInvalidBody = errors.New("geminicli: request body must be a JSON object")

// ErrNoResponse is returned by UnwrapResponse for an envelope without a
// "response" member.
var ErrNoResponse = errors.New("geminicli: upstream envelope has no response")

// jsonObject returns body without surrounding whitespace after checking it
// is exactly one valid JSON object.
func jsonObject(body []byte) ([]byte, error) {
	b := bytes.TrimSpace(body)
	if len(b) == 0 || b[0] != '{' || !json.Valid(b) {
		return nil, ErrInvalidBody
	}
	return b, nil
}

// WrapGenerate builds the v1internal envelope of generateContent and
// streamGenerateContent:
//
//	{"model":M,"project":P,"user_prompt_id":ID,"request":<body>}
//
// The client body is copied byte for byte (it is only validated, never
// decoded into a struct), so fields Pollux does not know, tool schemas,
// thinking settings, functionCall ids and thought signatures reach the
// upstream unchanged.
func WrapGenerate(model, project, promptID string, body []byte) ([]byte, error) {
	req, err := jsonObject(body)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(req)+len(model)+len(project)+len(promptID)+64)
	out = append(out, `{"model":`...)
	out = appendJSONString(out, model)
	out = append(out, `,"project":`...)
	out = appendJSONString(out, project)
	out = append(out, `,"user_prompt_id":`...)
	out = appendJSONString(out, promptID)
	out = append(out, `,"request":`...)
	out = append(out, req...)
	out = append(out, '}')
	return out, nil
}

// WrapCountTokens builds the v1internal countTokens envelope:
//
//	{"request":{"model":"models/M", ...the client's members...}}
//
// "model" is set (replacing any the client sent); every other member keeps
// its value bytes. A v1beta body that wraps its request in
// "generateContentRequest" (and has no top-level "contents") is lifted.
func WrapCountTokens(model string, body []byte) ([]byte, error) {
	req, err := jsonObject(body)
	if err != nil {
		return nil, err
	}
	members, err := objectMembers(req)
	if err != nil {
		return nil, err
	}
	if inner, ok := member(members, "generateContentRequest"); ok {
		if _, hasContents := member(members, "contents"); !hasContents {
			if inner, err = jsonObject(inner); err != nil {
				return nil, err
			}
			if members, err = objectMembers(inner); err != nil {
				return nil, err
			}
		}
	}
	out := make([]byte, 0, len(req)+len(model)+48)
	out = append(out, `{"request":{"model":`...)
	out = appendJSONString(out, "models/"+strings.TrimPrefix(model, "models/"))
	for _, m := range members {
		if m.key == "model" {
			continue
		}
		out = append(out, ',')
		out = appendJSONString(out, m.key)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	out = append(out, "}}"...)
	return out, nil
}

// UnwrapResponse returns the bytes of the "response" member of a
// v1internal reply: the Gemini v1beta body the client expects.
func UnwrapResponse(body []byte) ([]byte, error) {
	if resp, _, ok := scanEvent(body); ok {
		if resp == nil {
			return nil, ErrNoResponse
		}
		return bytes.Clone(resp), nil
	}
	return decodeResponse(body)
}

// decodeResponse is UnwrapResponse by encoding/json, for the replies
// scanEvent leaves to it.
func decodeResponse(body []byte) ([]byte, error) {
	var env struct {
		Response json.RawMessage `json:"response"`
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return nil, fmt.Errorf("geminicli: unwrap response: %w", err)
	}
	if len(env.Response) == 0 || string(env.Response) == "null" {
		return nil, ErrNoResponse
	}
	return env.Response, nil
}

// UnwrapCountTokens returns a countTokens reply as the client expects it:
// the upstream answers {"totalTokens":N} at top level, which passes as is;
// should it ever arrive inside "response", the inner object is returned.
func UnwrapCountTokens(body []byte) ([]byte, error) {
	obj, err := jsonObject(body)
	if err != nil {
		return nil, errors.New("geminicli: unwrap countTokens: reply is not a JSON object")
	}
	if inner, err := UnwrapResponse(obj); err == nil {
		return inner, nil
	}
	return obj, nil
}

// newPromptID returns a random user_prompt_id.
func newPromptID() string {
	var b [12]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	return jsonscan.AppendString(dst, s, true)
}

// objMember is one top-level member of a JSON object, value bytes verbatim.
type objMember struct {
	key   string
	value json.RawMessage
}

// objectMembers splits a JSON object into its top-level members in order,
// without decoding the values.
func objectMembers(obj []byte) ([]objMember, error) {
	dec := json.NewDecoder(bytes.NewReader(obj))
	if _, err := dec.Token(); err != nil { // '{'
		return nil, ErrInvalidBody
	}
	var out []objMember
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, ErrInvalidBody
		}
		key, ok := tok.(string)
		if !ok {
			return nil, ErrInvalidBody
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, ErrInvalidBody
		}
		out = append(out, objMember{key: key, value: v})
	}
	if _, err := dec.Token(); err != nil && !errors.Is(err, io.EOF) { // '}'
		return nil, ErrInvalidBody
	}
	return out, nil
}

// member returns the value of the last member named key.
func member(ms []objMember, key string) (json.RawMessage, bool) {
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].key == key {
			return ms[i].value, true
		}
	}
	return nil, false
}
