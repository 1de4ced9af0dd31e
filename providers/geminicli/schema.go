package geminicli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
)

// ErrBadSchema marks a tool schema CleanToolSchema cannot read: not JSON,
// not an object, or nested absurdly deep.
var ErrBadSchema = errors.New("geminicli: invalid tool schema")

// schemaMaxDepth bounds the nesting CleanToolSchema follows; a deeper
// schema is refused rather than walked.
const schemaMaxDepth = 64

// schemaKeep are the members of Gemini's Schema (an OpenAPI 3.0 subset)
// that pass through; every other member is dropped. properties, items,
// anyOf, required, enum, type and format are handled apart.
var schemaKeep = map[string]bool{
	"title": true, "description": true, "nullable": true, "default": true, "example": true,
	"minItems": true, "maxItems": true, "minLength": true, "maxLength": true, "pattern": true,
	"minimum": true, "maximum": true, "minProperties": true, "maxProperties": true,
	"propertyOrdering": true,
}

// schemaTypes are the types Gemini knows.
var schemaTypes = map[string]bool{
	"string": true, "number": true, "integer": true, "boolean": true, "array": true, "object": true,
}

// schemaFormats are the formats Gemini accepts, per type.
var schemaFormats = map[string]map[string]bool{
	"string":  {"enum": true, "date-time": true},
	"number":  {"float": true, "double": true},
	"integer": {"int32": true, "int64": true},
}

// CleanToolSchema rewrites a JSON Schema from an OpenAI or Anthropic tool
// definition into the OpenAPI subset Gemini's function declarations accept,
// keeping its meaning where Gemini can express it:
//
//   - $ref into $defs or definitions is inlined (a recursive reference
//     becomes an open object, which Gemini cannot express otherwise);
//   - "type": ["string","null"] and an anyOf/oneOf member {"type":"null"}
//     become "nullable": true; an anyOf/oneOf left with one member is
//     merged into its parent; oneOf becomes anyOf; allOf is merged;
//   - const becomes a one-value enum; enums of non-strings become string
//     enums of their JSON text only when the type is string, else are
//     dropped;
//   - exclusiveMinimum/exclusiveMaximum (numbers) become minimum/maximum;
//   - formats Gemini does not know for the type are dropped;
//   - required keeps only names that are properties;
//   - $schema, $id, $comment, additionalProperties, patternProperties,
//     unevaluatedProperties, examples, readOnly and every other member
//     outside Gemini's Schema are dropped.
//
// The result is compact JSON with sorted members. An error (wrapping
// ErrBadSchema) means the input is not a JSON object or nests deeper than
// 64 levels.
func CleanToolSchema(schema json.RawMessage) (json.RawMessage, error) {
	d := json.NewDecoder(bytes.NewReader(schema))
	d.UseNumber()
	var root any
	if err := d.Decode(&root); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	if d.More() {
		return nil, fmt.Errorf("%w: trailing data after the schema", ErrBadSchema)
	}
	obj, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: a schema must be a JSON object", ErrBadSchema)
	}
	c := schemaCleaner{defs: map[string]any{}}
	for _, k := range []string{"$defs", "definitions"} {
		if defs, ok := obj[k].(map[string]any); ok {
			for name, def := range defs {
				c.defs["#/"+k+"/"+name] = def
			}
		}
	}
	out, err := c.clean(obj, 0)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadSchema, err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// schemaCleaner holds the definitions of one schema and the references
// being inlined (to stop at recursion).
type schemaCleaner struct {
	defs     map[string]any
	inlining []string
}

func (c *schemaCleaner) clean(node any, depth int) (map[string]any, error) {
	if depth > schemaMaxDepth {
		return nil, fmt.Errorf("%w: nested deeper than %d levels", ErrBadSchema, schemaMaxDepth)
	}
	in, ok := node.(map[string]any)
	if !ok {
		// true (anything) and other non-object schemas: an open schema.
		return map[string]any{}, nil
	}
	if ref, ok := in["$ref"].(string); ok {
		return c.inline(ref, in, depth)
	}
	out := map[string]any{}
	for k, v := range in {
		if schemaKeep[k] {
			out[k] = v
		}
	}
	// allOf: every member's constraints apply; merge them in.
	if all, ok := in["allOf"].([]any); ok {
		for _, m := range all {
			cm, err := c.clean(m, depth+1)
			if err != nil {
				return nil, err
			}
			mergeSchema(out, cm)
		}
	}
	if err := c.cleanType(in, out, depth); err != nil {
		return nil, err
	}
	if v, ok := in["exclusiveMinimum"]; ok {
		if n, ok := v.(json.Number); ok {
			out["minimum"] = n
		}
	}
	if v, ok := in["exclusiveMaximum"]; ok {
		if n, ok := v.(json.Number); ok {
			out["maximum"] = n
		}
	}
	if props, ok := in["properties"].(map[string]any); ok {
		cp := make(map[string]any, len(props))
		for name, p := range props {
			if b, isBool := p.(bool); isBool && !b {
				continue // false: the property may not appear
			}
			cs, err := c.clean(p, depth+1)
			if err != nil {
				return nil, err
			}
			cp[name] = cs
		}
		out["properties"] = cp
		if _, typed := out["type"]; !typed {
			out["type"] = "object"
		}
	}
	req, _ := out["required"].([]any) // from allOf
	delete(out, "required")
	if own, ok := in["required"].([]any); ok {
		req = append(req, own...)
	}
	if len(req) > 0 {
		props, _ := out["properties"].(map[string]any)
		var keep []any
		for _, r := range req {
			if name, ok := r.(string); ok && props[name] != nil && !slices.Contains(keep, any(name)) {
				keep = append(keep, name)
			}
		}
		if len(keep) > 0 {
			out["required"] = keep
		}
	}
	if items, ok := in["items"]; ok {
		if tuple, ok := items.([]any); ok {
			// A tuple: Gemini has one item schema; any of the positions.
			items = map[string]any{"anyOf": tuple}
		}
		ci, err := c.clean(items, depth+1)
		if err != nil {
			return nil, err
		}
		out["items"] = ci
		if _, typed := out["type"]; !typed {
			out["type"] = "array"
		}
	} else if p, ok := in["prefixItems"].([]any); ok {
		ci, err := c.clean(map[string]any{"anyOf": p}, depth+1)
		if err != nil {
			return nil, err
		}
		out["items"] = ci
		out["type"] = "array"
	}
	c.cleanEnum(in, out)
	if f, ok := in["format"].(string); ok {
		if t, _ := out["type"].(string); schemaFormats[t][f] {
			out["format"] = f
		}
	}
	return out, nil
}

