// Bootstrap against the signature-checking fake AWS, through the real SDK:
// the first run sends exactly the generated documents, the second sends no
// write at all, a dry run sends no write, drift is repaired, and a failed
// precondition leaves everything untouched.
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
	return policy.Inputs{Account: "123456789012", Region: "eu-west-1", GitHubOwner: "acme", GitHubRepo: "shop",
		Branch: "main", Environments: []string{"prod"}, ECRRepository: "acme/shop", Cluster: "prod-eks",
		Namespaces: []string{"shop", "shop-jobs"}}
}

func newEnv(t *testing.T) (*fakeaws.Server, Clients) {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{Account: "123456789012", Region: "eu-west-1"})
	s.AddUser(adminKey, adminSecret)
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

func TestFirstRunCreatesExactlyTheGeneratedSetup(t *testing.T) {
	s, c := newEnv(t)
	b, _ := policy.Generate(inputs())
	_, out := apply(t, c, inputs(), false)

	want := "CreateOpenIDConnectProvider,CreateRole,PutRolePolicy,CreateRepository,CreateAccessEntry,AssociateAccessPolicy"
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
	if got := writes[1].Params["AssumeRolePolicyDocument"][0]; got != b.TrustPolicy.Compact() {
		t.Errorf("CreateRole trust policy =\n%s\nwant\n%s", got, b.TrustPolicy.Compact())
	}
	if got := writes[2].Params; got["PolicyDocument"][0] != b.PermissionPolicy.Compact() || got["PolicyName"][0] != b.PermissionPolicyName {
		t.Errorf("PutRolePolicy = %v", got)
	}
	if body := writes[3].Body; body["repositoryName"] != "acme/shop" || body["imageTagMutability"] != "IMMUTABLE" ||
		body["imageScanningConfiguration"].(map[string]any)["scanOnPush"] != true ||
		body["encryptionConfiguration"].(map[string]any)["encryptionType"] != "AES256" {
		t.Errorf("CreateRepository body = %v", body)
	}
	if body := writes[4].Body; body["principalArn"] != b.RoleARN || body["type"] != "STANDARD" ||
		body["kubernetesGroups"] != nil || body["username"] != nil {
		t.Errorf("CreateAccessEntry body = %v", body)
	}
	if body := writes[5].Body; body["policyArn"] != "arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy" ||
		fmt.Sprint(body["accessScope"]) != "map[namespaces:[shop shop-jobs] type:namespace]" {
		t.Errorf("AssociateAccessPolicy body = %v", body)
	}
	repo := s.Repository("acme/shop")
	if repo == nil || repo.ImageTagMutability != "IMMUTABLE" || repo.ImageScanningConfiguration["scanOnPush"] != true ||
		repo.EncryptionConfiguration["encryptionType"] != "AES256" {
		t.Errorf("repository = %+v", repo)
	}
	entry, ok := s.AccessEntries("prod-eks")[b.RoleARN]
	if !ok || entry.Type != "STANDARD" {
		t.Fatalf("access entry = %+v (present %v)", entry, ok)
	}
	if len(entry.Policies) != 1 {
		t.Fatalf("policies = %v, want only AmazonEKSEditPolicy", entry.Policies)
	}
	scope := entry.Policies[policy.EditPolicyARN("aws")]
	if scope["type"] != "namespace" || len(scope["namespaces"].([]any)) != 2 {
		t.Errorf("access scope = %v", scope)
	}
	if !strings.Contains(out, "6 change(s) made") {
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
	if sum.Changed != 6 || !strings.Contains(out, "would create IAM role ship-deploy-shop") || !strings.Contains(out, "nothing was sent") {
		t.Errorf("changed = %d, output:\n%s", sum.Changed, out)
	}
	if s.Role("ship-deploy-shop") != nil {
		t.Error("dry run created the role")
	}
}

func TestDriftedTrustPolicyIsUpdated(t *testing.T) {
	s, c := newEnv(t)
	b, _ := policy.Generate(inputs())
	apply(t, c, inputs(), false)
	// Someone widened the trust by hand (the classic StringLike).
	s.TrustRole(b.RoleARN, policy.GitHubIssuerURL, policy.STSAudience, "repo:acme/shop:*")
	before := len(s.Requests())
	_, out := apply(t, c, inputs(), false)
	w := mutating(s, before)
	if ops(w) != "UpdateAssumeRolePolicy" || w[0].Params["PolicyDocument"][0] != b.TrustPolicy.Compact() {
		t.Fatalf("writes = %s %v\n%s", ops(w), w, out)
	}
	if eq, _ := policy.Equivalent([]byte(s.Role("ship-deploy-shop").TrustPolicy), b.TrustPolicy.JSON()); !eq {
		t.Error("trust policy not restored")
	}
	before = len(s.Requests())
	apply(t, c, inputs(), false)
	if w := mutating(s, before); len(w) != 0 {
		t.Errorf("run after repair sent writes: %s", ops(w))
	}
}

func TestProviderMissingClientIDAndScopeDrift(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, inputs(), false)
	b, _ := policy.Generate(inputs())
	// A provider created elsewhere without our client ID cannot be recreated:
	// the ID must be added. Simulate by a fresh server with a bare provider.
	s2, c2 := newEnv(t)
	s2.AddOIDCProvider(policy.GitHubIssuerURL, "other-audience")
	apply(t, c2, inputs(), false)
	if w := s2.RequestsFor("AddClientIDToOpenIDConnectProvider"); len(w) != 1 || w[0].Params["ClientID"][0] != policy.STSAudience {
		t.Errorf("AddClientID requests = %v", w)
	}
	if len(s2.RequestsFor("CreateOpenIDConnectProvider")) != 0 {
		t.Error("existing provider was re-created")
	}

	// Narrowed scope by hand: bootstrap re-associates with the right namespaces
	// and flags an extra cluster-admin association for review, untouched.
	ctx := context.Background()
	admin := "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
	for arn, scope := range map[string]ekstypes.AccessScope{
		b.AccessEntry.PolicyARN: {Type: "namespace", Namespaces: []string{"shop"}},
		admin:                   {Type: "cluster"},
	} {
		if _, err := c.EKS.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: aws.String("prod-eks"),
			PrincipalArn: &b.RoleARN, PolicyArn: aws.String(arn), AccessScope: &scope}); err != nil {
			t.Fatal(err)
		}
	}
	before := len(s.Requests())
	_, out := apply(t, c, inputs(), false)
	if w := mutating(s, before); ops(w) != "AssociateAccessPolicy" {
		t.Fatalf("writes = %s\n%s", ops(w), out)
	}
	if !strings.Contains(out, "review EKS access policy AmazonEKSClusterAdminPolicy") {
		t.Errorf("cluster-admin association not flagged:\n%s", out)
	}
	if _, still := s.AccessEntries("prod-eks")[b.RoleARN].Policies[admin]; !still {
		t.Error("bootstrap removed an association on its own")
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
	if !errors.As(err, &ie) || len(s.Requests()) > 0 && len(mutating(s, 0)) != 0 {
		t.Errorf("bad input: err = %v, writes %s", err, ops(mutating(s, 0)))
	}
}

func TestApplyErrorNamesProgress(t *testing.T) {
	s, c := newEnv(t)
	s.FailNext("CreateRepository", fakeaws.APIError{Code: "KmsException", Message: "KMS key is disabled", Status: 400}, 1)
	var out bytes.Buffer
	_, err := Apply(context.Background(), c, inputs(), false, &out)
	var ae *ApplyError
	if !errors.As(err, &ae) || len(ae.Applied) != 3 || !strings.Contains(err.Error(), "KmsException") ||
		!strings.Contains(err.Error(), "run again") {
		t.Fatalf("err = %v", err)
	}
	apply(t, c, inputs(), false) // the rerun completes from where it stopped
	if s.Repository("acme/shop") == nil || len(s.RequestsFor("CreateRole")) != 1 {
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
