// A local evaluator of a role's trust policy against a token's claims. AWS
// answers a mismatch only with "Not authorized to perform
// sts:AssumeRoleWithWebIdentity"; this says which condition failed, what the
// token presented, and what to change. It follows IAM's rules: OR within a
// key's values, AND across keys and operators, explicit Deny wins, keys are
// case-insensitive while values are case-sensitive (unless ...IgnoreCase),
// and ForAllValues on a missing key is true.
package policy

import (
	"fmt"
	"strings"
)

// WebIdentityAction is the action the trust policy must allow.
const WebIdentityAction = "sts:AssumeRoleWithWebIdentity"

// ConditionResult is one operator/key pair of a statement.
type ConditionResult struct {
	Key       string
	Operator  string
	Expected  []string
	Presented []string // the token's values; empty when the claim is absent
	// Unavailable: AWS does not evaluate this key for the provider, so the
	// request never has it, whatever the token holds (see keys.go).
	Unavailable bool
	Pass        bool
	Hint        string // what is wrong and what to change; may warn on a pass
}

// StatementResult says whether one statement applies to the token.
type StatementResult struct {
	Index          int
	Sid            string
	Effect         string
	PrincipalMatch bool
	ActionMatch    bool
	Conditions     []ConditionResult
	Applies        bool
	Hint           string // principal/action problems
}

// Result of evaluating a trust policy.
type Result struct {
	Allowed    bool
	Statements []StatementResult
	// Err is set when the policy could not be parsed; Allowed is then false.
	Err error
}

// Evaluate checks claims (keyed without the issuer prefix: "aud", "sub")
// from a token issued by providerHost (issuer URL without https://).
func Evaluate(trustPolicyJSON []byte, claims map[string]any, providerHost string) Result {
	return EvaluateFor(trustPolicyJSON, claims, providerHost, "")
}

// EvaluateFor is Evaluate that also requires the Federated principal to be
// providerARN (the provider in the role's own account), when it is set: STS
// matches the token to the provider in the account that owns the role.
func EvaluateFor(trustPolicyJSON []byte, claims map[string]any, providerHost, providerARN string) Result {
	doc, err := parseDocument(trustPolicyJSON)
	if err != nil {
		return Result{Err: fmt.Errorf("read trust policy: %w", err)}
	}
	providerHost = strings.TrimSuffix(strings.TrimPrefix(providerHost, "https://"), "/")
	var res Result
	allowed, denied := false, false
	for i, st := range doc.Statements {
		sr := evaluateStatement(st, claims, providerHost, providerARN)
		sr.Index = i
		res.Statements = append(res.Statements, sr)
		if sr.Applies && st.Effect == "Deny" {
			denied = true
		}
		if sr.Applies && st.Effect == "Allow" {
			allowed = true
		}
	}
	res.Allowed = allowed && !denied
	return res
}

func evaluateStatement(st parsedStatement, claims map[string]any, host, providerARN string) StatementResult {
	sr := StatementResult{Sid: st.Sid, Effect: st.Effect}
	var hints []string
	sr.PrincipalMatch, hints = principalMatches(st.Principal, host, hints)
	if sr.PrincipalMatch && providerARN != "" {
		sr.PrincipalMatch, hints = principalIsProvider(st.Principal, providerARN, hints)
	}
	sr.ActionMatch, hints = actionMatches(st, hints)
	allPass := true
	for _, c := range st.Conditions {
		cr := evaluateCondition(c, claims, host)
		allPass = allPass && cr.Pass
		sr.Conditions = append(sr.Conditions, cr)
	}
	sr.Applies = sr.PrincipalMatch && sr.ActionMatch && allPass
	if sr.Applies && st.Effect == "Deny" {
		hints = append(hints, "this Deny statement matches the token, and an explicit Deny overrides every Allow: narrow or remove it")
	}
	sr.Hint = strings.Join(hints, "; ")
	return sr
}

