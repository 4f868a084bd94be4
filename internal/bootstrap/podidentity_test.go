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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/sts"

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
		"CreateKey,CreateAlias," +
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
	if sum.Changed != 13+6 {
		t.Errorf("changed = %d, want the 13 CI changes + 2 roles, 2 policies, 2 associations", sum.Changed)
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

// TestRuntimeTrustAdmitsOnlyTheEnvironmentsPods plays EKS Pod Identity
// against the role bootstrap created: the pods of the environment's service
// account get working credentials; an association made by hand for another
// service account, namespace or cluster, or with session tags off, gets
// nothing, because the trust's session-tag conditions refuse it.
func TestRuntimeTrustAdmitsOnlyTheEnvironmentsPods(t *testing.T) {
	s, c := newEnv(t)
	s.AddCluster("dev-eks", "https://127.0.0.1:6444", []byte("ca"))
	apply(t, c, runtimeInputs(), false)
	ctx := context.Background()
	prod := runtimeRole(t, "prod")

	creds, err := s.AssumeRoleForPod("prod-eks", "shop-prod", "shop-api", "shop-api-7d9f-abcde")
	if err != nil {
		t.Fatalf("the environment's pod got no credentials: %v", err)
	}
	cfg := aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider(creds.AccessKeyID, creds.SecretAccessKey, creds.SessionToken)}
	who, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil || !strings.HasPrefix(aws.ToString(who.Arn), "arn:aws:sts::123456789012:assumed-role/ship-shop-prod-runtime/") {
		t.Fatalf("pod credentials: %v %v", who, err)
	}

	if _, err := s.AssumeRoleForPod("prod-eks", "shop-prod", "other", "x"); err == nil || !strings.Contains(err.Error(), "no EKS Pod Identity association") {
		t.Errorf("a service account without association: %v", err)
	}
	hijack := func(cluster, ns, sa string) {
		t.Helper()
		if _, err := c.EKS.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: &cluster,
			Namespace: &ns, ServiceAccount: &sa, RoleArn: &prod.ARN}); err != nil {
			t.Fatal(err)
		}
	}
	hijack("prod-eks", "shop-prod", "batch")
	hijack("prod-eks", "shop-other", "shop-api")
	hijack("dev-eks", "shop-prod", "shop-api")
	for _, p := range [][3]string{{"prod-eks", "shop-prod", "batch"}, {"prod-eks", "shop-other", "shop-api"}, {"dev-eks", "shop-prod", "shop-api"}} {
		if _, err := s.AssumeRoleForPod(p[0], p[1], p[2], "x"); err == nil || !strings.Contains(err.Error(), "not authorized to perform sts:AssumeRole") {
			t.Errorf("pod %s/%s on %s assumed the prod runtime role: %v", p[1], p[2], p[0], err)
		}
	}
	var id string
	for _, a := range s.PodIdentityAssociations("prod-eks") {
		if a.Namespace == "shop-prod" && a.ServiceAccount == "shop-api" {
			id = a.ID
		}
	}
	if _, err := c.EKS.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("prod-eks"),
		AssociationId: &id, DisableSessionTags: aws.Bool(true)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AssumeRoleForPod("prod-eks", "shop-prod", "shop-api", "x"); err == nil {
		t.Error("session tags disabled, yet the trust admitted the pod")
	}
}
