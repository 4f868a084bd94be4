// End-to-end tests of AWS authentication against the honest fakes: GitHub
// token endpoint -> OIDC JWT -> STS AssumeRoleWithWebIdentity (signature,
// issuer, audience and trust policy really checked) -> signed calls. Every
// refusal must produce a message a user can act on; every output is run
// through the secret canaries.
package awsauth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/eks"
	"dagger/ship/internal/oidc"
	"dagger/ship/internal/testenv/fakeaws"
	"dagger/ship/internal/testenv/fakeoidc"
)

const (
	roleARN  = "arn:aws:iam::123456789012:role/ci/ship-deploy"
	chainARN = "arn:aws:iam::123456789012:role/ship-prod-deployer"
	mainSub  = "repo:acme/shop:ref:refs/heads/main"
)

type env struct {
	aws     *fakeaws.Server
	idp     *fakeoidc.Issuer
	secrets *fakeaws.Secrets
}

// setup wires the fakes through the environment (AWS_ENDPOINT_URL_*,
// AWS_CA_BUNDLE), as the module does in CI; no HTTP client is injected.
func setup(t *testing.T, trustedSub string) env { return setupWith(t, trustedSub, fakeaws.Options{}) }

// setupWith is setup with the fake AWS configured (e.g. short role sessions).
func setupWith(t *testing.T, trustedSub string, opts fakeaws.Options) env {
	t.Helper()
	e := env{aws: fakeaws.New(t, opts), idp: fakeoidc.New(t, fakeaws.CanaryRequestToken)}
	e.aws.SetEnv(t)
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	if err := e.aws.RegisterIssuer(e.idp.URL, e.idp.JWKS()); err != nil {
		t.Fatal(err)
	}
	e.aws.TrustRole(roleARN, e.idp.URL, oidc.DefaultAudience, trustedSub)
	e.secrets = fakeaws.Canaries(t).AddSource(e.idp.Minted).AddSource(e.aws.IssuedSecrets)
	return e
}

func (e env) fetch(t *testing.T, sub, audience string) *oidc.Token {
	t.Helper()
	e.idp.SetTemplate(fakeoidc.Claims{Subject: sub, Repository: "acme/shop", Ref: "refs/heads/main"})
	tok, err := oidc.GitHub{RequestURL: e.idp.TokenURL, RequestToken: fakeaws.CanaryRequestToken,
		Audience: audience, HTTPClient: e.idp.HTTPClient()}.Fetch(context.Background())
	if err != nil {
		t.Fatalf("fetch OIDC token: %v", err)
	}
	return tok
}

func TestWebIdentityEndToEnd(t *testing.T) {
	e := setup(t, "repo:acme/shop:ref:refs/heads/*")
	tok := e.fetch(t, mainSub, "")
	ctx := context.Background()
	opts := awsauth.Options{Region: "us-east-1", RoleARN: roleARN, SessionName: "ship-abc123-1700000000", WebIdentity: tok}
	cfg, err := awsauth.Config(ctx, opts)
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	id, err := awsauth.WhoAmI(ctx, cfg)
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	if want := "arn:aws:sts::123456789012:assumed-role/ship-deploy/ship-abc123-1700000000"; id.ARN != want || id.Account != "123456789012" {
		t.Errorf("identity = %+v, want %s", id, want)
	}
	assume := e.aws.RequestsFor("AssumeRoleWithWebIdentity")
	who := e.aws.RequestsFor("GetCallerIdentity")
	if len(assume) != 1 || assume[0].Signed || assume[0].Params["RoleArn"][0] != roleARN {
		t.Errorf("AssumeRoleWithWebIdentity calls = %+v", assume)
	}
	if len(who) != 1 || !who[0].Signed || !strings.HasPrefix(who[0].AccessKey, "ASIA") || who[0].Status != 200 {
		t.Errorf("GetCallerIdentity should be signed with issued ASIA keys: %+v", who)
	}
	if !strings.Contains(id.String(), id.ARN) || strings.Contains(id.String(), id.UserID) {
		t.Errorf("Identity.String() = %q, want ARN and account only", id)
	}
	e.secrets.Check("web identity", id, tok, opts, err)
}

