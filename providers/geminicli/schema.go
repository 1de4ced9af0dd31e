package geminicli

import (
	"encoding/json"
	"fmt"
)

// CleanToolSchema rewrites a JSON Schema of a tool's parameters into what
// Gemini's functionDeclarations accept.
//
// This is the minimal version of the issue-14 Messages branch: it removes
// only "$schema" and "additionalProperties", at every depth. It is replaced
// at merge by the full cleaner of the Chat Completions branch (same
// signature), which also inlines $ref/$defs, turns anyOf-with-null into
// nullable, const into enum and drops unknown formats.
func CleanToolSchema(schema json.RawMessage) (json.RawMessage, error) {
	if len(schema) == 0 {
		return schema, nil
	}
	var v any
	if err := json.Unmarshal(schema, &v); err != nil {
		return nil, fmt.Errorf("geminicli: tool schema: %w", err)
	}
	out, err := json.Marshal(dropSchemaKeys(v))
	if err != nil {
		return nil, fmt.Errorf("geminicli: tool schema: %w", err)
	}
	return out, nil
}

func dropSchemaKeys(v any) any {
	switch t := v.(type) {
	case map[string]any:
		delete(t, "$schema")
		delete(t, "additionalProperties")
		for k, x := range t {
			t[k] = dropSchemaKeys(x)
		}
	case []any:
		for i, x := range t {
			t[i] = dropSchemaKeys(x)
		}
	}
	return v
}
