// Tests of the generated documents: golden files pin the exact JSON, and
// property checks guard the least-privilege promises (no '*' resource but
// ECR login, no cluster-admin, exact subjects).
package policy

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleInputs() Inputs {
	return Inputs{
		Account:       "123456789012",
		Region:        "eu-west-1",
		GitHubOwner:   "acme",
		GitHubRepo:    "shop",
		Branch:        "main",
		Environments:  []string{"prod"},
		ECRRepository: "acme/shop",
		Cluster:       "prod-eks",
		Namespaces:    []string{"shop"},
	}
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from golden (run with -update if intended):\n--- got\n%s\n--- want\n%s", name, got, want)
	}
}

func TestGoldenDocuments(t *testing.T) {
	immutable := sampleInputs()
	immutable.OwnerID, immutable.RepoID, immutable.IncludeNameSubjects = "1001", "2002", true
	cases := map[string]Inputs{"default": sampleInputs(), "immutable": immutable}
	for name, in := range cases {
		b, err := Generate(in)
		if err != nil {
			t.Fatal(err)
		}
		golden(t, name+"-trust.json", b.TrustPolicy.JSON())
		golden(t, name+"-permissions.json", b.PermissionPolicy.JSON())
	}
	md, err := Comparison(sampleInputs())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "comparison.md", []byte(md))
}

func TestGenerateIsDeterministic(t *testing.T) {
	in := sampleInputs()
	in.Environments = []string{"staging", "prod"}
	a, _ := Generate(in)
	in.Environments = []string{"prod", "staging"}
	b, _ := Generate(in)
	if !bytes.Equal(a.TrustPolicy.JSON(), b.TrustPolicy.JSON()) {
		t.Errorf("environment order changed the trust policy:\n%s\n%s", a.TrustPolicy.JSON(), b.TrustPolicy.JSON())
	}
}

func TestLeastPrivilegeProperties(t *testing.T) {
	b, err := Generate(sampleInputs())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range b.PermissionPolicy.Statement {
		for _, r := range st.Resource {
			if strings.Contains(r, "*") && !(len(st.Action) == 1 && st.Action[0] == "ecr:GetAuthorizationToken") {
				t.Errorf("statement %s has wildcard resource %q for %v", st.Sid, r, st.Action)
			}
		}
		for _, a := range st.Action {
			if strings.Contains(a, "*") {
				t.Errorf("wildcard action %q", a)
			}
		}
	}
	all := string(b.TrustPolicy.JSON()) + string(b.PermissionPolicy.JSON()) + b.AccessEntry.PolicyARN
	for _, bad := range []string{"ClusterAdmin", "AmazonEKSAdminPolicy", "AmazonEKSClusterPolicy", "WorkerNode", "StringLike"} {
		if strings.Contains(all, bad) {
			t.Errorf("generated setup mentions %s", bad)
		}
	}
	if b.AccessEntry.Scope.Type != "namespace" || strings.Join(b.AccessEntry.Scope.Namespaces, ",") != "shop" {
		t.Errorf("access scope = %+v, want namespace [shop]", b.AccessEntry.Scope)
	}
	subs := b.TrustPolicy.Statement[0].Condition["StringEquals"][SubKey]
	want := []string{"repo:acme/shop:environment:prod", "repo:acme/shop:ref:refs/heads/main"}
	if strings.Join(subs, ",") != strings.Join(want, ",") {
		t.Errorf("subjects = %v, want %v", subs, want)
	}
	if len(b.Warnings) != 0 {
		t.Errorf("exact subjects produced warnings: %v", b.Warnings)
	}
}

func TestWildcardNeedsOptInAndWarns(t *testing.T) {
	in := sampleInputs()
	in.Branch = "release/*"
	_, err := Generate(in)
	var ie *InputError
	if !errors.As(err, &ie) || ie.Field != "Branch" {
		t.Fatalf("wildcard without opt-in: err = %v, want InputError on Branch", err)
	}
	in.AllowWildcardSubject = true
	b, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	cond := b.TrustPolicy.Statement[0].Condition
	if _, ok := cond["StringEquals"][SubKey]; ok {
		t.Error("sub must not be under StringEquals as well as StringLike (AND would refuse every token)")
	}
	if got := cond["StringLike"][SubKey]; len(got) != 2 {
		t.Errorf("StringLike sub = %v", got)
	}
	if len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "RISK") {
		t.Errorf("warnings = %v, want one RISK warning", b.Warnings)
	}
}

func TestInvalidInputs(t *testing.T) {
	cases := []struct {
		field  string
		mutate func(*Inputs)
	}{
		{"Account", func(in *Inputs) { in.Account = "1234" }},
		{"Region", func(in *Inputs) { in.Region = "Europe" }},
		{"Partition", func(in *Inputs) { in.Partition = "azure" }},
		{"GitHubRepo", func(in *Inputs) { in.GitHubRepo = "a/b" }},
		{"ECRRepository", func(in *Inputs) { in.ECRRepository = "Acme/Shop" }},
		{"Cluster", func(in *Inputs) { in.Cluster = "-x" }},
		{"Namespaces", func(in *Inputs) { in.Namespaces = nil }},
		{"Namespaces", func(in *Inputs) { in.Namespaces = []string{"Shop"} }},
		{"Namespaces", func(in *Inputs) { in.Namespaces = []string{"a", "a"} }},
		{"Branch/Environments", func(in *Inputs) { in.Branch, in.Environments = "", nil }},
		{"Environments", func(in *Inputs) { in.Environments = []string{"pro d"} }},
		{"OwnerID/RepoID", func(in *Inputs) { in.OwnerID = "5" }},
		{"RoleName", func(in *Inputs) { in.RoleName = strings.Repeat("r", 65) }},
	}
	for _, c := range cases {
		in := sampleInputs()
		c.mutate(&in)
		_, err := Generate(in)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: err = %v, want InputError on %s", c.field, err, c.field)
			continue
		}
		if ie.Fix == "" {
			t.Errorf("%s: error has no fix", c.field)
		}
	}
}

func TestGeneratedTrustAdmitsExactlyTheConfiguredJobs(t *testing.T) {
	b, _ := Generate(sampleInputs())
	doc := b.TrustPolicy.JSON()
	for sub, want := range map[string]bool{
		"repo:acme/shop:ref:refs/heads/main":    true,
		"repo:acme/shop:environment:prod":       true,
		"repo:acme/shop:ref:refs/heads/feature": false,
		"repo:acme/shop:pull_request":           false,
		"repo:acme/shop-fork:environment:prod":  false,
	} {
		r := Evaluate(doc, map[string]any{"aud": STSAudience, "sub": sub}, GitHubIssuerHost)
		if r.Allowed != want {
			t.Errorf("sub %s: allowed = %v, want %v (%v)", sub, r.Allowed, want, r.Problems())
		}
	}
}

func TestBranchNamesGitAllows(t *testing.T) {
	for _, br := range []string{"release/v1.2", "feat+x", "user@fix", "Main"} {
		in := sampleInputs()
		in.Branch = br
		if _, err := Generate(in); err != nil {
			t.Errorf("branch %q refused: %v", br, err)
		}
	}
	for _, br := range []string{"a:b", "a..b", "a b", "a~1", "a[x"} {
		in := sampleInputs()
		in.Branch = br
		if _, err := Generate(in); err == nil {
			t.Errorf("branch %q accepted", br)
		}
	}
}
