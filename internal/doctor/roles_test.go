// Doctor against the per-environment roles bootstrap creates, cross-checked
// with the fake STS's own trust evaluation: doctor must predict exactly what
// AssumeRoleWithWebIdentity answers, keep checking the claims when STS
// refused, flag condition keys AWS does not evaluate, and insist on the
// account's own provider and on the environment's own role.
package doctor

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/oidc"
	"dagger/ship/internal/policy"
	"dagger/ship/internal/testenv/fakeoidc"
)

// stsEnv is a bootstrapped fake AWS whose STS trusts the fake issuer.
func stsEnv(t *testing.T) (*onlineEnv, *sts.Client) {
	t.Helper()
	srv, ca := apiServer(t)
	iss := fakeoidc.New(t, "request-token")
	e := newOnline(t, iss, srv.URL, ca)
	if err := e.aws.RegisterIssuer(policy.GitHubIssuerURL, iss.JWKS()); err != nil {
		t.Fatal(err)
	}
	return e, sts.NewFromConfig(e.cfg)
}

// setTrust replaces a role's trust policy through the real IAM API.
func setTrust(t *testing.T, e *onlineEnv, role, doc string) {
	t.Helper()
	if _, err := bootstrap.NewClients(e.cfg).IAM.UpdateAssumeRolePolicy(context.Background(),
		&iam.UpdateAssumeRolePolicyInput{RoleName: &role, PolicyDocument: &doc}); err != nil {
		t.Fatal(err)
	}
}

func assume(client *sts.Client, role string, tok *oidc.Token) error {
	_, err := client.AssumeRoleWithWebIdentity(context.Background(), &sts.AssumeRoleWithWebIdentityInput{
		RoleArn: aws.String("arn:aws:iam::123456789012:role/" + role), RoleSessionName: aws.String("doctor-test"),
		WebIdentityToken: aws.String(tok.Raw())})
	return err
}

// TestDoctorPredictsWhichRoleEachTokenCanAssume: an environment's token can
// assume only that environment's role, a main-branch token only the build
// role, a pull request's none; doctor agrees with STS on every pair.
func TestDoctorPredictsWhichRoleEachTokenCanAssume(t *testing.T) {
	e, client := stsEnv(t)
	only := map[string]string{
		"repo:acme/shop:environment:dev":     "ship-shop-dev",
		"repo:acme/shop:environment:prod":    "ship-shop-prod",
		"repo:acme/shop:ref:refs/heads/main": "ship-shop-build",
		"repo:acme/shop:pull_request":        "",
		"repo:Acme/shop:environment:prod":    "",
	}
	for sub, allowedRole := range only {
		for _, role := range []string{"ship-shop-build", "ship-shop-dev", "ship-shop-staging", "ship-shop-prod"} {
			tok := mint(t, e.iss, fakeoidc.Claims{Subject: sub})
			stsAllowed := assume(client, role, tok) == nil
			r := Run(context.Background(), Inputs{Policy: policyInputs(), RoleName: role, AWS: &e.cfg, Token: tok})
			doctorAllowed := r.Check(CheckTrust).Status == Pass
			if want := role == allowedRole; stsAllowed != want || doctorAllowed != want {
				t.Errorf("sub %s, role %s: STS allowed=%v, doctor allowed=%v, want %v\n%s", sub, role, stsAllowed, doctorAllowed, want, r)
			}
		}
	}
}

// TestDoctorDevTokenForProdRole: STS refuses, and doctor still runs every
// offline check (on the trust policy bootstrap generates, since no AWS
// credentials exist), then shows STS's explanation after them.
func TestDoctorDevTokenForProdRole(t *testing.T) {
	e, _ := stsEnv(t)
	e.aws.SetEnv(t)
	tok := mint(t, e.iss, fakeoidc.Claims{Subject: "repo:acme/shop:environment:dev"})
	_, stsErr := awsauth.Config(context.Background(), awsauth.Options{Region: "eu-west-1",
		RoleARN: "arn:aws:iam::123456789012:role/ship-shop-prod", SessionName: "doctor-test", WebIdentity: tok})
	var fe *awsauth.FederationError
	if !errors.As(stsErr, &fe) {
		t.Fatalf("fake STS let a dev token assume the prod role: %v", stsErr)
	}
	r := Run(context.Background(), Inputs{Policy: policyInputs(), Environment: "prod", Token: tok, STSError: stsErr})
	var order []string
	for _, c := range r.Checks {
		order = append(order, c.Name)
	}
	if got := strings.Join(order[:4], ","); got != "token,environment,trust policy,sts:AssumeRoleWithWebIdentity" {
		t.Fatalf("checks run in order %s\n%s", got, r)
	}
	env, trust, refusal := r.Check(CheckEnvironment), r.Check(CheckTrust), r.Check(CheckSTS)
	if env.Status != Fail || !strings.Contains(env.Detail, "subject is repo:acme/shop:environment:dev, not environment prod's") ||
		!strings.Contains(env.Fix, "set environment: prod on the job") {
		t.Errorf("environment check: %+v", env)
	}
	if trust.Status != Fail || !strings.Contains(trust.Detail, "generated policy for ship-shop-prod") ||
		!strings.Contains(trust.Fix, "the job runs in environment 'dev'") {
		t.Errorf("trust check: %+v", trust)
	}
	if refusal.Status != Fail || !strings.Contains(refusal.Detail, "Not authorized to perform sts:AssumeRoleWithWebIdentity") ||
		!strings.Contains(refusal.Fix, "trust policy check above") {
		t.Errorf("STS check: %+v", refusal)
	}
	if r.OK() {
		t.Error("report OK despite the refusal")
	}
	assertNoSecrets(t, e.iss, r.String())
}

