// The runtime identity checks against the fake AWS, set up by the real
// bootstrap: a healthy setup passes all four, and each broken piece (role
// missing or trusting another account, association missing, pointing at
// another role, on another service account or with session tags off, pods
// under the default account, agent missing or degraded, reads denied to a CI
// role, no credentials) gives its own status, detail and fix.
package doctor

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/policy"
	"dagger/ship/internal/testenv/fakeaws"
)

const prodRuntimeARN = "arn:aws:iam::123456789012:role/ship-shop-prod-runtime"

func runtimePolicyInputs() policy.Inputs {
	in := policyInputs()
	for i := range in.Environments {
		in.Environments[i].Runtime = &policy.RuntimeAccess{ServiceAccount: "shop-api", Source: "overlays/" + in.Environments[i].Name + "/aws-policy.json",
			Policy: []byte(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sqs:SendMessage","Resource":"arn:aws:sqs:eu-west-1:123456789012:orders"}]}`)}
	}
	return in
}

type runtimeSetup struct {
	aws *fakeaws.Server
	cfg aws.Config
	c   bootstrap.Clients
}

func newRuntimeSetup(t *testing.T) *runtimeSetup {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{Account: "123456789012", Region: "eu-west-1"})
	s.AddUser("AKIAADMINTESTKEY0001", "admin-secret-for-fakeaws-only-0000000000")
	s.AddCluster("prod-eks", "https://127.0.0.1:6443", []byte("ca"))
	s.AddAddon("prod-eks", bootstrap.PodIdentityAgentAddon, "v1.3.4-eksbuild.1", "ACTIVE")
	cfg := aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL), RetryMaxAttempts: 1,
		Credentials: credentials.NewStaticCredentialsProvider("AKIAADMINTESTKEY0001", "admin-secret-for-fakeaws-only-0000000000", "")}
	c := bootstrap.NewClients(cfg)
	var out bytes.Buffer
	if _, err := bootstrap.Apply(context.Background(), c, runtimePolicyInputs(), false, &out); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out.String())
	}
	return &runtimeSetup{aws: s, cfg: cfg, c: c}
}

func (e *runtimeSetup) inputs() Inputs {
	return Inputs{Policy: policyInputs(), Environment: "prod", AWS: &e.cfg,
		Runtime: &Runtime{Environment: "prod", Namespace: "shop", ServiceAccount: "shop-api", Defined: true, PolicySource: "overlays/prod/aws-policy.json"}}
}

func (e *runtimeSetup) prodAssociation(t *testing.T) string {
	t.Helper()
	for _, a := range e.aws.PodIdentityAssociations("prod-eks") {
		if a.Namespace == "shop" && a.ServiceAccount == "shop-api" {
			return a.ID
		}
	}
	t.Fatal("no prod association")
	return ""
}

var runtimeCheckNames = []string{CheckRuntimeRole, CheckPodIdentity, CheckServiceAccount, CheckAgent}

func TestRuntimeHealthy(t *testing.T) {
	e := newRuntimeSetup(t)
	r := Run(context.Background(), e.inputs())
	for _, name := range runtimeCheckNames {
		if r.Check(name).Status != Pass {
			t.Errorf("%s = %+v\n%s", name, r.Check(name), r)
		}
	}
	for name, want := range map[string]string{
		CheckRuntimeRole:    "ship-shop-prod-runtime trusts pods.eks.amazonaws.com for shop/shop-api on prod-eks only",
		CheckPodIdentity:    "shop/shop-api on prod-eks gets role " + prodRuntimeARN,
		CheckServiceAccount: "overlay prod's Deployment runs under shop/shop-api",
		CheckAgent:          "eks-pod-identity-agent v1.3.4-eksbuild.1 is ACTIVE on prod-eks",
	} {
		if !strings.Contains(r.Check(name).Detail, want) {
			t.Errorf("%s detail = %q, want %q", name, r.Check(name).Detail, want)
		}
	}
}

