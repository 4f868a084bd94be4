// Bootstrap against the signature-checking fake AWS, through the real SDK:
// the first run sends exactly the generated documents for every role, the
// second sends no write at all, a dry run sends no write and shows what
// differs, drift is repaired, the earlier single role is pointed out but left
// alone, and a failed precondition leaves everything untouched.
package bootstrap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/yaml"

	"dagger/ship/internal/policy"
	"dagger/ship/internal/testenv/fakeaws"
)

const (
	adminKey    = "AKIAADMINTESTKEY0001"
	adminSecret = "admin-secret-for-fakeaws-only-0000000000"
)

func inputs() policy.Inputs {
	return policy.Inputs{Account: "123456789012", Region: "eu-west-1", GitHubOwner: "acme", GitHubRepo: "shop", RepoID: "123456789",
		ECRRepository: "acme/shop", Cluster: "prod-eks",
		Environments: []policy.Environment{{Name: "staging", Namespace: "shop-staging"}, {Name: "prod", Namespace: "shop-prod"}}}
}

// adminARN is the administrator user newEnv registers (the same in every test).
var adminARN string

func newEnv(t *testing.T) (*fakeaws.Server, Clients) {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{Account: "123456789012", Region: "eu-west-1"})
	adminARN = s.AddUser(adminKey, adminSecret)
	s.AddCluster("prod-eks", "https://127.0.0.1:6443", []byte("not-a-real-ca"))
	cfg := aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(adminKey, adminSecret, "")}
	return s, NewClients(cfg)
}

var readPrefixes = []string{"Get", "List", "Describe"}

func mutating(s *fakeaws.Server, since int) []fakeaws.Request {
	var out []fakeaws.Request
	for _, r := range s.Requests()[since:] {
		read := false
		for _, p := range readPrefixes {
			read = read || strings.HasPrefix(r.Operation, p)
		}
		if !read {
			out = append(out, r)
		}
	}
	return out
}

func ops(rs []fakeaws.Request) string {
	var names []string
	for _, r := range rs {
		names = append(names, r.Operation)
	}
	return strings.Join(names, ",")
}

func apply(t *testing.T, c Clients, in policy.Inputs, dry bool) (Summary, string) {
	t.Helper()
	var out bytes.Buffer
	sum, err := Apply(context.Background(), c, in, dry, &out)
	if err != nil {
		t.Fatalf("Apply(dry=%v): %v\n%s", dry, err, out.String())
	}
	return sum, out.String()
}

func role(t *testing.T, name string) policy.Role {
	t.Helper()
	b, err := policy.Generate(inputs())
	if err != nil {
		t.Fatal(err)
	}
	r, ok := b.Role(name)
	if !ok {
		t.Fatalf("no role %s", name)
	}
	return r
}

func TestFirstRunCreatesExactlyTheGeneratedSetup(t *testing.T) {
	s, c := newEnv(t)
	_, out := apply(t, c, inputs(), false)

	want := "CreateOpenIDConnectProvider," +
		"CreateRole,PutRolePolicy,CreateRole,PutRolePolicy,CreateRole,PutRolePolicy," +
		"CreateKey,CreateAlias," +
		"CreateRepository,CreateAccessEntry,AssociateAccessPolicy,CreateAccessEntry,AssociateAccessPolicy"
	writes := mutating(s, 0)
	if ops(writes) != want {
		t.Fatalf("writes = %s, want %s\n%s", ops(writes), want, out)
	}
	for _, r := range writes {
		if !r.Signed || r.AccessKey != adminKey || r.Status != 200 {
			t.Errorf("%s: signed=%v key=%s status=%d", r.Operation, r.Signed, r.AccessKey, r.Status)
		}
	}
	p := writes[0].Params
	if p["Url"][0] != policy.GitHubIssuerURL || p["ClientIDList.member.1"][0] != policy.STSAudience || len(p["ClientIDList.member.2"]) != 0 {
		t.Errorf("CreateOpenIDConnectProvider params = %v", p)
	}
	for i, name := range []string{"ship-shop-build", "ship-shop-staging", "ship-shop-prod"} {
		r := role(t, name)
		create, put := writes[1+2*i], writes[2+2*i]
		if create.Params["RoleName"][0] != name || create.Params["AssumeRolePolicyDocument"][0] != r.TrustPolicy.Compact() {
			t.Errorf("CreateRole %s = %v\nwant trust %s", name, create.Params, r.TrustPolicy.Compact())
		}
		if put.Params["PolicyDocument"][0] != r.PermissionPolicy.Compact() || put.Params["PolicyName"][0] != r.PermissionPolicyName {
			t.Errorf("PutRolePolicy %s = %v", name, put.Params)
		}
	}
	if body := writes[9].Body; body["repositoryName"] != "acme/shop" || body["imageTagMutability"] != "IMMUTABLE" ||
		body["imageScanningConfiguration"].(map[string]any)["scanOnPush"] != true ||
		body["encryptionConfiguration"].(map[string]any)["encryptionType"] != "AES256" {
		t.Errorf("CreateRepository body = %v", body)
	}
	entries := s.AccessEntries("prod-eks")
	if len(entries) != 2 {
		t.Fatalf("access entries = %v, want one per environment role and none for the build role", entries)
	}
	for env, ns := range map[string]string{"staging": "shop-staging", "prod": "shop-prod"} {
		r := role(t, "ship-shop-"+env)
		entry, ok := entries[r.ARN]
		if !ok || entry.Type != "STANDARD" || len(entry.Policies) != 1 {
			t.Fatalf("%s access entry = %+v (present %v)", env, entry, ok)
		}
		scope := entry.Policies[policy.EditPolicyARN("aws")]
		if fmt.Sprint(scope) != "map[namespaces:["+ns+"] type:namespace]" {
			t.Errorf("%s scope = %v, want only %s", env, scope, ns)
		}
	}
	if _, ok := entries[role(t, "ship-shop-build").ARN]; ok {
		t.Error("the build role got an access entry")
	}
	if !strings.Contains(out, "13 change(s) made") {
		t.Errorf("output lacks the summary:\n%s", out)
	}
}

