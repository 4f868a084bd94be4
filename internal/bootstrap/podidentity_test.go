// Bootstrap of the service's runtime roles against the fake AWS, through the
// real SDK: the first run creates each role with the generated trust, the
// user's policy and the Pod Identity association; the second run writes
// nothing; a dry run shows the association and sends nothing; a drifted
// association is updated in place; a refused policy stops everything before
// the first request; and a missing agent add-on is pointed out.
package bootstrap

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"

	"dagger/ship/internal/policy"
)

const runtimePolicy = `{"Version":"2012-10-17","Statement":[{"Sid":"Uploads","Effect":"Allow","Action":["s3:GetObject","s3:PutObject"],"Resource":"arn:aws:s3:::shop-uploads/*"}]}`

func runtimeInputs() policy.Inputs {
	in := inputs()
	for i := range in.Environments {
		in.Environments[i].Runtime = &policy.RuntimeAccess{ServiceAccount: "shop-api", Policy: []byte(runtimePolicy),
			Source: "overlays/" + in.Environments[i].Name + "/aws-policy.json"}
	}
	return in
}

func runtimeRole(t *testing.T, env string) policy.Role {
	t.Helper()
	b, err := policy.Generate(runtimeInputs())
	if err != nil {
		t.Fatal(err)
	}
	r, ok := b.Role("ship-shop-" + env + "-runtime")
	if !ok {
		t.Fatalf("no runtime role for %s", env)
	}
	return r
}

func TestRuntimeRoleAndAssociationCreatedThenUnchanged(t *testing.T) {
	s, c := newEnv(t)
	s.AddAddon("prod-eks", PodIdentityAgentAddon, "v1.3.4-eksbuild.1", "ACTIVE")
	_, out := apply(t, c, runtimeInputs(), false)
	want := "CreateOpenIDConnectProvider," +
		"CreateRole,PutRolePolicy,CreateRole,PutRolePolicy,CreateRole,PutRolePolicy,CreateRole,PutRolePolicy,CreateRole,PutRolePolicy," +
		"CreateRepository,CreateAccessEntry,AssociateAccessPolicy,CreateAccessEntry,AssociateAccessPolicy," +
		"CreatePodIdentityAssociation,CreatePodIdentityAssociation"
	writes := mutating(s, 0)
	if ops(writes) != want {
		t.Fatalf("writes = %s\nwant     %s\n%s", ops(writes), want, out)
	}
	for _, env := range []string{"staging", "prod"} {
		r := runtimeRole(t, env)
		got := s.Role(r.Name)
		if got == nil || got.TrustPolicy != r.TrustPolicy.Compact() || got.InlinePolicies[policy.RuntimePolicyName] != runtimePolicy {
			t.Fatalf("%s = %+v", r.Name, got)
		}
		if !strings.Contains(got.TrustPolicy, `"Service":"pods.eks.amazonaws.com"`) || !strings.Contains(got.TrustPolicy, `"aws:RequestTag/kubernetes-namespace":["shop-`+env+`"]`) {
			t.Errorf("%s trust = %s", r.Name, got.TrustPolicy)
		}
		if _, ok := s.AccessEntries("prod-eks")[r.ARN]; ok {
			t.Errorf("%s got an EKS access entry: the service's role needs none", r.Name)
		}
	}
	assoc := s.PodIdentityAssociations("prod-eks")
	if len(assoc) != 2 {
		t.Fatalf("associations = %+v", assoc)
	}
	for _, a := range assoc {
		env := strings.TrimPrefix(a.Namespace, "shop-")
		if a.ServiceAccount != "shop-api" || a.RoleARN != runtimeRole(t, env).ARN || a.DisableSessionTags {
			t.Errorf("association = %+v", a)
		}
	}
	for _, r := range s.RequestsFor("CreatePodIdentityAssociation") {
		if !r.Signed || r.AccessKey != adminKey || r.Body["serviceAccount"] != "shop-api" {
			t.Errorf("CreatePodIdentityAssociation request = %+v", r)
		}
	}
	if !strings.Contains(out, "ok EKS add-on eks-pod-identity-agent on prod-eks (ACTIVE, version v1.3.4-eksbuild.1)") {
		t.Errorf("output lacks the agent check:\n%s", out)
	}
	before := len(s.Requests())
	sum, out := apply(t, c, runtimeInputs(), false)
	if w := mutating(s, before); len(w) != 0 || sum.Changed != 0 || !strings.HasSuffix(strings.TrimSpace(out), "no changes") {
		t.Fatalf("second run: writes %s, changed %d\n%s", ops(w), sum.Changed, out)
	}
	if !strings.Contains(out, "ok EKS Pod Identity association shop-prod/shop-api on prod-eks (role "+runtimeRole(t, "prod").ARN+")") {
		t.Errorf("second run does not show the association:\n%s", out)
	}
}

