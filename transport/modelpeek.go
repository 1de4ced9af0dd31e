package transport

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json/jsontext"
)

// Errors of peekModel; the root answers each in the caller's envelope.
var (
	errBodyNotObject = errors.New("the request body must be a JSON object")
	errNoModel       = errors.New(`the request body has no "model": name the model to use`)
	errModelNotText  = errors.New(`"model" must be a string`)
)

// peekModel returns the top-level "model" string of a JSON request body,
// for routing it before the body is handed to a surface. Only the top
// level counts: a "model" inside "messages" or "metadata" is skipped with
// its enclosing value, however early it comes. The scan runs over the
// bytes in place (jsontext parses a *bytes.Buffer without copying it), and
// reads names and the model as raw values, so it allocates only the
// decoder and the model's string. Duplicate names are allowed and the last
// "model" wins, as encoding/json (which the surfaces decode with) decides.
func peekModel(body []byte) (string, error) {
	d := jsontext.NewDecoder(bytes.NewBuffer(body),
		jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if d.PeekKind() != '{' {
		if _, err := d.ReadToken(); err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("the request body is not valid JSON: %w", err)
		}
		return "", errBodyNotObject
	}
	if _, err := d.ReadToken(); err != nil {
		return "", fmt.Errorf("the request body is not valid JSON: %w", err)
	}
	var (
		model string
		found bool
	)
	for d.PeekKind() != '}' {
		name, err := d.ReadValue()
		if err != nil {
			return "", fmt.Errorf("the request body is not valid JSON: %w", err)
		}
		if !isModelName(name) {
			if err := d.SkipValue(); err != nil {
				return "", fmt.Errorf("the request body is not valid JSON: %w", err)
			}
			continue
		}
		v, err := d.ReadValue()
		if err != nil {
			return "", fmt.Errorf("the request body is not valid JSON: %w", err)
		}
		switch v.Kind() {
		case '"':
			s, err := jsontext.AppendUnquote(nil, v)
			if err != nil {
				return "", fmt.Errorf("the request body is not valid JSON: %w", err)
			}
			model, found = string(s), true
		case 'n':
			// null is no model, as encoding/json leaves a string unset.
			model, found = "", false
		default:
			return "", errModelNotText
		}
	}
	// The closing brace, and nothing after it.
	if _, err := d.ReadToken(); err != nil {
		return "", fmt.Errorf("the request body is not valid JSON: %w", err)
	}
	if _, err := d.ReadToken(); !errors.Is(err, io.EOF) {
		return "", errors.New("the request body is not valid JSON: data after the top-level object")
	}
	if !found || model == "" {
		return "", errNoModel
	}
	return model, nil
}

// isModelName reports whether a raw object name is "model", escaped or
// not.
func isModelName(name jsontext.Value) bool {
	if string(name) == `"model"` {
		return true
	}
	if bytes.IndexByte(name, '\\') < 0 || len(name) > 64 {
		return false
	}
	s, err := jsontext.AppendUnquote(nil, name)
	return err == nil && string(s) == "model"
}
