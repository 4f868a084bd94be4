// Tests of the generated roles: golden files pin the exact JSON, text and
// comparison, and property checks guard the least-privilege promises (one
// exact subject per role, the build role never reaches the cluster, each
// environment role edits only its own namespace and cannot push).
package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"dagger/ship/internal/testenv/golden"
)

func sampleInputs() Inputs {
	return Inputs{
		Account:       "123456789012",
		Region:        "eu-west-1",
		GitHubOwner:   "acme",
		GitHubRepo:    "shop",
		RepoID:        "123456789",
		ECRRepository: "acme/shop",
		Cluster:       "prod-eks",
		Environments: []Environment{
			{Name: "dev", Namespace: "fastapi-dev"}, {Name: "staging", Namespace: "fastapi-staging"}, {Name: "prod", Namespace: "fastapi-prod"},
		},
	}
}

func withPlanImmutable() Inputs {
	in := sampleInputs()
	in.OwnerID, in.RepoID, in.IncludeNameSubjects, in.PlanRole = "1001", "2002", true, true
	return in
}

func TestGoldenRenderings(t *testing.T) {
	for name, in := range map[string]Inputs{"default": sampleInputs(), "plan-immutable": withPlanImmutable()} {
		js, err := RenderJSON(in)
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/policies-"+name+".json", js)
		text, err := RenderText(in)
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/policies-"+name+".txt", []byte(text))
		md, err := Comparison(in)
		if err != nil {
			t.Fatal(err)
		}
		golden.Check(t, "testdata/comparison-"+name+".md", []byte(md))
	}
}

// TestJSONShape decodes the machine-readable form the way a Terraform/CDK
// user would: exactly the documented keys, documents as objects.
func TestJSONShape(t *testing.T) {
	js, err := RenderJSON(withPlanImmutable())
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(js, &top); err != nil || strings.Join(sortedCopy(keysOf(top)), ",") != "roles,signingKey" {
		t.Fatalf("top level = %v (%v), want \"roles\" and \"signingKey\"", keysOf(top), err)
	}
	var roles []map[string]json.RawMessage
	if err := json.Unmarshal(top["roles"], &roles); err != nil {
		t.Fatal(err)
	}
	if len(roles) != 5 {
		t.Fatalf("%d roles, want build + 3 environments + plan", len(roles))
	}
	for _, r := range roles {
		if got := strings.Join(sortedCopy(keysOf(r)), ","); got != "accessEntry,environment,kind,name,permissionPolicy,podIdentityAssociation,trustPolicy" {
			t.Errorf("role keys = %s", got)
		}
		for _, k := range []string{"trustPolicy", "permissionPolicy"} {
			if !bytes.HasPrefix(bytes.TrimSpace(r[k]), []byte("{")) {
				t.Errorf("%s is not a JSON object: %s", k, r[k])
			}
		}
	}
	var name, env string
	_ = json.Unmarshal(roles[0]["name"], &name)
	_ = json.Unmarshal(roles[0]["environment"], &env)
	if name != "ship-shop-build" || env != "" || string(roles[0]["accessEntry"]) != "null" {
		t.Errorf("build role = %s %q accessEntry %s", name, env, roles[0]["accessEntry"])
	}
	var access struct{ Namespaces []string }
	_ = json.Unmarshal(roles[3]["accessEntry"], &access)
	_ = json.Unmarshal(roles[3]["environment"], &env)
	if env != "prod" || strings.Join(access.Namespaces, ",") != "fastapi-prod" {
		t.Errorf("prod role: environment %q, namespaces %v", env, access.Namespaces)
	}
}