func TestSecondRunChangesNothing(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, inputs(), false)
	before := len(s.Requests())
	sum, out := apply(t, c, inputs(), false)
	if w := mutating(s, before); len(w) != 0 {
		t.Fatalf("second run sent writes: %s", ops(w))
	}
	if sum.Changed != 0 || !strings.HasSuffix(strings.TrimSpace(out), "no changes") {
		t.Errorf("changed = %d, output:\n%s", sum.Changed, out)
	}
}

func TestDryRunSendsNoWrite(t *testing.T) {
	s, c := newEnv(t)
	sum, out := apply(t, c, inputs(), true)
	if w := mutating(s, 0); len(w) != 0 {
		t.Fatalf("dry run sent writes: %s", ops(w))
	}
	if sum.Changed != 13 || !strings.Contains(out, "would create IAM role ship-shop-prod (trusts repo:acme/shop:environment:prod)") ||
		!strings.Contains(out, "nothing was sent") {
		t.Errorf("changed = %d, output:\n%s", sum.Changed, out)
	}
	if s.Role("ship-shop-prod") != nil {
		t.Error("dry run created the role")
	}
}

// TestDryRunShowsTheChangedStatements: a hand-widened trust policy and a
// widened inline policy are shown line by line, then repaired.
func TestDryRunShowsTheChangedStatements(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, inputs(), false)
	prod, build := role(t, "ship-shop-prod"), role(t, "ship-shop-build")
	s.TrustRole(prod.ARN, policy.GitHubIssuerURL, policy.STSAudience, "repo:acme/shop:*")
	if _, err := c.IAM.PutRolePolicy(context.Background(), &iam.PutRolePolicyInput{RoleName: &build.Name,
		PolicyName: &build.PermissionPolicyName, PolicyDocument: aws.String(strings.Replace(build.PermissionPolicy.Compact(), `"ecr:PutImage"`, `"ecr:*"`, 1))}); err != nil {
		t.Fatal(err)
	}
	before := len(s.Requests())
	_, out := apply(t, c, inputs(), true)
	if w := mutating(s, before); len(w) != 0 {
		t.Fatalf("dry run sent writes: %s", ops(w))
	}
	for _, line := range []string{"would update IAM role ship-shop-prod (trust policy differs)", "would update IAM inline policy ship-shop-build/ship-build"} {
		if !strings.Contains(out, line) {
			t.Errorf("dry run lacks %q:\n%s", line, out)
		}
	}
	for _, line := range []string{`- "repo:acme/shop:*"`, `+ "repo:acme/shop:environment:prod"`, `- "StringLike": {`, `- "ecr:*",`, `+ "ecr:PutImage",`} {
		if !hasDiffLine(out, line) {
			t.Errorf("dry run lacks the diff line %q:\n%s", line, out)
		}
	}
	before = len(s.Requests())
	apply(t, c, inputs(), false)
	if w := mutating(s, before); ops(w) != "PutRolePolicy,UpdateAssumeRolePolicy" || w[1].Params["PolicyDocument"][0] != prod.TrustPolicy.Compact() {
		t.Fatalf("repair writes = %s", ops(w))
	}
	if eq, _ := policy.Equivalent([]byte(s.Role("ship-shop-prod").TrustPolicy), prod.TrustPolicy.JSON()); !eq {
		t.Error("trust policy not restored")
	}
	before = len(s.Requests())
	apply(t, c, inputs(), false)
	if w := mutating(s, before); len(w) != 0 {
		t.Errorf("run after repair sent writes: %s", ops(w))
	}
}