func TestRoleChaining(t *testing.T) {
	e := setup(t, mainSub)
	e.aws.TrustRoleForPrincipal(chainARN, roleARN)
	ctx := context.Background()
	cfg, err := awsauth.Config(ctx, awsauth.Options{Region: "us-east-1", RoleARN: roleARN, ChainRoleARN: chainARN,
		SessionName: "chain-test", WebIdentity: e.fetch(t, mainSub, "")})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	id, err := awsauth.WhoAmI(ctx, cfg)
	if err != nil {
		t.Fatalf("WhoAmI: %v", err)
	}
	if id.ARN != "arn:aws:sts::123456789012:assumed-role/ship-prod-deployer/chain-test" {
		t.Errorf("chained identity = %s", id.ARN)
	}
	ar := e.aws.RequestsFor("AssumeRole")
	if len(ar) != 1 || !strings.HasPrefix(ar[0].AccessKey, "ASIA") {
		t.Errorf("AssumeRole must be signed by the web identity session: %+v", ar)
	}
	// A role that does not trust the first hop refuses the chain.
	_, err = awsauth.Config(ctx, awsauth.Options{Region: "us-east-1", RoleARN: roleARN,
		ChainRoleARN: "arn:aws:iam::123456789012:role/untrusted", WebIdentity: e.fetch(t, mainSub, "")})
	var fe *awsauth.FederationError
	if !errors.As(err, &fe) || fe.Code != "AccessDenied" || !strings.Contains(err.Error(), "role/untrusted") {
		t.Errorf("untrusted chain: %v", err)
	}
	e.secrets.Check("chaining", id, err)
}

func TestStaticKeys(t *testing.T) {
	e := setup(t, mainSub)
	userARN := e.aws.AddUser(fakeaws.CanaryAccessKeyID, fakeaws.CanarySecretKey)
	ctx := context.Background()
	cfg, err := awsauth.Config(ctx, awsauth.Options{Region: "us-east-1",
		AccessKeyID: fakeaws.CanaryAccessKeyID, SecretAccessKey: fakeaws.CanarySecretKey})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	id, err := awsauth.WhoAmI(ctx, cfg)
	if err != nil || id.ARN != userARN {
		t.Fatalf("WhoAmI = %v, %v; want %s", id, err, userARN)
	}
	opts := awsauth.Options{Region: "us-east-1", AccessKeyID: fakeaws.CanaryAccessKeyID,
		SecretAccessKey: "wrong/" + fakeaws.CanarySecretKey[6:], SessionToken: fakeaws.CanarySessionToken}
	cfg, err = awsauth.Config(ctx, opts)
	if err != nil {
		t.Fatalf("Config with static keys makes no call yet: %v", err)
	}
	_, err = awsauth.WhoAmI(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "InvalidClientTokenId") {
		t.Errorf("session token not issued by STS must be refused: %v", err)
	}
	opts.SessionToken = ""
	cfg, _ = awsauth.Config(ctx, opts)
	_, err = awsauth.WhoAmI(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "SignatureDoesNotMatch") {
		t.Errorf("wrong secret key must be refused by the signature check: %v", err)
	}
	e.secrets.Add(opts.SecretAccessKey).Check("static keys", id, err, opts)
}