func keysOf[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestOneRolePerEnvironment(t *testing.T) {
	b, err := Generate(sampleInputs())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range b.Roles {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "ship-shop-build,ship-shop-dev,ship-shop-staging,ship-shop-prod" {
		t.Fatalf("roles = %s (no plan role unless asked)", got)
	}
	for _, e := range sampleInputs().Environments {
		r, _ := b.Role("ship-shop-" + e.Name)
		subs := r.TrustPolicy.Statement[0].Condition["StringEquals"][SubKey]
		if strings.Join(subs, ",") != "repo:acme/shop:environment:"+e.Name || r.Environment != e.Name {
			t.Errorf("%s trusts %v", r.Name, subs)
		}
		if r.AccessEntry == nil || r.AccessEntry.PolicyARN != EditPolicyARN("aws") ||
			strings.Join(r.AccessEntry.Scope.Namespaces, ",") != e.Namespace || r.AccessEntry.Scope.Type != "namespace" {
			t.Errorf("%s access entry = %+v", r.Name, r.AccessEntry)
		}
		all := strings.Join(r.PermissionPolicy.Statement[0].Action, ",")
		if all != "ecr:BatchGetImage,ecr:DescribeImageScanFindings,ecr:DescribeImages,ecr:DescribeRepositories,ecr:GetDownloadUrlForLayer" {
			t.Errorf("%s ECR actions = %s, want read-only (the provenance gate reads the bundle blob)", r.Name, all)
		}
		if login := r.PermissionPolicy.Statement[1]; strings.Join(login.Action, ",") != "ecr:GetAuthorizationToken" {
			t.Errorf("%s: no registry login to read the image's referrers with: %+v", r.Name, login)
		}
		for _, write := range []string{"PutImage", "UploadLayerPart", "InitiateLayerUpload", "CompleteLayerUpload"} {
			if strings.Contains(string(r.PermissionPolicy.JSON()), write) {
				t.Errorf("%s may push (%s)", r.Name, write)
			}
		}
	}
}

func TestBuildRoleCannotReachTheCluster(t *testing.T) {
	b, _ := Generate(sampleInputs())
	r, _ := b.Role("ship-shop-build")
	if r.AccessEntry != nil || strings.Contains(string(r.PermissionPolicy.JSON()), "eks:") {
		t.Errorf("build role reaches the cluster: %+v\n%s", r.AccessEntry, r.PermissionPolicy.JSON())
	}
	subs := r.TrustPolicy.Statement[0].Condition["StringEquals"][SubKey]
	if strings.Join(subs, ",") != "repo:acme/shop:ref:refs/heads/main" {
		t.Errorf("build role trusts %v, want the main branch only", subs)
	}
	push := strings.Join(r.PermissionPolicy.Statement[0].Action, ",")
	for _, a := range []string{"ecr:PutImage", "ecr:DescribeImages", "ecr:CompleteLayerUpload"} {
		if !strings.Contains(push, a) {
			t.Errorf("build role lacks %s: %s", a, push)
		}
	}
}

func TestPlanRoleIsOptInReadOnlyAndWarns(t *testing.T) {
	in := sampleInputs()
	in.PlanRole = true
	b, err := Generate(in)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := b.Role("ship-shop-plan")
	if !ok || r.Environment != "" {
		t.Fatalf("plan role missing: %+v", b.Roles)
	}
	if subs := r.TrustPolicy.Statement[0].Condition["StringEquals"][SubKey]; strings.Join(subs, ",") != "repo:acme/shop:pull_request" {
		t.Errorf("plan role trusts %v", subs)
	}
	if r.AccessEntry.PolicyARN != ViewPolicyARN("aws") || strings.Join(r.AccessEntry.Scope.Namespaces, ",") != "fastapi-dev,fastapi-staging,fastapi-prod" {
		t.Errorf("plan access entry = %+v", r.AccessEntry)
	}
	if strings.Contains(string(r.PermissionPolicy.JSON()), "ecr:") {
		t.Errorf("plan role touches ECR:\n%s", r.PermissionPolicy.JSON())
	}
	if len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "RISK") || !strings.Contains(b.Warnings[0], "any branch") ||
		!strings.Contains(b.Warnings[0], "server-side dry-run needs write rights") {
		t.Errorf("warnings = %v", b.Warnings)
	}
}

func TestEveryGrantIsExplained(t *testing.T) {
	for _, gs := range [][]Grant{BuildActions, ReadActions, {LoginGrant, DescribeClusterGrant}} {
		for _, g := range gs {
			if !strings.Contains(g.Action, ":") || len(g.Why) < 20 {
				t.Errorf("grant %q has no real reason: %q", g.Action, g.Why)
			}
		}
	}
}

func TestLeastPrivilegeProperties(t *testing.T) {
	b, err := Generate(withPlanImmutable())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range b.Roles {
		for _, st := range r.PermissionPolicy.Statement {
			for _, res := range st.Resource {
				if strings.Contains(res, "*") && !((r.Kind == KindBuild || r.Kind == KindDeploy) && strings.Join(st.Action, "") == LoginGrant.Action) {
					t.Errorf("%s: statement %s has wildcard resource %q for %v", r.Name, st.Sid, res, st.Action)
				}
			}
			for _, a := range st.Action {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %q", r.Name, a)
				}
			}
		}
		all := string(r.TrustPolicy.JSON()) + string(r.PermissionPolicy.JSON())
		if r.AccessEntry != nil {
			all += r.AccessEntry.PolicyARN
		}
		for _, bad := range []string{"ClusterAdmin", "AmazonEKSAdminPolicy", "AmazonEKSClusterPolicy", "WorkerNode"} {
			if strings.Contains(all, bad) {
				t.Errorf("%s mentions %s", r.Name, bad)
			}
		}
		// The only pattern: the plan role's pull request number in refs/pull/*/merge.
		for key, values := range r.TrustPolicy.Statement[0].Condition["StringLike"] {
			if r.Kind != KindPlan || key != WorkflowRefKey || len(values) != 1 || !strings.HasSuffix(values[0], "/.github/workflows/pr.yml@refs/pull/*/merge") {
				t.Errorf("%s: StringLike %s %v", r.Name, key, values)
			}
		}
	}
}