// hasDiffLine finds "<sign> <text>" with any indentation between them.
func hasDiffLine(out, want string) bool {
	sign, text, _ := strings.Cut(want, " ")
	for _, l := range strings.Split(out, "\n") {
		rest, ok := strings.CutPrefix(strings.TrimSpace(l), sign)
		if ok && strings.TrimSpace(rest) == text {
			return true
		}
	}
	return false
}

func TestProviderMissingClientID(t *testing.T) {
	s, c := newEnv(t)
	s.AddOIDCProvider(policy.GitHubIssuerURL, "other-audience")
	apply(t, c, inputs(), false)
	if w := s.RequestsFor("AddClientIDToOpenIDConnectProvider"); len(w) != 1 || w[0].Params["ClientID"][0] != policy.STSAudience {
		t.Errorf("AddClientID requests = %v", w)
	}
	if len(s.RequestsFor("CreateOpenIDConnectProvider")) != 0 {
		t.Error("existing provider was re-created")
	}
}

// TestScopeDriftShowsNamespaces: a deploy role's association moved to
// another namespace is shown as namespaces added/removed and re-associated;
// an extra cluster-admin association is flagged for review, untouched.
func TestScopeDriftShowsNamespaces(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, inputs(), false)
	prod := role(t, "ship-shop-prod")
	admin := "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
	for arn, scope := range map[string]ekstypes.AccessScope{
		prod.AccessEntry.PolicyARN: {Type: "namespace", Namespaces: []string{"shop-staging"}},
		admin:                      {Type: "cluster"},
	} {
		if _, err := c.EKS.AssociateAccessPolicy(context.Background(), &eks.AssociateAccessPolicyInput{ClusterName: aws.String("prod-eks"),
			PrincipalArn: &prod.ARN, PolicyArn: aws.String(arn), AccessScope: &scope}); err != nil {
			t.Fatal(err)
		}
	}
	_, dry := apply(t, c, inputs(), true)
	for _, line := range []string{"would update EKS access policy AmazonEKSEditPolicy of ship-shop-prod", "+ namespace shop-prod", "- namespace shop-staging",
		"review EKS access policy AmazonEKSClusterAdminPolicy of ship-shop-prod"} {
		if !strings.Contains(dry, line) {
			t.Errorf("dry run lacks %q:\n%s", line, dry)
		}
	}
	before := len(s.Requests())
	_, out := apply(t, c, inputs(), false)
	if w := mutating(s, before); ops(w) != "AssociateAccessPolicy" {
		t.Fatalf("writes = %s\n%s", ops(w), out)
	}
	if _, still := s.AccessEntries("prod-eks")[prod.ARN].Policies[admin]; !still {
		t.Error("bootstrap removed an association on its own")
	}
}

func TestPlanRoleOnlyWhenAsked(t *testing.T) {
	s, c := newEnv(t)
	in := inputs()
	in.PlanRole = true
	_, out := apply(t, c, in, false)
	plan, _ := policy.Generate(in)
	r, _ := plan.Role("ship-shop-plan")
	entry, ok := s.AccessEntries("prod-eks")[r.ARN]
	if !ok || fmt.Sprint(entry.Policies[policy.ViewPolicyARN("aws")]) != "map[namespaces:[shop-staging shop-prod] type:namespace]" || len(entry.Policies) != 1 {
		t.Errorf("plan access entry = %+v (present %v)", entry, ok)
	}
	if !strings.Contains(out, "WARNING: RISK: the plan role ship-shop-plan trusts repo:acme/shop:pull_request") {
		t.Errorf("no risk printed:\n%s", out)
	}
	s2, c2 := newEnv(t)
	apply(t, c2, inputs(), false)
	if s2.Role("ship-shop-plan") != nil {
		t.Error("plan role created without being asked for")
	}
}

