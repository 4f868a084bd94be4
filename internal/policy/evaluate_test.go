// Table tests of the trust-policy evaluator on the cases that trip people
// up in practice: branch vs environment, letter case, wildcards, the
// immutable subject format, multiple audiences, ForAllValues on a missing
// claim, Deny, and documents as IAM returns them (URL-encoded, scalars).
package policy

import (
	"net/url"
	"strings"
	"testing"
)

const prov = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"

func trustDoc(condition string) string {
	return `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"` + prov +
		`"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":` + condition + `}]}`
}

func claims(aud any, sub string) map[string]any {
	c := map[string]any{"sub": sub}
	if aud != nil {
		c["aud"] = aud
	}
	return c
}

const (
	mainSub   = "repo:acme/shop:ref:refs/heads/main"
	prodSub   = "repo:acme/shop:environment:prod"
	exactMain = `{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com","token.actions.githubusercontent.com:sub":"repo:acme/shop:ref:refs/heads/main"}}`
)

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name    string
		policy  string
		claims  map[string]any
		host    string
		allowed bool
		hintHas string // substring expected in Problems() (refused) or Warnings() (allowed)
	}{
		{"exact branch", trustDoc(exactMain), claims("sts.amazonaws.com", mainSub), "", true, ""},
		{"other branch", trustDoc(exactMain), claims("sts.amazonaws.com", "repo:acme/shop:ref:refs/heads/dev"),
			"", false, "the workflow ran on refs/heads/dev"},
		{"environment vs branch", trustDoc(exactMain), claims("sts.amazonaws.com", prodSub),
			"", false, "the job runs in environment 'prod', so sub is repo:acme/shop:environment:prod; the trust policy allows \"repo:acme/shop:ref:refs/heads/main\": add the environment subject \"repo:acme/shop:environment:prod\" or remove `environment:` from the job"},
		{"branch vs environment", trustDoc(`{"StringEquals":{"token.actions.githubusercontent.com:sub":"` + prodSub + `"}}`),
			claims("sts.amazonaws.com", mainSub), "", false, "the job has no `environment:`"},
		{"case mismatch in value", trustDoc(exactMain), claims("sts.amazonaws.com", "repo:Acme/shop:ref:refs/heads/main"),
			"", false, "only in letter case"},
		{"case-insensitive keys", trustDoc(`{"StringEquals":{"TOKEN.actions.githubusercontent.com:SUB":"` + mainSub + `"}}`),
			claims("sts.amazonaws.com", mainSub), "", true, ""},
		{"IgnoreCase operator", trustDoc(`{"StringEqualsIgnoreCase":{"token.actions.githubusercontent.com:sub":"REPO:ACME/SHOP:REF:REFS/HEADS/MAIN"}}`),
			claims("sts.amazonaws.com", mainSub), "", true, ""},
		{"wildcard subject", trustDoc(`{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/shop:*"}}`),
			claims("sts.amazonaws.com", "repo:acme/shop:pull_request"), "", true, ""},
		{"wildcard question mark", trustDoc(`{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/shop:ref:refs/heads/v?"}}`),
			claims("sts.amazonaws.com", "repo:acme/shop:ref:refs/heads/v10"), "", false, "refs/heads/v10"},
		{"wildcard under StringEquals is literal", trustDoc(`{"StringEquals":{"token.actions.githubusercontent.com:sub":"repo:acme/shop:*"}}`),
			claims("sts.amazonaws.com", mainSub), "", false, "sub"},
		{"pull request refused", trustDoc(exactMain), claims("sts.amazonaws.com", "repo:acme/shop:pull_request"),
			"", false, "triggered by a pull request"},
		{"other repository", trustDoc(exactMain), claims("sts.amazonaws.com", "repo:evil/shop:ref:refs/heads/main"),
			"", false, "comes from repository \"evil/shop\""},
		{"immutable subject vs name policy", trustDoc(exactMain), claims("sts.amazonaws.com", "repo:acme@1001/shop@2002:ref:refs/heads/main"),
			"", false, "immutable subject format"},
		{"immutable subject accepted", trustDoc(`{"StringEquals":{"token.actions.githubusercontent.com:sub":"repo:acme@1001/shop@2002:ref:refs/heads/main"}}`),
			claims("sts.amazonaws.com", "repo:acme@1001/shop@2002:ref:refs/heads/main"), "", true, ""},
		{"multiple values are OR", trustDoc(`{"StringEquals":{"token.actions.githubusercontent.com:sub":["` + mainSub + `","` + prodSub + `"]}}`),
			claims("sts.amazonaws.com", prodSub), "", true, ""},
		{"keys are AND", trustDoc(exactMain), claims("api://other", mainSub), "", false, "audience is \"api://other\""},
		{"operators are AND", trustDoc(`{"StringLike":{"token.actions.githubusercontent.com:sub":"repo:acme/*"},"StringNotEquals":{"token.actions.githubusercontent.com:sub":"repo:acme/shop:pull_request"}}`),
			claims("sts.amazonaws.com", "repo:acme/shop:pull_request"), "", false, "refused on purpose"},
		{"multiple audiences, one matches", trustDoc(exactMain), claims([]any{"other", "sts.amazonaws.com"}, mainSub), "", true, ""},
		{"ForAllValues with extra audience", trustDoc(`{"ForAllValues:StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}`),
			claims([]string{"other", "sts.amazonaws.com"}, mainSub), "", false, "audience"},
		{"ForAllValues pitfall: missing claim passes", trustDoc(`{"ForAllValues:StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}`),
			claims(nil, mainSub), "", true, "ForAllValues is true for an empty set"},
		{"ForAllValues pitfall: empty array passes", trustDoc(`{"ForAllValues:StringLike":{"token.actions.githubusercontent.com:aud":"sts.*"}}`),
			claims([]any{}, mainSub), "", true, "ForAllValues is true for an empty set"},
		{"ForAnyValue on missing claim fails", trustDoc(`{"ForAnyValue:StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}`),
			claims(nil, mainSub), "", false, "no \"aud\" claim"},
		{"IfExists on missing claim passes", trustDoc(`{"StringEqualsIfExists":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com"}}`),
			claims(nil, mainSub), "", true, ""},
		{"negated operator on missing claim passes", trustDoc(`{"StringNotLike":{"token.actions.githubusercontent.com:actor":"bot*"}}`),
			claims(nil, mainSub), "", true, ""},
		{"missing aud fails StringEquals", trustDoc(exactMain), claims(nil, mainSub), "", false, "no \"aud\" claim"},
		{"foreign key is absent", trustDoc(`{"StringEquals":{"accounts.google.com:sub":"x"}}`), claims("sts.amazonaws.com", mainSub),
			"", false, "is not a claim of tokens from"},
		{"Null true on missing claim", trustDoc(`{"Null":{"token.actions.githubusercontent.com:environment":"true"}}`), claims("a", mainSub), "", true, ""},
		{"unknown operator refuses", trustDoc(`{"NumericEquals":{"token.actions.githubusercontent.com:sub":"1"}}`), claims("a", mainSub), "", false, "cannot apply"},
		{"wrong provider", trustDoc(exactMain), claims("sts.amazonaws.com", mainSub), "token.example.test", false, "Principal Federated is"},
		{"wrong action", strings.Replace(trustDoc(exactMain), "sts:AssumeRoleWithWebIdentity", "sts:AssumeRole", 1),
			claims("sts.amazonaws.com", mainSub), "", false, "a GitHub token needs sts:AssumeRoleWithWebIdentity"},
		{"action wildcard, statement object, no array", `{"Version":"2012-10-17","Statement":{"Effect":"Allow","Principal":{"Federated":["` + prov +
			`"]},"Action":["sts:*"],"Condition":` + exactMain + `}}`, claims("sts.amazonaws.com", mainSub), "", true, ""},
		{"deny wins", `{"Version":"2012-10-17","Statement":[` +
			`{"Effect":"Allow","Principal":{"Federated":"` + prov + `"},"Action":"sts:AssumeRoleWithWebIdentity"},` +
			`{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"*:pull_request"}}}]}`,
			claims("sts.amazonaws.com", "repo:acme/shop:pull_request"), "", false, "explicit Deny overrides"},
		{"deny not matching", `{"Version":"2012-10-17","Statement":[` +
			`{"Effect":"Allow","Principal":{"Federated":"` + prov + `"},"Action":"sts:AssumeRoleWithWebIdentity"},` +
			`{"Effect":"Deny","Principal":"*","Action":"sts:*","Condition":{"StringLike":{"token.actions.githubusercontent.com:sub":"*:pull_request"}}}]}`,
			claims("sts.amazonaws.com", mainSub), "", true, ""},
		{"URL-encoded as IAM returns it", url.PathEscape(trustDoc(exactMain)), claims("sts.amazonaws.com", mainSub), "", true, ""},
		{"URL-encoded, refused", url.QueryEscape(trustDoc(exactMain)), claims("sts.amazonaws.com", prodSub), "", false, "environment 'prod'"},
		{"boolean condition value as JSON bool", trustDoc(`{"StringEquals":{"token.actions.githubusercontent.com:sub":"` + mainSub + `","token.actions.githubusercontent.com:environment":true}}`),
			map[string]any{"sub": mainSub, "environment": true}, "", true, ""},
		{"key AWS does not evaluate never matches", trustDoc(`{"StringEquals":{"token.actions.githubusercontent.com:sub":"` + mainSub + `","token.actions.githubusercontent.com:workflow_ref":"acme/shop/.github/workflows/deploy.yml@refs/heads/main"}}`),
			map[string]any{"sub": mainSub, "workflow_ref": "acme/shop/.github/workflows/deploy.yml@refs/heads/main"}, "", false,
			"key token.actions.githubusercontent.com:workflow_ref is not available in AWS"},
		{"unavailable key: StringLike can never allow", trustDoc(`{"StringLike":{"token.actions.githubusercontent.com:event_name":"push"}}`),
			map[string]any{"sub": mainSub, "event_name": "push"}, "", false, "StringLike never matches an absent key, so this statement can never allow"},
		{"unavailable key under IfExists restricts nothing", trustDoc(`{"StringEqualsIfExists":{"token.actions.githubusercontent.com:event_name":"push"}}`),
			map[string]any{"sub": mainSub, "event_name": "pull_request"}, "", true, "StringEqualsIfExists matches an absent key vacuously"},
		{"unavailable key under ForAllValues restricts nothing", trustDoc(`{"ForAllValues:StringEquals":{"token.actions.githubusercontent.com:runner_environment":"github-hosted"}}`),
			map[string]any{"sub": mainSub, "runner_environment": "self-hosted"}, "", true, "ForAllValues is true for an absent key"},
		{"GitHub key job_workflow_ref is evaluated", trustDoc(`{"StringLike":{"token.actions.githubusercontent.com:job_workflow_ref":"acme/shop/.github/workflows/deploy.yml@*"}}`),
			map[string]any{"sub": mainSub, "job_workflow_ref": "acme/shop/.github/workflows/deploy.yml@refs/heads/main"}, "", true, ""},
		{"GitHub key job_workflow_ref mismatch", trustDoc(`{"StringLike":{"token.actions.githubusercontent.com:job_workflow_ref":"acme/shop/.github/workflows/deploy.yml@*"}}`),
			map[string]any{"sub": mainSub, "job_workflow_ref": "acme/shop/.github/workflows/other.yml@refs/heads/main"}, "", false, "the job runs workflow file .github/workflows/other.yml, but the role trusts only .github/workflows/deploy.yml"},
		{"not JSON", "%7Bnot json", claims("a", mainSub), "", false, "not valid JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			host := c.host
			if host == "" {
				host = "https://" + GitHubIssuerHost
			}
			r := Evaluate([]byte(c.policy), c.claims, host)
			if r.Allowed != c.allowed {
				t.Fatalf("allowed = %v, want %v; problems: %v", r.Allowed, c.allowed, r.Problems())
			}
			text := strings.Join(r.Problems(), "\n")
			if c.allowed {
				if len(r.Problems()) != 0 {
					t.Errorf("allowed but problems: %v", r.Problems())
				}
				text = strings.Join(r.Warnings(), "\n")
			}
			if c.hintHas != "" && !strings.Contains(text, c.hintHas) {
				t.Errorf("hints %q do not mention %q", text, c.hintHas)
			}
			if c.hintHas == "" && c.allowed && text != "" {
				t.Errorf("unexpected warnings: %s", text)
			}
		})
	}
}