// TestDoctorFlagsKeysAWSDoesNotEvaluate: a condition on workflow_ref (a
// claim GitHub emits but AWS does not put into the request) is marked "not
// available in AWS" with what it does to the statement, and STS agrees that
// it refuses; job_workflow_ref, which AWS evaluates, is checked for real.
func TestDoctorFlagsKeysAWSDoesNotEvaluate(t *testing.T) {
	e, client := stsEnv(t)
	const wf = "acme/shop/.github/workflows/deploy.yml@refs/heads/main"
	tok := mint(t, e.iss, fakeoidc.Claims{Subject: "repo:acme/shop:environment:prod", JobWorkflowRef: wf,
		Extra: map[string]any{"workflow_ref": wf}})
	base := `{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},` +
		`"Action":"sts:AssumeRoleWithWebIdentity","Condition":{"StringEquals":{"token.actions.githubusercontent.com:aud":"sts.amazonaws.com",` +
		`"token.actions.githubusercontent.com:sub":"repo:acme/shop:environment:prod","token.actions.githubusercontent.com:KEY":"` + wf + `"}}}]}`
	for key, want := range map[string]Status{"workflow_ref": Fail, "job_workflow_ref": Pass} {
		doc := strings.Replace(base, "KEY", key, 1)
		path := filepath.Join(t.TempDir(), "trust.json")
		if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		setTrust(t, e, "ship-shop-prod", doc)
		r := Run(context.Background(), Inputs{Policy: policyInputs(), Environment: "prod", Token: tok, TrustPolicyFile: path})
		trust := r.Check(CheckTrust)
		stsAllowed := assume(client, "ship-shop-prod", tok) == nil
		if trust.Status != want || stsAllowed != (want == Pass) {
			t.Errorf("%s: doctor %v, STS allowed %v, want %v\n%s", key, trust.Status, stsAllowed, want, r)
		}
		if key == "workflow_ref" && (!strings.Contains(trust.Fix, "key token.actions.githubusercontent.com:workflow_ref is not available in AWS") ||
			!strings.Contains(trust.Fix, "StringEquals never matches an absent key, so this statement can never allow")) {
			t.Errorf("workflow_ref not flagged:\n%s", r)
		}
	}
}

// TestDoctorChecksTheAccountsProvider: a trust policy naming another
// account's GitHub provider is refused by STS, and doctor says why.
func TestDoctorChecksTheAccountsProvider(t *testing.T) {
	e, client := stsEnv(t)
	b, _ := policy.Generate(policyInputs())
	prod, _ := b.Role("ship-shop-prod")
	doc := strings.Replace(prod.TrustPolicy.Compact(), "123456789012", "999999999999", 1)
	setTrust(t, e, "ship-shop-prod", doc)
	tok := mint(t, e.iss, fakeoidc.Claims{Subject: "repo:acme/shop:environment:prod"})
	if assume(client, "ship-shop-prod", tok) == nil {
		t.Fatal("STS accepted another account's provider")
	}
	r := Run(context.Background(), Inputs{Policy: policyInputs(), Environment: "prod", AWS: &e.cfg, Token: tok})
	if trust := r.Check(CheckTrust); trust.Status != Fail ||
		!strings.Contains(trust.Fix, "this account's GitHub provider is arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com") {
		t.Errorf("provider not checked:\n%s", r)
	}
}

