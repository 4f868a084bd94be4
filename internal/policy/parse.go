// Parsing of trust policies as IAM hands them back: URL-encoded, with
// Statement/Action/values as either a string or an array, booleans where
// strings were meant. Also the semantic comparison bootstrap uses, which
// guards against rewriting a role's policy only because IAM re-encoded it.
package policy

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"reflect"
	"sort"
	"strconv"
	"strings"
)

type parsedDoc struct {
	Statements []parsedStatement
}

type parsedStatement struct {
	Sid          string
	Effect       string
	Principal    *parsedPrincipal
	Action       []string
	NotAction    []string
	HasNotAction bool
	Conditions   []parsedCondition
}

type parsedPrincipal struct {
	Any       bool // "*"
	Federated []string
	Other     map[string][]string
}

type parsedCondition struct {
	Operator string
	Key      string
	Values   []string
}

// DecodeDocument returns plain JSON whether doc is plain or URL-encoded.
func DecodeDocument(doc []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(doc)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return trimmed, nil
	}
	// PathUnescape, not QueryUnescape: IAM encodes '+' as %2B, and a literal
	// '+' must stay a '+'.
	s, err := url.PathUnescape(string(trimmed))
	if err != nil {
		return nil, fmt.Errorf("policy document is neither JSON nor URL-encoded JSON: %w", err)
	}
	return []byte(s), nil
}

func parseDocument(doc []byte) (parsedDoc, error) {
	plain, err := DecodeDocument(doc)
	if err != nil {
		return parsedDoc{}, err
	}
	var raw struct {
		Statement json.RawMessage
	}
	if err := json.Unmarshal(plain, &raw); err != nil {
		return parsedDoc{}, fmt.Errorf("policy document is not valid JSON: %w", err)
	}
	var stmts []map[string]json.RawMessage
	if err := unmarshalOneOrMany(raw.Statement, &stmts); err != nil {
		return parsedDoc{}, fmt.Errorf("policy Statement: %w", err)
	}
	var out parsedDoc
	for i, s := range stmts {
		ps, err := parseStatement(s)
		if err != nil {
			return parsedDoc{}, fmt.Errorf("statement %d: %w", i, err)
		}
		out.Statements = append(out.Statements, ps)
	}
	return out, nil
}

func unmarshalOneOrMany(raw json.RawMessage, out *[]map[string]json.RawMessage) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 {
		return fmt.Errorf("missing")
	}
	if t[0] == '{' {
		var one map[string]json.RawMessage
		if err := json.Unmarshal(t, &one); err != nil {
			return err
		}
		*out = []map[string]json.RawMessage{one}
		return nil
	}
	return json.Unmarshal(t, out)
}

func parseStatement(s map[string]json.RawMessage) (parsedStatement, error) {
	var ps parsedStatement
	var err error
	if v, ok := s["Sid"]; ok {
		_ = json.Unmarshal(v, &ps.Sid)
	}
	if err := json.Unmarshal(s["Effect"], &ps.Effect); err != nil {
		return ps, fmt.Errorf("Effect: %w", err)
	}
	if ps.Effect != "Allow" && ps.Effect != "Deny" {
		return ps, fmt.Errorf("Effect %q is neither Allow nor Deny", ps.Effect)
	}
	if v, ok := s["Principal"]; ok {
		if ps.Principal, err = parsePrincipal(v); err != nil {
			return ps, fmt.Errorf("Principal: %w", err)
		}
	}
	if v, ok := s["Action"]; ok {
		if ps.Action, err = stringList(v); err != nil {
			return ps, fmt.Errorf("Action: %w", err)
		}
	}
	if v, ok := s["NotAction"]; ok {
		ps.HasNotAction = true
		if ps.NotAction, err = stringList(v); err != nil {
			return ps, fmt.Errorf("NotAction: %w", err)
		}
	}
	if v, ok := s["Condition"]; ok {
		if ps.Conditions, err = parseConditions(v); err != nil {
			return ps, fmt.Errorf("Condition: %w", err)
		}
	}
	return ps, nil
}

func parsePrincipal(raw json.RawMessage) (*parsedPrincipal, error) {
	var star string
	if json.Unmarshal(raw, &star) == nil {
		if star != "*" {
			return nil, fmt.Errorf("string principal %q (only \"*\" is valid)", star)
		}
		return &parsedPrincipal{Any: true}, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	p := &parsedPrincipal{Other: map[string][]string{}}
	for k, v := range m {
		vals, err := stringList(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		if k == "Federated" {
			p.Federated = vals
		} else {
			p.Other[k] = vals
		}
	}
	return p, nil
}

func parseConditions(raw json.RawMessage) ([]parsedCondition, error) {
	var m map[string]map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	var out []parsedCondition
	for op, keys := range m {
		for key, v := range keys {
			vals, err := stringList(v)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", op, key, err)
			}
			out = append(out, parsedCondition{Operator: op, Key: key, Values: vals})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Operator != out[j].Operator {
			return out[i].Operator < out[j].Operator
		}
		return out[i].Key < out[j].Key
	})
	return out, nil
}

// stringList accepts a string, bool, number or an array of them.
func stringList(raw json.RawMessage) ([]string, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, err
	}
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		s, ok := scalarString(it)
		if !ok {
			return nil, fmt.Errorf("value %v is not a string", it)
		}
		out = append(out, s)
	}
	return out, nil
}

func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case bool:
		return strconv.FormatBool(x), true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	}
	return "", false
}

// Equivalent reports whether two policy documents (plain or URL-encoded)
// mean the same: a string equals a one-element array, and the order of
// statements, actions and values does not matter.
func Equivalent(a, b []byte) (bool, error) {
	na, err := canonical(a)
	if err != nil {
		return false, err
	}
	nb, err := canonical(b)
	if err != nil {
		return false, err
	}
	return reflect.DeepEqual(na, nb), nil
}

func canonical(doc []byte) (any, error) {
	plain, err := DecodeDocument(doc)
	if err != nil {
		return nil, err
	}
	var v any
	if err := json.Unmarshal(plain, &v); err != nil {
		return nil, fmt.Errorf("policy document is not valid JSON: %w", err)
	}
	return normalizeValue(v), nil
}

// normalizeValue turns every map value into a sorted, de-duplicated list.
func normalizeValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, val := range x {
			out[k] = normalizeList(val)
		}
		return out
	default:
		return normalizeList(v)
	}
}

func normalizeList(v any) []any {
	items, ok := v.([]any)
	if !ok {
		items = []any{v}
	}
	keyed := map[string]any{}
	for _, it := range items {
		var n any
		if m, isMap := it.(map[string]any); isMap {
			n = normalizeValue(m)
		} else if s, isScalar := scalarString(it); isScalar {
			n = s
		} else {
			n = it
		}
		k, _ := json.Marshal(n)
		keyed[string(k)] = n
	}
	keys := make([]string, 0, len(keyed))
	for k := range keyed {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]any, len(keys))
	for i, k := range keys {
		out[i] = keyed[k]
	}
	return out
}

// splitConditionKey splits "issuer-host:claim" at the last colon.
func splitConditionKey(key string) (prefix, claim string) {
	i := strings.LastIndex(key, ":")
	if i < 0 {
		return "", key
	}
	return key[:i], key[i+1:]
}