func TestDryRunShowsTheAssociation(t *testing.T) {
	s, c := newEnv(t)
	s.AddAddon("prod-eks", PodIdentityAgentAddon, "v1.3.4-eksbuild.1", "ACTIVE")
	sum, out := apply(t, c, runtimeInputs(), true)
	if w := mutating(s, 0); len(w) != 0 {
		t.Fatalf("dry run sent writes: %s", ops(w))
	}
	prod := runtimeRole(t, "prod")
	for _, line := range []string{
		"would create IAM role ship-shop-prod-runtime (trusts pods.eks.amazonaws.com for service account shop-prod/shop-api on prod-eks only)",
		"would create IAM inline policy ship-shop-prod-runtime/ship-runtime",
		"would create EKS Pod Identity association shop-prod/shop-api on prod-eks (role " + prod.ARN + ")",
	} {
		if !strings.Contains(out, line) {
			t.Errorf("dry run lacks %q:\n%s", line, out)
		}
	}
	if sum.Changed != 12+6 {
		t.Errorf("changed = %d, want the 12 CI changes + 2 roles, 2 policies, 2 associations", sum.Changed)
	}
}

// TestDriftedAssociationUpdatedInPlace: an association pointed at another
// role with session tags off is shown as a diff, then updated, not
// recreated, so running pods keep credentials.
func TestDriftedAssociationUpdatedInPlace(t *testing.T) {
	s, c := newEnv(t)
	s.AddAddon("prod-eks", PodIdentityAgentAddon, "v1", "ACTIVE")
	apply(t, c, runtimeInputs(), false)
	ctx := context.Background()
	var id string
	for _, a := range s.PodIdentityAssociations("prod-eks") {
		if a.Namespace == "shop-prod" {
			id = a.ID
		}
	}
	staging := runtimeRole(t, "staging")
	if _, err := c.EKS.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("prod-eks"),
		AssociationId: &id, RoleArn: &staging.ARN, DisableSessionTags: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	before := len(s.Requests())
	_, out := apply(t, c, runtimeInputs(), true)
	if w := mutating(s, before); len(w) != 0 {
		t.Fatalf("dry run sent writes: %s", ops(w))
	}
	prod := runtimeRole(t, "prod")
	for _, line := range []string{"- role " + staging.ARN, "+ role " + prod.ARN, "- session tags disabled"} {
		if !hasDiffLine(out, line) {
			t.Errorf("dry run lacks %q:\n%s", line, out)
		}
	}
	before = len(s.Requests())
	apply(t, c, runtimeInputs(), false)
	w := mutating(s, before)
	if ops(w) != "UpdatePodIdentityAssociation" || w[0].Path["associationId"] != id || w[0].Body["disableSessionTags"] != false {
		t.Fatalf("repair writes = %s %+v", ops(w), w)
	}
	for _, a := range s.PodIdentityAssociations("prod-eks") {
		if a.Namespace == "shop-prod" && (a.RoleARN != prod.ARN || a.DisableSessionTags || a.ID != id) {
			t.Errorf("after repair: %+v", a)
		}
	}
}

func TestStaleAssociationAndMissingAgentPointedOut(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, runtimeInputs(), false)
	prod := runtimeRole(t, "prod")
	if _, err := c.EKS.CreatePodIdentityAssociation(context.Background(), &eks.CreatePodIdentityAssociationInput{ClusterName: aws.String("prod-eks"),
		Namespace: aws.String("shop-prod"), ServiceAccount: aws.String("old-api"), RoleArn: &prod.ARN}); err != nil {
		t.Fatal(err)
	}
	before := len(s.Requests())
	sum, out := apply(t, c, runtimeInputs(), false)
	if w := mutating(s, before); len(w) != 0 || sum.Changed != 0 {
		t.Fatalf("review items changed something: %s", ops(w))
	}
	for _, want := range []string{
		"review EKS Pod Identity association shop-prod/old-api on prod-eks (also gives " + prod.ARN + " to service account old-api",
		"review EKS add-on eks-pod-identity-agent on prod-eks (not installed",
		"aws eks create-addon --cluster-name prod-eks --addon-name eks-pod-identity-agent",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRefusedRuntimePolicySendsNothing(t *testing.T) {
	s, c := newEnv(t)
	in := runtimeInputs()
	in.Environments[1].Runtime.Policy = []byte(`{"Version":"2012-10-17","Statement":[{"Sid":"Deploy","Effect":"Allow","Action":["s3:GetObject","iam:PassRole"],"Resource":"*"}]}`)
	var out strings.Builder
	_, err := Apply(context.Background(), c, in, false, &out)
	var pe *policy.RuntimePolicyError
	if !errors.As(err, &pe) || !strings.Contains(err.Error(), `overlays/prod/aws-policy.json, statement 1 (Sid "Deploy"): allows "iam:PassRole"`) {
		t.Fatalf("err = %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests sent for a refused policy", n)
	}
}