func TestRefusalsAreExplained(t *testing.T) {
	cases := []struct {
		name, trusted, sub, aud string
		code                    string
		want                    []string
	}{
		{"environment vs branch", mainSub, "repo:acme/shop:environment:prod", "", "AccessDenied",
			[]string{"sub = repo:acme/shop:environment:prod", `GitHub environment "prod"`, "trust repo:acme/shop:environment:prod",
				":aud = sts.amazonaws.com (StringEquals)", ":sub = repo:acme/shop:environment:prod", "role " + roleARN}},
		{"branch vs environment", "repo:acme/shop:environment:prod", mainSub, "", "AccessDenied",
			[]string{"sub = " + mainSub, "subject names a branch", "add `environment:` to the job"}},
		{"case mismatch", mainSub, "repo:Acme/Shop:ref:refs/heads/main", "", "AccessDenied",
			[]string{"case-sensitive", `spells the repository "Acme/Shop"`}},
		{"immutable subject", mainSub, "repo:acme@1234/shop@5678:ref:refs/heads/main", "", "AccessDenied",
			[]string{"immutable format repo:OWNER@ID/REPO@ID", "2026-07-15", `use "repo:acme@1234/shop@5678:ref:refs/heads/main"`}},
		{"pull request", mainSub, "repo:acme/shop:pull_request", "", "AccessDenied",
			[]string{"pull_request run", "carries no branch"}},
		{"wrong audience", mainSub, mainSub, "sigstore", "InvalidIdentityToken",
			[]string{"Incorrect token audience", `aud is "sigstore"`, `AWS expects "sts.amazonaws.com"`, "aud = sigstore"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := setup(t, tc.trusted)
			tok := e.fetch(t, tc.sub, tc.aud)
			_, err := awsauth.Config(context.Background(), awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: tok})
			var fe *awsauth.FederationError
			if !errors.As(err, &fe) || fe.Code != tc.code {
				t.Fatalf("error = %v, want FederationError %s", err, tc.code)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message lacks %q:\n%s", w, err)
				}
			}
			t.Logf("%s", err)
			e.secrets.Check(tc.name, err, fe)
		})
	}
}

func TestForeignSignatureRefused(t *testing.T) {
	e := setup(t, mainSub)
	tok, err := oidc.Parse(e.idp.MintForeign(fakeoidc.Claims{Subject: mainSub}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = awsauth.Config(context.Background(), awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: tok})
	if err == nil || !strings.Contains(err.Error(), "Couldn't retrieve verification key") || !strings.Contains(err.Error(), "IAM OIDC provider URL") {
		t.Errorf("token signed by an unknown key: %v", err)
	}
	e.secrets.Add(tok.Raw()).Check("foreign", err)
}

func TestExpiredTokenFailsBeforeAnyCall(t *testing.T) {
	e := setup(t, mainSub)
	tok, err := oidc.Parse(e.idp.Mint(fakeoidc.Claims{Subject: mainSub, IssuedAt: time.Now().Add(-time.Hour),
		NotBefore: time.Now().Add(-time.Hour), Expiry: time.Now().Add(-5 * time.Minute)}))
	if err != nil {
		t.Fatal(err)
	}
	_, err = awsauth.Config(context.Background(), awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: tok})
	var te *oidc.TimeError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "has expired") || !strings.Contains(err.Error(), "fresh token") {
		t.Errorf("expired token: %v", err)
	}
	if n := len(e.aws.Requests()); n != 0 {
		t.Errorf("%d AWS requests made with an expired token, want 0", n)
	}
	e.secrets.Check("expired", err)
}

func TestThrottlingIsRetried(t *testing.T) {
	e := setup(t, mainSub)
	e.aws.FailNext("AssumeRoleWithWebIdentity", fakeaws.APIError{Code: "Throttling", Message: "Rate exceeded", Status: 400}, 1)
	if _, err := awsauth.Config(context.Background(), awsauth.Options{Region: "us-east-1", RoleARN: roleARN,
		WebIdentity: e.fetch(t, mainSub, "")}); err != nil {
		t.Fatalf("Config should succeed after one throttle: %v", err)
	}
	calls := e.aws.RequestsFor("AssumeRoleWithWebIdentity")
	if len(calls) != 2 || calls[0].ErrorCode != "Throttling" || calls[1].Status != 200 {
		t.Errorf("want a throttled call then a retried success, got %+v", calls)
	}
}