func TestImmutableSubjectsForEveryRole(t *testing.T) {
	b, _ := Generate(withPlanImmutable())
	for _, r := range b.Roles {
		subs := r.TrustPolicy.Statement[0].Condition["StringEquals"][SubKey]
		if len(subs) != 2 || !strings.HasPrefix(subs[0], "repo:acme/shop:") || !strings.HasPrefix(subs[1], "repo:acme@1001/shop@2002:") {
			t.Errorf("%s trusts %v, want the immutable and (migration) name-based subject", r.Name, subs)
		}
	}
	in := withPlanImmutable()
	in.IncludeNameSubjects = false
	b, _ = Generate(in)
	for _, r := range b.Roles {
		if subs := r.Subjects; len(subs) != 1 || !strings.HasPrefix(subs[0], "repo:acme@1001/shop@2002:") {
			t.Errorf("%s trusts %v", r.Name, subs)
		}
	}
}

func TestWildcardBranchNeedsOptInAndWarns(t *testing.T) {
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
	cond := b.Roles[0].TrustPolicy.Statement[0].Condition
	if _, ok := cond["StringEquals"][SubKey]; ok {
		t.Error("sub must not be under StringEquals as well as StringLike (AND would refuse every token)")
	}
	if got := cond["StringLike"][SubKey]; len(got) != 1 {
		t.Errorf("StringLike sub = %v", got)
	}
	if len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "RISK") {
		t.Errorf("warnings = %v, want one RISK warning", b.Warnings)
	}
}