func TestConditionDetailsNamePresentedAndExpected(t *testing.T) {
	r := Evaluate([]byte(trustDoc(exactMain)), claims("sts.amazonaws.com", prodSub), GitHubIssuerHost)
	var sub *ConditionResult
	for i, c := range r.Statements[0].Conditions {
		if strings.HasSuffix(c.Key, ":sub") {
			sub = &r.Statements[0].Conditions[i]
		}
	}
	if sub == nil || sub.Pass || sub.Operator != "StringEquals" ||
		strings.Join(sub.Presented, "") != prodSub || strings.Join(sub.Expected, "") != mainSub {
		t.Fatalf("sub condition = %+v", sub)
	}
}

func TestLike(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"a*c", "abbbc", true}, {"a*c", "abd", false}, {"a?c", "abc", true},
		{"a?c", "ac", false}, {"*:pull_request", "repo:a/b:pull_request", true}, {"a**b", "ab", true},
		{"abc", "abcd", false}, {"*b*", "aaa", false},
	} {
		if got := like(c.p, c.s); got != c.want {
			t.Errorf("like(%q, %q) = %v", c.p, c.s, got)
		}
	}
}

func TestEvaluateForChecksTheAccountsProvider(t *testing.T) {
	other := strings.Replace(trustDoc(exactMain), "123456789012", "999999999999", 1)
	c := claims("sts.amazonaws.com", mainSub)
	if r := Evaluate([]byte(other), c, GitHubIssuerHost); !r.Allowed {
		t.Fatalf("without a provider ARN the host alone decides: %v", r.Problems())
	}
	r := EvaluateFor([]byte(other), c, GitHubIssuerHost, prov)
	if r.Allowed || !strings.Contains(strings.Join(r.Problems(), "\n"), "this account's GitHub provider is "+prov) {
		t.Errorf("foreign account's provider: allowed=%v problems=%v", r.Allowed, r.Problems())
	}
	if r := EvaluateFor([]byte(trustDoc(exactMain)), c, GitHubIssuerHost, prov); !r.Allowed {
		t.Errorf("own provider refused: %v", r.Problems())
	}
}