func TestInputValidationBeforeAnyCall(t *testing.T) {
	e := setup(t, mainSub)
	tok := e.fetch(t, mainSub, "")
	cases := map[string]struct {
		opts awsauth.Options
		want string
	}{
		"bad role ARN":     {awsauth.Options{Region: "us-east-1", RoleARN: "arn:aws:iam::12345:role/x", WebIdentity: tok}, "12-digit account"},
		"user not role":    {awsauth.Options{Region: "us-east-1", RoleARN: "arn:aws:iam::123456789012:user/x", WebIdentity: tok}, "role/<path/>name"},
		"missing role":     {awsauth.Options{Region: "us-east-1", WebIdentity: tok}, "--role-arn"},
		"short duration":   {awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: tok, Duration: time.Minute}, "between 15m and 12h"},
		"long duration":    {awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: tok, Duration: 13 * time.Hour}, "between 15m and 12h"},
		"bad chain":        {awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: tok, ChainRoleARN: "role/x"}, "chained role ARN"},
		"half static keys": {awsauth.Options{Region: "us-east-1", AccessKeyID: fakeaws.CanaryAccessKeyID}, "both an access key id"},
	}
	for name, tc := range cases {
		_, err := awsauth.Config(context.Background(), tc.opts)
		var ie *awsauth.InputError
		if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want InputError containing %q", name, err, tc.want)
		}
		e.secrets.Check(name, err)
	}
	if n := len(e.aws.Requests()); n != 0 {
		t.Errorf("%d AWS requests made for invalid input, want 0", n)
	}
}

