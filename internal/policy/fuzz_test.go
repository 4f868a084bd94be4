// Fuzz target for the trust policy parser and evaluator: documents come from IAM (URL-encoded), from files
// users pass to doctor, and from whatever a role holds. Whatever they contain, evaluation must not panic, a
// refusal must be explained, and a parse failure must never allow. `go test` runs the seeds only.
package policy

import (
	"net/url"
	"testing"
)

func FuzzTrustPolicy(f *testing.F) {
	in := sampleInputs()
	in.PlanRole, in.OwnerID, in.IncludeNameSubjects = true, "1001", true
	b, err := Generate(in)
	if err != nil {
		f.Fatal(err)
	}
	for _, r := range b.Roles {
		f.Add(r.TrustPolicy.JSON(), "repo:acme/shop:environment:prod", deployOnMain)
		f.Add([]byte(url.PathEscape(r.TrustPolicy.Compact())), "repo:acme/shop:pull_request", prMerge)
	}
	for _, doc := range []string{
		`{"Statement":{"Effect":"Allow","Principal":"*","Action":"sts:*","Condition":{"ForAllValues:StringLike":{"token.actions.githubusercontent.com:sub":["repo:*"]}}}}`,
		`{"Statement":[{"Effect":"Deny","Principal":{"Federated":["x"]},"NotAction":"iam:*","Condition":{"StringNotEqualsIfExists":{"k":true}}}]}`,
		`{"Statement":[{"Effect":"Allow","Condition":{"Null":{"token.actions.githubusercontent.com:environment":"false"}}}]}`,
		`%7B%22Statement%22%3A%5B%5D%7D`, `{"Statement":[]}`, `{}`, `null`, `%zz`, ``, `{"Statement":[{"Effect":"Maybe"}]}`,
	} {
		f.Add([]byte(doc), "repo:acme/shop:ref:refs/heads/main", "acme/shop/.github/workflows/x.yml@refs/heads/main")
	}
	f.Fuzz(func(t *testing.T, doc []byte, sub, workflowRef string) {
		r := Evaluate(doc, job(sub, "123456789", workflowRef), GitHubIssuerHost)
		if r.Err != nil && r.Allowed {
			t.Fatalf("a document that does not parse allowed the token: %v", r.Err)
		}
		if !r.Allowed && len(r.Problems()) == 0 {
			t.Fatal("refused without a reason")
		}
		_ = r.Warnings()
		if eq, err := Equivalent(doc, doc); err == nil && !eq {
			t.Fatal("a document is not equivalent to itself")
		}
	})
}