func TestEquivalent(t *testing.T) {
	b, _ := Generate(sampleInputs())
	prod, _ := b.Role("ship-shop-prod")
	plain := prod.TrustPolicy.JSON()
	scalars := `{"Version":"2012-10-17","Statement":{"Sid":"GitHubActionsOIDC","Effect":"Allow","Principal":{"Federated":"` + prov +
		`"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com",` +
		`"token.actions.githubusercontent.com:sub":"repo:acme/shop:environment:prod","token.actions.githubusercontent.com:repository_id":"123456789",` +
		`"token.actions.githubusercontent.com:job_workflow_ref":"acme/shop/.github/workflows/deploy.yml@refs/heads/main"}}}}`
	for name, other := range map[string]string{
		"url-encoded":        url.PathEscape(string(plain)),
		"scalars, reordered": scalars,
	} {
		eq, err := Equivalent(plain, []byte(other))
		if err != nil || !eq {
			t.Errorf("%s: equivalent = %v, %v", name, eq, err)
		}
	}
	drifted := strings.Replace(scalars, "environment:prod", "environment:*", 1)
	if eq, _ := Equivalent(plain, []byte(drifted)); eq {
		t.Error("drifted policy reported equivalent")
	}
}

func TestDiff(t *testing.T) {
	b, _ := Generate(sampleInputs())
	prod, _ := b.Role("ship-shop-prod")
	want := prod.TrustPolicy.JSON()
	if d, err := Diff([]byte(url.PathEscape(prod.TrustPolicy.Compact())), want); err != nil || d != nil {
		t.Errorf("IAM-encoded copy differs: %v %v", d, err)
	}
	widened := strings.Replace(string(want), "environment:prod", "*", 1)
	d, err := Diff([]byte(widened), want)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(d, "\n")
	if !strings.Contains(text, `- `) || !strings.Contains(text, `"repo:acme/shop:*"`) || !strings.Contains(text, `"repo:acme/shop:environment:prod"`) {
		t.Errorf("diff does not show the changed subject:\n%s", text)
	}
	if strings.Contains(text, "Federated") {
		t.Errorf("diff shows unchanged lines far from the change:\n%s", text)
	}
	if _, err := Diff([]byte("{"), want); err == nil {
		t.Error("broken current document accepted")
	}
}