// inline replaces a $ref by the definition it names; the referring
// object's own description and title win.
func (c *schemaCleaner) inline(ref string, in map[string]any, depth int) (map[string]any, error) {
	def, ok := c.defs[ref]
	if !ok || slices.Contains(c.inlining, ref) {
		// Unknown or recursive: Gemini cannot follow it; an open object.
		out := map[string]any{"type": "object"}
		copyMembers(out, in, "description", "title", "nullable")
		return out, nil
	}
	c.inlining = append(c.inlining, ref)
	out, err := c.clean(def, depth+1)
	c.inlining = c.inlining[:len(c.inlining)-1]
	if err != nil {
		return nil, err
	}
	out = maps.Clone(out)
	copyMembers(out, in, "description", "title", "nullable", "default")
	return out, nil
}

// cleanType sets out's type (and nullable, anyOf) from in's type, anyOf
// and oneOf.
func (c *schemaCleaner) cleanType(in, out map[string]any, depth int) error {
	switch t := in["type"].(type) {
	case string:
		if t == "null" {
			out["nullable"] = true
		} else if schemaTypes[t] {
			out["type"] = t
		}
	case []any:
		var types []string
		for _, v := range t {
			s, _ := v.(string)
			switch {
			case s == "null":
				out["nullable"] = true
			case schemaTypes[s]:
				types = append(types, s)
			}
		}
		switch len(types) {
		case 0:
		case 1:
			out["type"] = types[0]
		default:
			var alts []any
			for _, s := range types {
				alts = append(alts, map[string]any{"type": s})
			}
			out["anyOf"] = alts
		}
	}
	var alts []any
	for _, k := range []string{"anyOf", "oneOf"} {
		if list, ok := in[k].([]any); ok {
			alts = append(alts, list...)
		}
	}
	if len(alts) == 0 {
		return nil
	}
	var kept []any
	for _, a := range alts {
		if m, ok := a.(map[string]any); ok && m["type"] == "null" && len(m) == 1 {
			out["nullable"] = true
			continue
		}
		ca, err := c.clean(a, depth+1)
		if err != nil {
			return err
		}
		kept = append(kept, ca)
	}
	switch len(kept) {
	case 0:
	case 1:
		// The parent's own members win over the single alternative's.
		merged := maps.Clone(kept[0].(map[string]any))
		maps.Copy(merged, out)
		maps.Copy(out, merged)
	default:
		out["anyOf"] = kept
	}
	return nil
}

// cleanEnum sets out's enum from in's enum or const: Gemini's enums are
// strings.
func (c *schemaCleaner) cleanEnum(in, out map[string]any) {
	var values []any
	if list, ok := in["enum"].([]any); ok {
		values = list
	} else if v, ok := in["const"]; ok {
		values = []any{v}
	}
	if len(values) == 0 {
		return
	}
	t, _ := out["type"].(string)
	var strs []any
	for _, v := range values {
		switch v := v.(type) {
		case string:
			strs = append(strs, v)
		case nil:
			out["nullable"] = true
		default:
			if t != "string" {
				return // an enum of numbers or booleans: Gemini has none
			}
			b, _ := json.Marshal(v)
			strs = append(strs, string(b))
		}
	}
	if len(strs) == 0 {
		return
	}
	out["enum"] = strs
	if t == "" {
		out["type"] = "string"
	}
}

// mergeSchema merges src into dst: properties and required are unioned,
// other members of src fill what dst lacks.
func mergeSchema(dst, src map[string]any) {
	for k, v := range src {
		switch k {
		case "properties":
			dp, _ := dst[k].(map[string]any)
			if dp == nil {
				dp = map[string]any{}
			}
			maps.Copy(dp, v.(map[string]any))
			dst[k] = dp
		case "required":
			dr, _ := dst[k].([]any)
			for _, r := range v.([]any) {
				if !slices.Contains(dr, r) {
					dr = append(dr, r)
				}
			}
			dst[k] = dr
		default:
			if _, ok := dst[k]; !ok {
				dst[k] = v
			}
		}
	}
}

func copyMembers(dst, src map[string]any, keys ...string) {
	for _, k := range keys {
		if v, ok := src[k]; ok {
			dst[k] = v
		}
	}
}