func TestInvalidInputs(t *testing.T) {
	cases := []struct {
		field, fixHas string
		mutate        func(*Inputs)
	}{
		{"Account", "12-digit", func(in *Inputs) { in.Account = "1234" }},
		{"Region", "region code", func(in *Inputs) { in.Region = "Europe" }},
		{"Partition", "aws-cn", func(in *Inputs) { in.Partition = "azure" }},
		{"GitHubRepo", "without the owner", func(in *Inputs) { in.GitHubRepo = "a/b" }},
		{"ECRRepository", "lowercase", func(in *Inputs) { in.ECRRepository = "Acme/Shop" }},
		{"Cluster", "EKS cluster name", func(in *Inputs) { in.Cluster = "-x" }},
		{"Environments", "map at least one", func(in *Inputs) { in.Environments = nil }},
		{"Environments", "DNS-1123", func(in *Inputs) { in.Environments[0].Namespace = "Fastapi" }},
		{"Environments", "list each environment once", func(in *Inputs) { in.Environments[1].Name = "DEV" }},
		{"Environments", "own namespace: dev already uses fastapi-dev", func(in *Inputs) { in.Environments[1].Namespace = "fastapi-dev" }},
		{"Environments", "GitHub environment name", func(in *Inputs) { in.Environments[0].Name = "pro d" }},
		{"Environments", "name of the build role", func(in *Inputs) { in.Environments[0].Name = "build" }},
		{"Environments", "name of the plan role", func(in *Inputs) { in.Environments[0].Name = "Plan" }},
		{"Branch", "plain branch", func(in *Inputs) { in.Branch = "a:b" }},
		{"RepoID", "gh api repos/acme/shop --jq .id", func(in *Inputs) { in.RepoID = "" }},
		{"RepoID", "digits only", func(in *Inputs) { in.RepoID = "acme/shop" }},
		{"OwnerID", "numeric owner ID", func(in *Inputs) { in.OwnerID = "acme" }},
		{"DeployWorkflow", "under .github/workflows/", func(in *Inputs) { in.DeployWorkflow = ".github/workflows/deploy.yml" }},
		{"PRWorkflow", "under .github/workflows/", func(in *Inputs) { in.PRWorkflow = "pr" }},
		{"RoleName", "at most 64", func(in *Inputs) { in.Environments[0].Name = strings.Repeat("e", 60) }},
	}
	for _, c := range cases {
		in := sampleInputs()
		in.Environments = append([]Environment(nil), in.Environments...)
		c.mutate(&in)
		_, err := Generate(in)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Field != c.field {
			t.Errorf("%s: err = %v, want InputError on %s", c.field, err, c.field)
			continue
		}
		if !strings.Contains(ie.Fix, c.fixHas) {
			t.Errorf("%s: fix %q does not say %q", c.field, ie.Fix, c.fixHas)
		}
	}
}