func TestRuntimeFailures(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		breakIt func(t *testing.T, e *runtimeSetup, in *Inputs)
		check   string
		status  Status
		want    []string
	}{
		{"agent not installed", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.Policy.Cluster = "other-eks"
			e.aws.AddCluster("other-eks", "https://127.0.0.1:6443", []byte("ca"))
		}, CheckAgent, Fail, []string{"not installed on other-eks", "aws eks create-addon --cluster-name other-eks --addon-name eks-pod-identity-agent"}},
		{"agent degraded", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			e.aws.AddAddon("prod-eks", bootstrap.PodIdentityAgentAddon, "v1.3.4-eksbuild.1", "DEGRADED")
		}, CheckAgent, Fail, []string{"is DEGRADED on prod-eks", "aws eks describe-addon"}},
		{"agent read denied", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			e.aws.FailNext("DescribeAddon", fakeaws.APIError{Code: "AccessDeniedException", Message: "denied", Status: 403}, 1)
		}, CheckAgent, Skip, []string{"administrator credentials"}},
		{"association missing", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			id := e.prodAssociation(t)
			if _, err := e.c.EKS.DeletePodIdentityAssociation(ctx, &eks.DeletePodIdentityAssociationInput{ClusterName: aws.String("prod-eks"), AssociationId: &id}); err != nil {
				t.Fatal(err)
			}
		}, CheckPodIdentity, Fail, []string{"no EKS Pod Identity association gives " + prodRuntimeARN,
			"aws eks create-pod-identity-association --cluster-name prod-eks --namespace shop --service-account shop-api --role-arn " + prodRuntimeARN}},
		{"association points at another role", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			id := e.prodAssociation(t)
			if _, err := e.c.EKS.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("prod-eks"),
				AssociationId: &id, RoleArn: aws.String("arn:aws:iam::123456789012:role/ship-shop-staging-runtime")}); err != nil {
				t.Fatal(err)
			}
		}, CheckPodIdentity, Fail, []string{"gives role arn:aws:iam::123456789012:role/ship-shop-staging-runtime, not this environment's runtime role", "--role-arn " + prodRuntimeARN}},
		{"session tags disabled", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			id := e.prodAssociation(t)
			if _, err := e.c.EKS.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: aws.String("prod-eks"),
				AssociationId: &id, DisableSessionTags: aws.Bool(true)}); err != nil {
				t.Fatal(err)
			}
		}, CheckPodIdentity, Fail, []string{"session tags disabled", "--no-disable-session-tags"}},
		{"association read denied", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			e.aws.FailNext("ListPodIdentityAssociations", fakeaws.APIError{Code: "AccessDeniedException", Message: "denied", Status: 403}, 1)
		}, CheckPodIdentity, Skip, []string{"administrator credentials"}},
		{"pods under another service account: association", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.Runtime.ServiceAccount = "shop-web"
		}, CheckPodIdentity, Fail, []string{"no association for shop/shop-web", "associated with service account shop/shop-api"}},
		{"pods under another service account: the pods' account", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.Runtime.ServiceAccount = "shop-web"
		}, CheckServiceAccount, Fail, []string{"runs under shop-web, but ship-shop-prod-runtime is associated with service account shop/shop-api", "set spec.template.spec.serviceAccountName back"}},
		{"pods under another service account: the trust", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.Runtime.ServiceAccount = "shop-web"
		}, CheckRuntimeRole, Fail, []string{"does not trust pods.eks.amazonaws.com for exactly shop/shop-web", "run ship bootstrap"}},
		{"pods under the default service account", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.Runtime.ServiceAccount = ""
		}, CheckServiceAccount, Fail, []string{"default service account", "spec.template.spec.serviceAccountName"}},
		{"service account not in the overlay", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.Runtime.Defined = false
		}, CheckServiceAccount, Pass, []string{"the overlay does not create ServiceAccount shop-api"}},
		{"role missing", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.Policy.GitHubRepo = "other"
		}, CheckRuntimeRole, Fail, []string{"role ship-other-prod-runtime does not exist", "overlays/prod/aws-policy.json"}},
		{"role trusts any pod", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			if _, err := e.c.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: aws.String("ship-shop-prod-runtime"),
				PolicyDocument: aws.String(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"pods.eks.amazonaws.com"},"Action":["sts:AssumeRole","sts:TagSession"]}]}`)}); err != nil {
				t.Fatal(err)
			}
		}, CheckRuntimeRole, Fail, []string{"does not trust pods.eks.amazonaws.com for exactly shop/shop-api on prod-eks"}},
		{"role read denied", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			e.aws.FailNext("GetRole", *fakeaws.AccessDenied("User is not authorized to perform: iam:GetRole"), 2)
		}, CheckRuntimeRole, Skip, []string{"administrator credentials"}},
		{"offline", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.AWS = nil
		}, CheckPodIdentity, Skip, []string{"offline"}},
		{"offline still checks the pods' account", func(t *testing.T, e *runtimeSetup, in *Inputs) {
			in.AWS, in.Runtime.ServiceAccount = nil, "default"
		}, CheckServiceAccount, Fail, []string{"default service account"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newRuntimeSetup(t)
			in := e.inputs()
			c.breakIt(t, e, &in)
			r := Run(ctx, in)
			assertCheck(t, r, c.check, c.status, c.want)
		})
	}
}

// TestNoRuntimeChecksUnlessAsked: an environment without a runtime policy
// adds no lines to the CI checks.
func TestNoRuntimeChecksUnlessAsked(t *testing.T) {
	e := newRuntimeSetup(t)
	in := e.inputs()
	in.Runtime = nil
	r := Run(context.Background(), in)
	for _, name := range runtimeCheckNames {
		if r.Check(name).Name != "" {
			t.Errorf("%s checked without a runtime policy", name)
		}
	}
}