func TestLegacyRoleIsPointedOutNotDeleted(t *testing.T) {
	s, c := newEnv(t)
	legacy := "arn:aws:iam::123456789012:role/ship-deploy-shop"
	s.TrustRole(legacy, policy.GitHubIssuerURL, policy.STSAudience, "repo:acme/shop:*")
	_, out := apply(t, c, inputs(), false)
	for _, want := range []string{"review IAM role ship-deploy-shop", "still exists", "NOT changed",
		"aws iam delete-role --role-name ship-deploy-shop", "aws eks delete-access-entry --cluster-name prod-eks --principal-arn " + legacy} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if s.Role("ship-deploy-shop") == nil {
		t.Error("bootstrap deleted the old role")
	}
	for _, w := range mutating(s, 0) {
		if w.Params["RoleName"] != nil && w.Params["RoleName"][0] == "ship-deploy-shop" {
			t.Errorf("bootstrap wrote to the old role: %s", w.Operation)
		}
	}
}

func TestNextSteps(t *testing.T) {
	got, err := NextSteps(inputs())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"AWS_REGION=eu-west-1", "ECR_REPOSITORY=acme/shop", "EKS_CLUSTER=prod-eks",
		"AWS_BUILD_ROLE_ARN=arn:aws:iam::123456789012:role/ship-shop-build",
		"staging: AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ship-shop-staging",
		"prod: AWS_ROLE_ARN=arn:aws:iam::123456789012:role/ship-shop-prod",
		`Deployment branches to the selected branch "main" only`, "required reviewers to prod",
		"environment:<env> subject does not name its branch",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("next steps lack %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "AWS_PLAN_ROLE_ARN") {
		t.Errorf("plan role variable without the plan role:\n%s", got)
	}
	in := inputs()
	in.PlanRole = true
	if got, _ := NextSteps(in); !strings.Contains(got, "AWS_PLAN_ROLE_ARN=arn:aws:iam::123456789012:role/ship-shop-plan") {
		t.Errorf("plan role variable missing:\n%s", got)
	}
}

func TestFailedPreconditionChangesNothing(t *testing.T) {
	s, c := newEnv(t)
	in := inputs()
	in.Cluster = "missing"
	var out bytes.Buffer
	_, err := Apply(context.Background(), c, in, false, &out)
	var nr *ClusterNotReadyError
	if !errors.As(err, &nr) || !strings.Contains(err.Error(), "create the cluster first") {
		t.Fatalf("err = %v, want ClusterNotReadyError", err)
	}
	if w := mutating(s, 0); len(w) != 0 {
		t.Errorf("half-applied: %s", ops(w))
	}

	in = inputs()
	in.Branch = "feature/*"
	_, err = Apply(context.Background(), c, in, false, &out)
	var ie *policy.InputError
	if !errors.As(err, &ie) || len(mutating(s, 0)) != 0 {
		t.Errorf("bad input: err = %v, writes %s", err, ops(mutating(s, 0)))
	}
}

func TestApplyErrorNamesProgress(t *testing.T) {
	s, c := newEnv(t)
	s.FailNext("CreateRepository", fakeaws.APIError{Code: "KmsException", Message: "KMS key is disabled", Status: 400}, 1)
	var out bytes.Buffer
	_, err := Apply(context.Background(), c, inputs(), false, &out)
	var ae *ApplyError
	if !errors.As(err, &ae) || len(ae.Applied) != 8 || !strings.Contains(err.Error(), "KmsException") ||
		!strings.Contains(err.Error(), "run again") {
		t.Fatalf("err = %v", err)
	}
	apply(t, c, inputs(), false) // the rerun completes from where it stopped
	if s.Repository("acme/shop") == nil || len(s.RequestsFor("CreateRole")) != 3 {
		t.Error("rerun did not complete idempotently")
	}
}

func TestNamespaceManifestsDecode(t *testing.T) {
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(NamespaceManifests([]string{"shop", "shop-jobs"})), 4096)
	var names []string
	for {
		var ns corev1.Namespace
		if err := dec.Decode(&ns); err != nil {
			break
		}
		if ns.Kind != "Namespace" || ns.APIVersion != "v1" || ns.Labels[ManagedByLabel] != "ship-bootstrap" {
			t.Errorf("namespace = %+v", ns)
		}
		names = append(names, ns.Name)
	}
	if strings.Join(names, ",") != "shop,shop-jobs" {
		t.Errorf("names = %v", names)
	}
}
