// IAM condition operators for string claims, with the set qualifiers
// (ForAnyValue/ForAllValues) and IfExists. Getting these subtly wrong is how
// trust policies end up trusting everyone (ForAllValues on a missing key) or
// no one (StringEquals with a wildcard), so each rule is spelled out here.
package policy

import (
	"fmt"
	"strings"
)

type operator struct {
	set      string // "", "ForAnyValue", "ForAllValues"
	base     string // e.g. StringEquals
	ifExists bool
}

func parseOperator(op string) operator {
	var o operator
	if i := strings.Index(op, ":"); i >= 0 {
		o.set, op = op[:i], op[i+1:]
	}
	if strings.HasSuffix(op, "IfExists") {
		o.ifExists, op = true, strings.TrimSuffix(op, "IfExists")
	}
	o.base = op
	return o
}

// operators maps each supported base operator to its non-negated matcher and
// whether it is negated.
var operators = map[string]struct {
	match   func(expected, presented string) bool
	negated bool
}{
	"StringEquals":              {func(e, p string) bool { return e == p }, false},
	"StringNotEquals":           {func(e, p string) bool { return e == p }, true},
	"StringEqualsIgnoreCase":    {strings.EqualFold, false},
	"StringNotEqualsIgnoreCase": {strings.EqualFold, true},
	"StringLike":                {like, false},
	"StringNotLike":             {like, true},
}

func evaluateCondition(c parsedCondition, claims map[string]any, host string) ConditionResult {
	cr := ConditionResult{Key: c.Key, Operator: c.Operator, Expected: c.Values}
	presented, present := claimValues(c.Key, claims, host)
	prefix, claim := splitConditionKey(c.Key)
	if strings.EqualFold(prefix, host) && !KeyAvailable(host, claim) {
		// AWS never puts this claim into the request, whatever the token holds.
		cr.Unavailable, presented, present = true, nil, false
	}
	cr.Presented = presented
	o := parseOperator(c.Operator)
	if o.base == "Null" {
		cr.Pass = nullCondition(c.Values, present)
		if !cr.Pass {
			cr.Hint = fmt.Sprintf("Null=%s requires the claim to be %s", strings.Join(c.Values, ","), map[bool]string{true: "present", false: "absent"}[!present])
		}
		return cr
	}
	spec, ok := operators[o.base]
	if !ok || (o.set != "" && o.set != "ForAnyValue" && o.set != "ForAllValues") {
		cr.Hint = fmt.Sprintf("operator %s cannot apply to a token's string claims (or is not understood here): use StringEquals or StringLike", c.Operator)
		return cr
	}
	if !present {
		cr.Pass = missingKeyResult(o, spec.negated)
		cr.Hint = missingHint(c, o, cr.Pass, host)
		if cr.Unavailable {
			cr.Hint = unavailableHint(c, o, spec.negated, cr.Pass, host)
		}
		return cr
	}
	cr.Pass = presentKeyResult(o, spec.negated, spec.match, c.Values, presented)
	if !cr.Pass {
		cr.Hint = failureHint(c, spec.negated, failing(spec.match, spec.negated, c.Values, presented))
	} else if o.set == "ForAnyValue" && spec.negated {
		cr.Hint = "ForAnyValue with a negated operator passes if any one value differs: it rarely restricts anything"
	}
	return cr
}

// missingKeyResult: IfExists and ForAllValues pass on a missing key (the
// latter is the classic pitfall), negated operators pass, the rest fail.
func missingKeyResult(o operator, negated bool) bool {
	switch {
	case o.ifExists, o.set == "ForAllValues":
		return true
	case o.set == "ForAnyValue":
		return false
	default:
		return negated
	}
}

func presentKeyResult(o operator, negated bool, match func(e, p string) bool, expected, presented []string) bool {
	ok := func(p string) bool {
		for _, e := range expected {
			if match(e, p) {
				return !negated
			}
		}
		return negated
	}
	anyOK, all := false, true
	for _, p := range presented {
		r := ok(p)
		anyOK = anyOK || r
		all = all && r
	}
	switch {
	case o.set == "ForAllValues":
		return all
	case o.set == "ForAnyValue":
		return anyOK
	case negated: // a single-valued negated operator: none may match
		return all
	default:
		return anyOK
	}
}

// failing lists the presented values that made the condition fail: those
// matching nothing, or for a negated operator those matching something.
func failing(match func(e, p string) bool, negated bool, expected, presented []string) []string {
	var out []string
	for _, p := range presented {
		hit := false
		for _, e := range expected {
			hit = hit || match(e, p)
		}
		if hit == negated {
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return presented
	}
	return out
}

func nullCondition(values []string, present bool) bool {
	for _, v := range values {
		if strings.EqualFold(v, "true") && !present {
			return true
		}
		if strings.EqualFold(v, "false") && present {
			return true
		}
	}
	return false
}

// like implements IAM's StringLike: '*' matches any run, '?' one character.
func like(pattern, s string) bool {
	p, v := []rune(pattern), []rune(s)
	star, mark := -1, 0
	i, j := 0, 0
	for j < len(v) {
		switch {
		case i < len(p) && (p[i] == '?' || p[i] == v[j]):
			i++
			j++
		case i < len(p) && p[i] == '*':
			star, mark = i, j
			i++
		case star >= 0:
			i, mark = star+1, mark+1
			j = mark
		default:
			return false
		}
	}
	for i < len(p) && p[i] == '*' {
		i++
	}
	return i == len(p)
}

// likeFold matches actions, which IAM compares case-insensitively.
func likeFold(pattern, s string) bool {
	return like(strings.ToLower(pattern), strings.ToLower(s))
}
