// EKS tests against fakeaws: DescribeCluster's error paths, and bearer tokens
// verified the way EKS verifies them (URL shape checks, then STS must accept
// the presigned call with the cluster header), including refusal of a token
// minted for another cluster and of a stale one.
package eks_test

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/eks"
	"dagger/ship/internal/testenv/fakeaws"
)

var caPEM = []byte("-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n")

func setup(t *testing.T) (*fakeaws.Server, aws.Config, *fakeaws.Secrets) {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{})
	s.SetEnv(t)
	s.AddUser(fakeaws.CanaryAccessKeyID, fakeaws.CanarySecretKey)
	s.AddCluster("prod", "https://127.0.0.1:6443", caPEM)
	cfg, err := awsauth.Config(context.Background(), awsauth.Options{Region: "us-east-1",
		AccessKeyID: fakeaws.CanaryAccessKeyID, SecretAccessKey: fakeaws.CanarySecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg, fakeaws.Canaries(t).AddSource(s.IssuedSecrets)
}

func TestDescribe(t *testing.T) {
	s, cfg, secrets := setup(t)
	ctx := context.Background()
	cl, err := eks.Describe(ctx, cfg, "prod")
	if err != nil {
		t.Fatalf("Describe: %v", err)
	}
	if cl.Endpoint != "https://127.0.0.1:6443" || string(cl.CAData) != string(caPEM) || cl.Status != "ACTIVE" ||
		cl.ARN != "arn:aws:eks:us-east-1:123456789012:cluster/prod" || cl.Version == "" {
		t.Errorf("cluster = %+v", cl)
	}
	s.AddCluster("staging", "https://127.0.0.1:7443", caPEM)
	s.SetClusterStatus("staging", "UPDATING")
	s.FailNext("DescribeCluster", fakeaws.APIError{Code: "AccessDeniedException", Status: 403,
		Message: "User: arn:aws:sts::123456789012:assumed-role/ci/x is not authorized to perform: eks:DescribeCluster"}, 1)
	cases := []struct{ name, cluster, want string }{
		{"access denied", "prod", "the role needs eks:DescribeCluster on arn:aws:eks:us-east-1:<account>:cluster/prod"},
		{"not found", "nope", `cluster "nope": not found in region us-east-1`},
		{"not active", "staging", "status is UPDATING, not ACTIVE"},
		{"bad name", "-x", "invalid name"},
	}
	for _, tc := range cases {
		_, err := eks.Describe(ctx, cfg, tc.cluster)
		var ce *eks.ClusterError
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want ClusterError containing %q", tc.name, err, tc.want)
		}
		secrets.Check(tc.name, err)
	}
}

func TestTokenVerifiesLikeEKS(t *testing.T) {
	s, cfg, secrets := setup(t)
	ctx := context.Background()
	now := time.Now()
	tok, err := eks.NewToken(ctx, cfg, "prod", now)
	if err != nil {
		t.Fatalf("NewToken: %v", err)
	}
	if !strings.HasPrefix(tok.Value, eks.TokenPrefix) || !tok.Expiry.Equal(now.Add(14*time.Minute)) {
		t.Errorf("token prefix/expiry wrong: %v", tok)
	}
	q := tokenQuery(t, tok.Value)
	if q.Get("X-Amz-Expires") != "60" || !strings.Contains(q.Get("X-Amz-SignedHeaders"), "x-k8s-aws-id") {
		t.Errorf("presigned query = %v", q)
	}
	caller, err := s.VerifyEKSToken(tok.Value, "prod", now)
	if err != nil {
		t.Fatalf("EKS would refuse the token: %v", err)
	}
	if !strings.HasPrefix(caller, "arn:aws:iam::123456789012:user/") {
		t.Errorf("token authenticates as %s", caller)
	}
	if _, err := s.VerifyEKSToken(tok.Value, "staging", now); err == nil || !strings.Contains(err.Error(), "HTTP 403") {
		t.Errorf("token for prod accepted for another cluster: %v", err)
	}
	if _, err := s.VerifyEKSToken(tok.Value, "prod", now.Add(16*time.Minute)); err == nil || !strings.Contains(err.Error(), "older than 15 minutes") {
		t.Errorf("stale token accepted: %v", err)
	}
	secrets.Add(tok.Value, strings.TrimPrefix(tok.Value, eks.TokenPrefix)).Check("token", tok, &tok, tok.String())
}

func TestVerifierRejectsTamperedTokens(t *testing.T) {
	s, cfg, _ := setup(t)
	tok, err := eks.NewToken(context.Background(), cfg, "prod", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok.Value, eks.TokenPrefix))
	u, _ := url.Parse(string(raw))
	redated := func(q url.Values) {
		d, _ := time.Parse("20060102T150405Z", q.Get("X-Amz-Date"))
		q.Set("X-Amz-Date", d.Add(-time.Second).Format("20060102T150405Z"))
	}
	mutate := map[string]struct {
		f    func(q url.Values)
		want string
	}{
		"extra param":     {func(q url.Values) { q.Set("Foo", "bar") }, "disallowed query parameter"},
		"long expiry":     {func(q url.Values) { q.Set("X-Amz-Expires", "900") }, "must be 1..60"},
		"header unsigned": {func(q url.Values) { q.Set("X-Amz-SignedHeaders", "host") }, "not a signed header"},
		"other action":    {func(q url.Values) { q.Set("Action", "GetSessionToken") }, "not GetCallerIdentity"},
		"re-dated":        {redated, "HTTP 403"},
	}
	for name, m := range mutate {
		cp := *u
		q := cp.Query()
		m.f(q)
		cp.RawQuery = q.Encode()
		bad := eks.TokenPrefix + base64.RawURLEncoding.EncodeToString([]byte(cp.String()))
		if _, err := s.VerifyEKSToken(bad, "prod", time.Now()); err == nil || !strings.Contains(err.Error(), m.want) {
			t.Errorf("%s: tampered token: error %v, want %q", name, err, m.want)
		}
	}
	if _, err := s.VerifyEKSToken(strings.TrimPrefix(tok.Value, eks.TokenPrefix), "prod", time.Now()); err == nil {
		t.Error("token without prefix accepted")
	}
}

func tokenQuery(t *testing.T, tok string) url.Values {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, eks.TokenPrefix))
	if err != nil {
		t.Fatalf("token is not base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}
