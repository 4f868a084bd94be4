// Offline doctor runs: real RS256 tokens from the local fake issuer, trust
// policies from files (plain and IAM's URL-encoding). Guards the promise
// that a refused token gets the exact failing condition and the fix, and
// that no token ever appears in the report.
package doctor

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"dagger/ship/internal/oidc"
	"dagger/ship/internal/policy"
	"dagger/ship/internal/testenv/fakeoidc"
)

func mint(t *testing.T, iss *fakeoidc.Issuer, c fakeoidc.Claims) *oidc.Token {
	t.Helper()
	if c.Issuer == "" {
		c.Issuer = policy.GitHubIssuerURL // offline: the claim is what matters
	}
	// GitHub puts both in every token: acme/shop's, from its deploy workflow on
	// main (pr.yml on a pull request's merge ref), unless the test says otherwise.
	if c.RepositoryID == "" {
		c.RepositoryID = testRepoID
	}
	if c.JobWorkflowRef == "" {
		c.JobWorkflowRef = "acme/shop/.github/workflows/deploy.yml@refs/heads/main"
		if strings.HasSuffix(c.Subject, ":pull_request") {
			c.JobWorkflowRef = "acme/shop/.github/workflows/pr.yml@refs/pull/42/merge"
		}
	}
	tok, err := oidc.Parse(iss.Mint(c))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// testRepoID is acme/shop's repository_id in policyInputs.
const testRepoID = "123456789"

func assertNoSecrets(t *testing.T, iss *fakeoidc.Issuer, text string) {
	t.Helper()
	for _, s := range iss.Minted() {
		if strings.Contains(text, s) {
			t.Fatalf("report contains a token or signature")
		}
	}
}

func TestOfflineTrustChecks(t *testing.T) {
	iss := fakeoidc.New(t, "request-token")
	mainTok := fakeoidc.Claims{Subject: "repo:acme/shop:ref:refs/heads/main", Ref: "refs/heads/main"}
	prodTok := fakeoidc.Claims{Subject: "repo:acme/shop:environment:prod", Environment: "prod"}
	cases := []struct {
		name      string
		claims    fakeoidc.Claims
		trustFile string
		wantTrust Status
		want      []string // substrings of the trust check's detail+fix
	}{
		{"branch allowed", mainTok, "trust-main.json", Pass, []string{"sub repo:acme/shop:ref:refs/heads/main is allowed"}},
		{"IAM-encoded policy", mainTok, "trust-main-iam-encoded.txt", Pass, nil},
		{"environment refused", prodTok, "trust-main.json", Fail, []string{
			"Not authorized to perform sts:AssumeRoleWithWebIdentity",
			"StringEquals token.actions.githubusercontent.com:sub failed",
			"the job runs in environment 'prod', so sub is repo:acme/shop:environment:prod; the trust policy allows \"repo:acme/shop:ref:refs/heads/main\": add the environment subject \"repo:acme/shop:environment:prod\" or remove `environment:` from the job",
		}},
		{"wrong audience", fakeoidc.Claims{Subject: mainTok.Subject, Audience: []string{"api://AzureADTokenExchange"}}, "trust-main.json", Fail,
			[]string{"audience is \"api://AzureADTokenExchange\"", "audience=sts.amazonaws.com"}},
		{"case mismatch", fakeoidc.Claims{Subject: "repo:Acme/shop:ref:refs/heads/main"}, "trust-main.json", Fail,
			[]string{"only in letter case"}},
		{"ForAllValues pitfall passes with a warning", mainTok, "trust-forallvalues.json", Pass,
			[]string{"ForAllValues is true for an empty set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := Run(context.Background(), Inputs{Policy: policyInputs(), Token: mint(t, iss, c.claims),
				TrustPolicyFile: filepath.Join("testdata", c.trustFile)})
			tc := r.Check(CheckTrust)
			if tc.Status != c.wantTrust {
				t.Fatalf("trust status = %v, want %v\n%s", tc.Status, c.wantTrust, r)
			}
			for _, w := range c.want {
				if !strings.Contains(tc.Detail+"\n"+tc.Fix, w) {
					t.Errorf("trust check lacks %q:\n%s", w, r)
				}
			}
			if c.name == "wrong audience" && !strings.Contains(r.Check(CheckToken).Detail, "must list it as a client ID") {
				t.Errorf("token check does not note the audience: %+v", r.Check(CheckToken))
			}
			if r.Check(CheckToken).Status != Pass || r.OK() != (c.wantTrust == Pass) {
				t.Errorf("token=%v ok=%v\n%s", r.Check(CheckToken).Status, r.OK(), r)
			}
			if r.Check(CheckCluster).Status != Skip {
				t.Errorf("offline run did cluster check: %+v", r.Check(CheckCluster))
			}
			s := r.String()
			wantMark := map[Status]string{Pass: "✔ trust policy", Fail: "✘ trust policy"}[c.wantTrust]
			if !strings.Contains(s, wantMark) {
				t.Errorf("String() lacks %q:\n%s", wantMark, s)
			}
			assertNoSecrets(t, iss, s)
		})
	}
}

func TestOfflineTokenProblems(t *testing.T) {
	iss := fakeoidc.New(t, "request-token")
	past := time.Now().Add(-time.Hour)
	expired := mint(t, iss, fakeoidc.Claims{Subject: "repo:acme/shop:ref:refs/heads/main", IssuedAt: past, NotBefore: past, Expiry: past.Add(5 * time.Minute)})
	r := Run(context.Background(), Inputs{Policy: policyInputs(), Token: expired, TrustPolicyFile: "testdata/trust-main.json"})
	if tc := r.Check(CheckToken); tc.Status != Fail || !strings.Contains(tc.Detail, "expired") || tc.Fix == "" {
		t.Errorf("expired token: %+v", tc)
	}
	assertNoSecrets(t, iss, r.String())

	dir := t.TempDir()
	bad := filepath.Join(dir, "token")
	secretish := "not-a-jwt-but-secret-looking-value"
	if err := os.WriteFile(bad, []byte(secretish), 0o600); err != nil {
		t.Fatal(err)
	}
	r = Run(context.Background(), Inputs{Policy: policyInputs(), TokenFile: bad})
	if tc := r.Check(CheckToken); tc.Status != Fail || strings.Contains(r.String(), secretish) {
		t.Errorf("bad token file: %+v\n%s", tc, r)
	}
	good := filepath.Join(dir, "good")
	if err := os.WriteFile(good, []byte(iss.Mint(fakeoidc.Claims{Issuer: policy.GitHubIssuerURL, Subject: "repo:acme/shop:ref:refs/heads/main"})+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r = Run(context.Background(), Inputs{Policy: policyInputs(), TokenFile: good, TrustPolicyFile: "testdata/trust-main.json"})
	if !r.OK() || r.Check(CheckTrust).Status != Pass {
		t.Errorf("token from file:\n%s", r)
	}
	assertNoSecrets(t, iss, r.String())

	cfg := aws.Config{Region: "eu-west-1"}
	r = Run(context.Background(), Inputs{Policy: policy.Inputs{GitHubRepo: "shop"}, AWS: &cfg})
	if c := r.Check(CheckCluster); c.Status != Skip || !strings.Contains(c.Detail, "set Account, Cluster, ECRRepository, Namespaces") {
		t.Errorf("online run without names: %+v", c)
	}

	r = Run(context.Background(), Inputs{Policy: policyInputs()})
	if !r.OK() || r.Check(CheckToken).Status != Skip || r.Check(CheckTrust).Status != Skip {
		t.Errorf("nothing given should skip, not fail:\n%s", r)
	}
}
