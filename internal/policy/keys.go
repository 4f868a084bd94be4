// The condition keys AWS evaluates for web identity tokens. AWS does not put
// every claim of a token into the request context: a condition on any other
// key under the provider's prefix sees an absent key, so StringEquals or
// StringLike on it never matches and the statement can never allow, while
// ...IfExists, ForAllValues and negated operators match vacuously and restrict
// nothing. Evaluating such a key against the token's claim (as a naive
// evaluator would) says ✔ where AWS refuses.
//
// Source: IAM User Guide, "IAM and AWS STS condition context keys", section
// "Available keys for AWS OIDC federation": the Default tab (aud, sub, amr,
// email, oaud for any OIDC provider) and the GitHub tab (the keys below, for
// token.actions.githubusercontent.com, usable in trust policies only).
package policy

import (
	"fmt"
	"strings"
)

// DefaultOIDCKeys are the claims AWS exposes for any OIDC provider.
var DefaultOIDCKeys = []string{"amr", "aud", "email", "oaud", "sub"}

// GitHubOIDCKeys are the GitHub Actions claims AWS also exposes for
// token.actions.githubusercontent.com. Others GitHub emits (workflow_ref,
// event_name, repository_owner, ref_type, runner_environment, ...) are not.
var GitHubOIDCKeys = []string{"actor", "actor_id", "enterprise_id", "environment", "job_workflow_ref",
	"ref", "repository", "repository_id", "repository_owner_id", "workflow"}

// KeyAvailable reports whether AWS puts claim into the request context for
// tokens from the provider at host.
func KeyAvailable(host, claim string) bool {
	claim = strings.ToLower(claim)
	if contains(DefaultOIDCKeys, claim) {
		return true
	}
	return strings.EqualFold(host, GitHubIssuerHost) && contains(GitHubOIDCKeys, claim)
}

// AvailableKeys lists the keys for host, for messages.
func AvailableKeys(host string) []string {
	keys := append([]string(nil), DefaultOIDCKeys...)
	if strings.EqualFold(host, GitHubIssuerHost) {
		keys = append(keys, GitHubOIDCKeys...)
	}
	return sortedCopy(keys)
}

// unavailableHint says what an unavailable key does to the statement.
func unavailableHint(c parsedCondition, o operator, negated, pass bool, host string) string {
	_, claim := splitConditionKey(c.Key)
	head := fmt.Sprintf("key %s is not available in AWS (for tokens from %s AWS evaluates only %s), so the request never has it",
		c.Key, host, strings.Join(AvailableKeys(host), ", "))
	switch {
	case pass && o.ifExists:
		return head + fmt.Sprintf(": %s matches an absent key vacuously, so this condition restricts nothing; express the restriction in sub, or remove it", c.Operator)
	case pass && o.set == "ForAllValues":
		return head + fmt.Sprintf(": ForAllValues is true for an absent key (an empty set), so this condition restricts nothing; express the restriction in sub, or remove it")
	case pass && negated:
		return head + fmt.Sprintf(": %s on an absent key is always true, so this condition restricts nothing; express the restriction in sub, or remove it", c.Operator)
	case pass:
		return ""
	}
	return head + fmt.Sprintf(": %s never matches an absent key, so this statement can never allow any token; remove the %q condition and express the restriction in sub", c.Operator, claim)
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