func principalMatches(p *parsedPrincipal, host string, hints []string) (bool, []string) {
	if p == nil {
		return false, append(hints, "the statement has no Principal: a trust policy must name the OIDC provider as Principal Federated")
	}
	if p.Any {
		return true, hints
	}
	suffix := ":oidc-provider/" + strings.ToLower(host)
	for _, f := range p.Federated {
		if strings.HasPrefix(f, "arn:") && strings.HasSuffix(strings.ToLower(f), suffix) {
			return true, hints
		}
	}
	if len(p.Federated) == 0 {
		return false, append(hints, fmt.Sprintf("Principal has no Federated entry: web identity needs \"Federated\": \"arn:aws:iam::<account>:oidc-provider/%s\"", host))
	}
	return false, append(hints, fmt.Sprintf("Principal Federated is %s but the token was issued by %s: use the ARN of the IAM OIDC provider for %s",
		strings.Join(p.Federated, ", "), host, host))
}

// principalIsProvider requires the exact provider ARN (account included):
// a provider ARN of another account names a provider STS never uses here.
func principalIsProvider(p *parsedPrincipal, providerARN string, hints []string) (bool, []string) {
	if p.Any {
		return true, hints
	}
	for _, f := range p.Federated {
		if strings.EqualFold(f, providerARN) {
			return true, hints
		}
	}
	return false, append(hints, fmt.Sprintf("Principal Federated is %s, but this account's GitHub provider is %s: STS only uses the provider in the role's own account; set Federated to %s",
		strings.Join(p.Federated, ", "), providerARN, providerARN))
}

func actionMatches(st parsedStatement, hints []string) (bool, []string) {
	if st.HasNotAction {
		for _, a := range st.NotAction {
			if likeFold(a, WebIdentityAction) {
				return false, append(hints, "NotAction excludes "+WebIdentityAction)
			}
		}
		return true, hints
	}
	for _, a := range st.Action {
		if likeFold(a, WebIdentityAction) {
			return true, hints
		}
	}
	return false, append(hints, fmt.Sprintf("Action is %s: a GitHub token needs %s",
		strings.Join(st.Action, ", "), WebIdentityAction))
}

// claimValues returns the token's values for a condition key.
func claimValues(key string, claims map[string]any, host string) ([]string, bool) {
	prefix, name := splitConditionKey(key)
	if !strings.EqualFold(prefix, host) {
		return nil, false
	}
	for k, v := range claims {
		if !strings.EqualFold(k, name) {
			continue
		}
		switch x := v.(type) {
		case []string:
			return x, len(x) > 0
		case []any:
			var out []string
			for _, it := range x {
				if s, ok := scalarString(it); ok {
					out = append(out, s)
				}
			}
			return out, len(out) > 0
		default:
			if s, ok := scalarString(x); ok {
				return []string{s}, true
			}
		}
	}
	return nil, false
}

// Problems explains a refusal: for each Allow that did not apply, every
// failed part; for each Deny that did, why it wins. Empty when allowed.
func (r Result) Problems() []string {
	if r.Err != nil {
		return []string{r.Err.Error()}
	}
	if r.Allowed {
		return nil
	}
	var out []string
	for _, s := range r.Statements {
		if (s.Effect == "Allow") == s.Applies {
			continue
		}
		name := fmt.Sprintf("statement %d", s.Index)
		if s.Sid != "" {
			name += " (" + s.Sid + ")"
		}
		if s.Hint != "" {
			out = append(out, name+": "+s.Hint)
		}
		for _, c := range s.Conditions {
			if !c.Pass && s.Effect == "Allow" {
				out = append(out, fmt.Sprintf("%s: %s %s failed: %s", name, c.Operator, c.Key, c.Hint))
			}
		}
	}
	if len(out) == 0 {
		out = append(out, "the trust policy has no Allow statement for "+WebIdentityAction)
	}
	return out
}

// Warnings lists conditions that passed for a fragile reason (ForAllValues
// on a missing claim, ForAnyValue with a negated operator).
func (r Result) Warnings() []string {
	var out []string
	for _, s := range r.Statements {
		for _, c := range s.Conditions {
			if c.Pass && c.Hint != "" {
				out = append(out, fmt.Sprintf("statement %d: %s %s: %s", s.Index, c.Operator, c.Key, c.Hint))
			}
		}
	}
	return out
}
