// Online doctor runs against the signature-checking fake AWS, set up by the
// real bootstrap: a healthy setup passes, and each broken piece (trust read
// denied, narrowed access-entry scope, missing repository, denied
// DescribeCluster, wrong CA, unreachable endpoint) fails with its fix.
package doctor

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/policy"
	"dagger/ship/internal/testenv/fakeaws"
	"dagger/ship/internal/testenv/fakeoidc"
)

func policyInputs() policy.Inputs {
	return policy.Inputs{Account: "123456789012", Region: "eu-west-1", GitHubOwner: "acme", GitHubRepo: "shop", RepoID: testRepoID,
		ECRRepository: "acme/shop", Cluster: "prod-eks",
		Environments: []policy.Environment{{Name: "dev", Namespace: "shop-dev"}, {Name: "staging", Namespace: "shop-staging"}, {Name: "prod", Namespace: "shop"}}}
}

// apiServer answers like an EKS endpoint with anonymous auth disabled.
func apiServer(t *testing.T) (*httptest.Server, []byte) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"kind":"Status","status":"Failure","reason":"Unauthorized","code":401}`)
	}))
	t.Cleanup(srv.Close)
	return srv, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
}

// selfSignedCA is a CA that signed nothing the test servers present.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "other-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type onlineEnv struct {
	aws   *fakeaws.Server
	cfg   aws.Config
	iss   *fakeoidc.Issuer
	token func(sub string) Inputs
}

func newOnline(t *testing.T, iss *fakeoidc.Issuer, endpoint string, caPEM []byte) *onlineEnv {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{Account: "123456789012", Region: "eu-west-1"})
	s.AddUser("AKIAADMINTESTKEY0001", "admin-secret-for-fakeaws-only-0000000000")
	s.AddCluster("prod-eks", endpoint, caPEM)
	cfg := aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAADMINTESTKEY0001", "admin-secret-for-fakeaws-only-0000000000", "")}
	var out bytes.Buffer
	if _, err := bootstrap.Apply(context.Background(), bootstrap.NewClients(cfg), policyInputs(), false, &out); err != nil {
		t.Fatalf("bootstrap: %v\n%s", err, out.String())
	}
	e := &onlineEnv{aws: s, cfg: cfg, iss: iss}
	e.token = func(sub string) Inputs {
		return Inputs{Policy: policyInputs(), Environment: "prod", AWS: &e.cfg,
			Token: mint(t, e.iss, fakeoidc.Claims{Subject: sub})}
	}
	return e
}

func TestOnlineHealthySetup(t *testing.T) {
	srv, ca := apiServer(t)
	e := newOnline(t, fakeoidc.New(t, "request-token"), srv.URL, ca)
	before := len(e.aws.Requests())
	r := Run(context.Background(), e.token("repo:acme/shop:environment:prod"))
	var ops []string
	for _, req := range e.aws.Requests()[before:] {
		ops = append(ops, req.Operation)
	}
	if got := strings.Join(ops, ","); got != "GetRole,DescribeCluster,DescribeRepositories,DescribeAccessEntry,ListAssociatedAccessPolicies" {
		t.Errorf("doctor's AWS calls = %s", got)
	}
	if !r.OK() {
		t.Fatalf("healthy setup failed:\n%s", r)
	}
	for _, name := range []string{CheckToken, CheckEnvironment, CheckTrust, CheckCluster, CheckRepository, CheckAccessEntry, CheckEndpoint} {
		if r.Check(name).Status != Pass {
			t.Errorf("%s = %+v", name, r.Check(name))
		}
	}
	if !strings.Contains(r.Check(CheckTrust).Detail, "iam:GetRole ship-shop-prod") ||
		!strings.Contains(r.Check(CheckEndpoint).Detail, "HTTP 401") {
		t.Errorf("details:\n%s", r)
	}
	assertNoSecrets(t, e.iss, r.String())
}

func TestOnlineFailures(t *testing.T) {
	srv, ca := apiServer(t)
	otherCA := selfSignedCA(t)
	iss := fakeoidc.New(t, "request-token")
	cases := []struct {
		name    string
		breakIt func(e *onlineEnv, in *Inputs)
		check   string
		status  Status
		want    []string
	}{
		{"branch job vs environment trust (via GetRole)", func(e *onlineEnv, in *Inputs) {
			*in = e.token("repo:acme/shop:ref:refs/heads/main")
		}, CheckTrust, Fail, []string{"the job has no `environment:` (it runs on refs/heads/main)", "add the job's `environment:`"}},
		{"GetRole denied as CI role: the generated trust policy is checked", func(e *onlineEnv, in *Inputs) {
			e.aws.FailNext("GetRole", *fakeaws.AccessDenied("User is not authorized to perform: iam:GetRole"), 1)
		}, CheckTrust, Pass, []string{"bootstrap's generated policy for ship-shop-prod", "pass --trust-policy"}},
		{"access entry scoped to another namespace", func(e *onlineEnv, in *Inputs) {
			b, _ := policy.Generate(policyInputs())
			prod, _ := b.Role("ship-shop-prod")
			_, err := bootstrap.NewClients(e.cfg).EKS.AssociateAccessPolicy(context.Background(), &eks.AssociateAccessPolicyInput{
				ClusterName: aws.String("prod-eks"), PrincipalArn: &prod.ARN, PolicyArn: &prod.AccessEntry.PolicyARN,
				AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeTypeNamespace, Namespaces: []string{"staging"}}})
			if err != nil {
				panic(err)
			}
		}, CheckAccessEntry, Fail, []string{"namespace(s) shop", "AmazonEKSEditPolicy in namespace(s) staging", "Forbidden",
			"aws eks associate-access-policy --cluster-name prod-eks --principal-arn arn:aws:iam::123456789012:role/ship-shop-prod --policy-arn arn:aws:eks::aws:cluster-access-policy/AmazonEKSEditPolicy --access-scope type=namespace,namespaces=shop"}},
		{"no access entry", func(e *onlineEnv, in *Inputs) {
			in.RoleName = "someone-else"
		}, CheckAccessEntry, Fail, []string{"no access entry for arn:aws:iam::123456789012:role/someone-else", "create-access-entry"}},
		{"access entry read denied", func(e *onlineEnv, in *Inputs) {
			e.aws.FailNext("DescribeAccessEntry", fakeaws.APIError{Code: "AccessDeniedException", Message: "denied", Status: 403}, 1)
		}, CheckAccessEntry, Skip, []string{"administrator credentials"}},
		{"missing repository", func(e *onlineEnv, in *Inputs) {
			in.Policy.ECRRepository = "acme/missing"
		}, CheckRepository, Fail, []string{"\"acme/missing\" does not exist", "bootstrap"}},
		{"DescribeCluster denied", func(e *onlineEnv, in *Inputs) {
			e.aws.FailNext("DescribeCluster", fakeaws.APIError{Code: "AccessDeniedException", Message: "denied", Status: 403}, 1)
		}, CheckCluster, Fail, []string{"allow eks:DescribeCluster on arn:aws:eks:eu-west-1:123456789012:cluster/prod-eks"}},
		{"wrong CA", func(e *onlineEnv, in *Inputs) {
			in.ClusterEndpoint, in.ClusterCAPEM = srv.URL, otherCA
		}, CheckEndpoint, Fail, []string{"does not match the cluster CA"}},
		{"unreachable endpoint", func(e *onlineEnv, in *Inputs) {
			in.ClusterEndpoint, in.ClusterCAPEM = "https://127.0.0.1:1", ca
		}, CheckEndpoint, Fail, []string{"does not answer", "private"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newOnline(t, iss, srv.URL, ca)
			in := e.token("repo:acme/shop:environment:prod")
			c.breakIt(e, &in)
			r := Run(context.Background(), in)
			assertCheck(t, r, c.check, c.status, c.want)
			assertNoSecrets(t, e.iss, r.String())
		})
	}
}

// assertCheck asserts the report's check has the status, says each of want in its detail or fix, and that a
// failed check fails the report.
func assertCheck(t *testing.T, r Report, check string, status Status, want []string) {
	t.Helper()
	ck := r.Check(check)
	if ck.Status != status {
		t.Fatalf("%s status = %v, want %v\n%s", check, ck.Status, status, r)
	}
	for _, w := range want {
		if !strings.Contains(ck.Detail+"\n"+ck.Fix, w) {
			t.Errorf("%s lacks %q:\n%s", check, w, r)
		}
	}
	if status == Fail && r.OK() {
		t.Error("report OK despite a failed check")
	}
}