// TestDoctorEnvironmentUsesItsOwnRole: a prod job that assumes the staging
// role (the repository variable instead of the environment's) is named.
func TestDoctorEnvironmentUsesItsOwnRole(t *testing.T) {
	iss := fakeoidc.New(t, "request-token")
	tok := mint(t, iss, fakeoidc.Claims{Subject: "repo:acme/shop:environment:prod"})
	r := Run(context.Background(), Inputs{Policy: policyInputs(), Environment: "prod", RoleName: "ship-shop-staging", Token: tok})
	env := r.Check(CheckEnvironment)
	if env.Status != Fail || !strings.Contains(env.Detail, "assumes role ship-shop-staging, but environment prod's role is ship-shop-prod") ||
		!strings.Contains(env.Fix, "AWS_ROLE_ARN of the GitHub environment prod to arn:aws:iam::123456789012:role/ship-shop-prod") {
		t.Errorf("environment check: %+v", env)
	}
	if trust := r.Check(CheckTrust); trust.Status != Fail {
		t.Errorf("a prod token against the staging role's generated trust: %+v", trust)
	}
	r = Run(context.Background(), Inputs{Policy: policyInputs(), Environment: "qa", Token: tok})
	if env := r.Check(CheckEnvironment); env.Status != Fail || !strings.Contains(env.Detail, `"qa" is not one of dev, staging, prod`) {
		t.Errorf("unknown environment: %+v", env)
	}
}

// TestDoctorPredictsPinnedRepositoryAndWorkflow: bootstrap's trust policies
// pin repository_id and job_workflow_ref. A token with the right sub but
// from a re-created repository (another ID), from another workflow file, or
// from the deploy workflow on another branch is refused by STS, and doctor
// predicts each refusal with its own message; the real job's token passes.
func TestDoctorPredictsPinnedRepositoryAndWorkflow(t *testing.T) {
	e, client := stsEnv(t)
	const prodSub, mainSub = "repo:acme/shop:environment:prod", "repo:acme/shop:ref:refs/heads/main"
	cases := []struct {
		name, role string
		claims     fakeoidc.Claims
		want       string // in the trust check's fix; "" = allowed
	}{
		{"the prod job", "ship-shop-prod", fakeoidc.Claims{Subject: prodSub}, ""},
		{"the build job", "ship-shop-build", fakeoidc.Claims{Subject: mainSub}, ""},
		{"re-created repository", "ship-shop-prod", fakeoidc.Claims{Subject: prodSub, RepositoryID: "987654321"},
			`StringEquals token.actions.githubusercontent.com:repository_id failed: the token comes from repository_id "987654321", but the role trusts only repository_id "123456789"`},
		{"another workflow file", "ship-shop-prod", fakeoidc.Claims{Subject: prodSub, JobWorkflowRef: "acme/shop/.github/workflows/debug.yml@refs/heads/main"},
			"StringEquals token.actions.githubusercontent.com:job_workflow_ref failed: the job runs workflow file .github/workflows/debug.yml, but the role trusts only .github/workflows/deploy.yml"},
		{"deploy workflow on a branch", "ship-shop-prod", fakeoidc.Claims{Subject: prodSub, JobWorkflowRef: "acme/shop/.github/workflows/deploy.yml@refs/heads/hotfix"},
			"ran on refs/heads/hotfix, but the role trusts it only on refs/heads/main"},
		{"build role from another workflow", "ship-shop-build", fakeoidc.Claims{Subject: mainSub, JobWorkflowRef: "acme/shop/.github/workflows/release.yml@refs/heads/main"},
			"the job runs workflow file .github/workflows/release.yml"},
	}
	for _, c := range cases {
		tok := mint(t, e.iss, c.claims)
		stsErr := assume(client, c.role, tok)
		r := Run(context.Background(), Inputs{Policy: policyInputs(), RoleName: c.role, AWS: &e.cfg, Token: tok})
		trust := r.Check(CheckTrust)
		if c.want == "" {
			if stsErr != nil || trust.Status != Pass {
				t.Errorf("%s: STS %v, doctor %v\n%s", c.name, stsErr, trust.Status, r)
			}
			continue
		}
		if stsErr == nil {
			t.Errorf("%s: the fake STS let the token assume %s", c.name, c.role)
		}
		if trust.Status != Fail || !strings.Contains(trust.Fix, c.want) {
			t.Errorf("%s: doctor did not predict the refusal with %q:\n%s", c.name, c.want, r)
		}
		assertNoSecrets(t, e.iss, r.String())
	}
	// The token check shows the ID to give bootstrap.
	r := Run(context.Background(), Inputs{Policy: policyInputs(), RoleName: "ship-shop-prod", Token: mint(t, e.iss, fakeoidc.Claims{Subject: prodSub})})
	if tc := r.Check(CheckToken); !strings.Contains(tc.Detail, "repository_id 123456789 (bootstrap --github-repo-id 123456789)") ||
		!strings.Contains(tc.Detail, "job_workflow_ref acme/shop/.github/workflows/deploy.yml@refs/heads/main") {
		t.Errorf("token check: %+v", tc)
	}
}