func TestSessionName(t *testing.T) {
	now := time.Unix(1700000000, 0)
	t.Setenv("GITHUB_SHA", "0123456789abcdef0123")
	cases := map[string]string{
		"":                      "ship-0123456789ab-1700000000",
		"deploy prod/api #7":    "deploy-prod-api-7",
		strings.Repeat("a", 80): strings.Repeat("a", 64),
		"x":                     "x-",
	}
	for in, want := range cases {
		if got := awsauth.SessionName(in, now); got != want {
			t.Errorf("SessionName(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDefaultChain covers laptops: no token, no explicit keys; the SDK chain
// (here its environment provider) supplies keys and RoleARN is assumed.
func TestDefaultChain(t *testing.T) {
	e := setup(t, mainSub)
	userARN := e.aws.AddUser(fakeaws.CanaryAccessKeyID, fakeaws.CanarySecretKey)
	e.aws.TrustRoleForPrincipal(chainARN, userARN)
	t.Setenv("AWS_ACCESS_KEY_ID", fakeaws.CanaryAccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", fakeaws.CanarySecretKey)
	ctx := context.Background()
	cfg, err := awsauth.Config(ctx, awsauth.Options{Region: "us-east-1"})
	if err != nil {
		t.Fatalf("Config: %v", err)
	}
	if id, err := awsauth.WhoAmI(ctx, cfg); err != nil || id.ARN != userARN {
		t.Fatalf("WhoAmI = %v, %v; want %s", id, err, userARN)
	}
	cfg, err = awsauth.Config(ctx, awsauth.Options{Region: "us-east-1", RoleARN: chainARN, SessionName: "laptop"})
	if err != nil {
		t.Fatalf("Config with role: %v", err)
	}
	id, err := awsauth.WhoAmI(ctx, cfg)
	if err != nil || id.ARN != "arn:aws:sts::123456789012:assumed-role/ship-prod-deployer/laptop" {
		t.Fatalf("WhoAmI = %v, %v", id, err)
	}
	e.secrets.Check("default chain", id, err)
}

// A deploy that outlives its first credentials: the role session (here 4 s, STS's minimum is 15 min) and the
// GitHub token it was assumed with both expire. The refresh must fetch a new web identity token (the first
// one is dead), refresh ahead of expiry, and an EKS token minted afterwards must be signed with live
// credentials and say when it stops working. With the token fetched once, the refresh failed with STS's
// ExpiredTokenException.
func TestLongRunKeepsValidCredentials(t *testing.T) {
	e := setupWith(t, mainSub, fakeaws.Options{SessionLifetime: 4 * time.Second})
	e.aws.AddCluster("prod", "https://127.0.0.1:6443", nil)
	gh := oidc.GitHub{RequestURL: e.idp.TokenURL, RequestToken: fakeaws.CanaryRequestToken, HTTPClient: e.idp.HTTPClient()}
	// The job's first token has three seconds left; later ones live five minutes.
	e.idp.SetTemplate(fakeoidc.Claims{Subject: mainSub, Repository: "acme/shop", Ref: "refs/heads/main", Expiry: time.Now().Add(3 * time.Second)})
	first, err := gh.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	e.idp.SetTemplate(fakeoidc.Claims{Subject: mainSub, Repository: "acme/shop", Ref: "refs/heads/main"})
	ctx := context.Background()
	cfg, err := awsauth.Config(ctx, awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: first, RefreshWebIdentity: gh.Fetch})
	if err != nil {
		t.Fatal(err)
	}
	c1, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4500 * time.Millisecond) // the first session and the first token are both dead now
	c2, err := cfg.Credentials.Retrieve(ctx)
	if err != nil {
		t.Fatalf("refreshing after the first token expired: %v", err)
	}
	if c2.AccessKeyID == c1.AccessKeyID || !c2.Expires.After(time.Now()) {
		t.Fatalf("not refreshed: %s -> %s (expires %s)", c1.AccessKeyID, c2.AccessKeyID, c2.Expires)
	}
	if n := len(e.idp.Minted()); n < 2 {
		t.Fatalf("the web identity token was fetched %d time(s): the refresh reused the expired one", n)
	}
	tok, err := eks.NewToken(ctx, cfg, "prod", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.aws.VerifyEKSToken(tok.Value, "prod", time.Now()); err != nil {
		t.Fatalf("EKS refused the token minted after the refresh: %v", err)
	}
	if time.Until(tok.Expiry) > 5*time.Second {
		t.Fatalf("the EKS token claims to live until %s, past the credentials that signed it", tok.Expiry)
	}
	e.secrets.Check("long run: the EKS token printed", tok)
}

// Credentials are refreshed ahead of their expiry (the refresh window), not when they are already dead.
func TestCredentialsRefreshAheadOfExpiry(t *testing.T) {
	e := setupWith(t, mainSub, fakeaws.Options{SessionLifetime: 20 * time.Minute})
	ctx := context.Background()
	cfg, err := awsauth.Config(ctx, awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: e.fetch(t, mainSub, oidc.DefaultAudience)})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := cfg.Credentials.Retrieve(ctx)
	b, _ := cfg.Credentials.Retrieve(ctx)
	// 20 minutes left is more than the EKS token's 15: kept.
	if a.AccessKeyID != b.AccessKeyID {
		t.Fatalf("credentials with 20 minutes left were refreshed")
	}
	short := setupWith(t, mainSub, fakeaws.Options{SessionLifetime: 10 * time.Minute})
	cfg, err = awsauth.Config(ctx, awsauth.Options{Region: "us-east-1", RoleARN: roleARN, WebIdentity: short.fetch(t, mainSub, oidc.DefaultAudience)})
	if err != nil {
		t.Fatal(err)
	}
	a, _ = cfg.Credentials.Retrieve(ctx)
	b, _ = cfg.Credentials.Retrieve(ctx)
	// 10 minutes left is less than an EKS token lives: refreshed before use.
	if a.AccessKeyID == b.AccessKeyID {
		t.Fatalf("credentials with 10 minutes left were used to sign 15-minute tokens")
	}
}