func TestParseEnvironments(t *testing.T) {
	got, err := ParseEnvironments([]string{"dev=fastapi-dev", " prod = fastapi-prod "})
	if err != nil || len(got) != 2 || got[1] != (Environment{Name: "prod", Namespace: "fastapi-prod"}) {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range [][]string{{"dev"}, {"=x"}, {"dev="}, {"dev=a", "dev=b"}, {}} {
		_, err := ParseEnvironments(bad)
		var ie *InputError
		if !errors.As(err, &ie) || ie.Fix == "" {
			t.Errorf("%q: err = %v, want an InputError with a fix", bad, err)
		}
	}
}

// job is what a GitHub job presents: its sub, repository_id and job_workflow_ref.
func job(sub, repoID, workflowRef string) map[string]any {
	return map[string]any{"aud": STSAudience, "sub": sub, "repository_id": repoID, "job_workflow_ref": workflowRef}
}

const (
	deployOnMain = "acme/shop/.github/workflows/deploy.yml@refs/heads/main"
	prMerge      = "acme/shop/.github/workflows/pr.yml@refs/pull/42/merge"
)

func TestGeneratedTrustAdmitsExactlyTheConfiguredJobs(t *testing.T) {
	in := sampleInputs()
	in.PlanRole = true
	b, _ := Generate(in)
	allowed := map[string]string{
		"repo:acme/shop:ref:refs/heads/main": "ship-shop-build",
		"repo:acme/shop:environment:dev":     "ship-shop-dev",
		"repo:acme/shop:environment:prod":    "ship-shop-prod",
		"repo:acme/shop:pull_request":        "ship-shop-plan",
	}
	others := []string{"repo:acme/shop:ref:refs/heads/feature", "repo:acme/shop-fork:environment:prod"}
	for _, r := range b.Roles {
		for _, sub := range append(others, "repo:acme/shop:ref:refs/heads/main", "repo:acme/shop:environment:dev", "repo:acme/shop:environment:prod", "repo:acme/shop:pull_request") {
			wf := deployOnMain
			if strings.HasSuffix(sub, ":pull_request") {
				wf = prMerge
			}
			got := Evaluate(r.TrustPolicy.JSON(), job(sub, "123456789", wf), GitHubIssuerHost).Allowed
			if want := allowed[sub] == r.Name; got != want {
				t.Errorf("%s with sub %s: allowed = %v, want %v", r.Name, sub, got, want)
			}
		}
	}
}

// TestTrustPinsRepositoryIDAndWorkflow: the right sub is not enough. A
// re-created repository of the same name (another repository_id) and another
// workflow file or ref of the same repository are refused by every CI role,
// each with a hint that names what differs.
func TestTrustPinsRepositoryIDAndWorkflow(t *testing.T) {
	in := sampleInputs()
	in.PlanRole = true
	b, _ := Generate(in)
	cases := []struct {
		role, sub, repoID, wf, hint string
	}{
		{"ship-shop-prod", "repo:acme/shop:environment:prod", "987654321", deployOnMain, `repository_id "987654321"`},
		{"ship-shop-prod", "repo:acme/shop:environment:prod", "123456789", "acme/shop/.github/workflows/evil.yml@refs/heads/main", "workflow file .github/workflows/evil.yml"},
		{"ship-shop-prod", "repo:acme/shop:environment:prod", "123456789", "acme/shop/.github/workflows/deploy.yml@refs/heads/feature", "on refs/heads/feature"},
		{"ship-shop-prod", "repo:acme/shop:environment:prod", "123456789", "other/lib/.github/workflows/deploy.yml@refs/heads/main", "reusable workflow"},
		{"ship-shop-build", "repo:acme/shop:ref:refs/heads/main", "987654321", deployOnMain, "re-created"},
		{"ship-shop-build", "repo:acme/shop:ref:refs/heads/main", "123456789", "acme/shop/.github/workflows/release.yml@refs/heads/main", "workflow file .github/workflows/release.yml"},
		{"ship-shop-plan", "repo:acme/shop:pull_request", "123456789", "acme/shop/.github/workflows/lint.yml@refs/pull/7/merge", "workflow file .github/workflows/lint.yml"},
		{"ship-shop-plan", "repo:acme/shop:pull_request", "987654321", prMerge, `repository_id "987654321"`},
	}
	for _, c := range cases {
		r, _ := b.Role(c.role)
		res := Evaluate(r.TrustPolicy.JSON(), job(c.sub, c.repoID, c.wf), GitHubIssuerHost)
		problems := strings.Join(res.Problems(), "\n")
		if res.Allowed || !strings.Contains(problems, c.hint) {
			t.Errorf("%s, repository_id %s, workflow %s: allowed=%v, problems:\n%s\nwant a hint with %q", c.role, c.repoID, c.wf, res.Allowed, problems, c.hint)
		}
	}
	// A token without the claims (not GitHub's, or too old a GHES) is refused too.
	prod, _ := b.Role("ship-shop-prod")
	if res := Evaluate(prod.TrustPolicy.JSON(), map[string]any{"aud": STSAudience, "sub": "repo:acme/shop:environment:prod"}, GitHubIssuerHost); res.Allowed {
		t.Error("a token without repository_id and job_workflow_ref was allowed")
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
