// Package fakeaws is an honest stand-in for the AWS endpoints the pipeline uses
// (STS, IAM, ECR, EKS, KMS). It exists so tests can drive the REAL aws-sdk-go-v2
// clients without an AWS account, and it guards against the usual lie of a fake:
// every signed request is re-signed with the SDK's own SigV4 signer and refused
// on mismatch, web identity tokens are verified like STS does, and every answer
// uses the service's real wire protocol and error shape.
//
// # Adding an operation
//
// Put it in a new file (other engineers: `*_extra.go`) and register it in init:
//
//	func init() {
//		register("iam", "DeleteRole", func(s *Server, c *Call) (any, error) {
//			name := c.Param("RoleName")           // awsquery form value
//			if _, ok := s.state.roles[name]; !ok {
//				return nil, NoSuchEntity("role " + name) // *APIError, protocol shaped for you
//			}
//			delete(s.state.roles, name)
//			return struct{}{}, nil // encoded as <DeleteRoleResult/>
//		})
//	}
//
// awsquery (sts, iam) results are XML-encoded inside <OpResult>; awsJson1.1
// (ecr) and restJson1 (eks) results are JSON-encoded. For restJson1 also call
// registerRoute("eks", "DELETE", "/clusters/{name}/access-entries/{principalArn}", "DeleteAccessEntry");
// path parameters come back unescaped via c.Path("principalArn"). JSON bodies
// are in c.Body (decoded into map[string]any; use c.Decode(&v) for a struct).
// Handlers run with the server lock held: read and write s.state directly; put
// new state in s.Bucket("name"). Every handled request is recorded for Requests().
package fakeaws

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// Options configures a fake AWS endpoint.
type Options struct {
	Account string // default 123456789012
	Region  string // default us-east-1
	// Now overrides the clock used for signature skew and token expiry checks.
	Now func() time.Time
	// SessionLifetime, when set, is how long every issued role session lasts, whatever DurationSeconds
	// asked for (STS's minimum is 15 minutes): a test of credential refresh need not wait that long.
	SessionLifetime time.Duration
}

// Server is one fake AWS endpoint serving every supported service.
type Server struct {
	URL     string
	CAPEM   []byte
	CAFile  string
	Account string
	Region  string

	// ECRPassword is the password GetAuthorizationToken hands out (as
	// base64("AWS:"+password)). ECRProxyEndpoint is its proxyEndpoint.
	ECRPassword      string
	ECRProxyEndpoint string
	// ECRRegistry, when set, is the real registry behind ECRProxyEndpoint: DescribeImages answers from
	// what was pushed there (so a test sees exactly the pushes the code made), and repository URIs name it.
	ECRRegistry http.RoundTripper

	srv      *httptest.Server
	now      func() time.Time
	lifetime time.Duration
	mu       sync.Mutex
	state    *state
	log      []Request
	fails    map[string][]*APIError
}

// Request is what the server recorded about one handled request.
type Request struct {
	Service   string
	Operation string
	Signed    bool
	Presigned bool
	AccessKey string // access key id that signed it; never the secret
	Params    map[string][]string
	Path      map[string]string
	Body      map[string]any
	Status    int
	ErrorCode string
}

// New starts a fake AWS endpoint that lives until the test ends.
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if opts.Account == "" {
		opts.Account = "123456789012"
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Server{Account: opts.Account, Region: opts.Region, now: opts.Now, lifetime: opts.SessionLifetime,
		state: newState(), fails: map[string][]*APIError{}}
	s.srv = httptest.NewTLSServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	s.URL = s.srv.URL
	s.ECRProxyEndpoint = s.URL
	cert := s.srv.Certificate()
	s.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	s.CAFile = filepath.Join(t.TempDir(), "fakeaws-ca.pem")
	if err := os.WriteFile(s.CAFile, s.CAPEM, 0o600); err != nil {
		t.Fatalf("fakeaws: write CA bundle: %v", err)
	}
	return s
}

// HTTPClient returns a client that trusts the server's certificate.
func (s *Server) HTTPClient() *http.Client { return s.srv.Client() }

// CertPool returns a pool holding the server's CA.
func (s *Server) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.srv.Certificate())
	return p
}

// Env returns the environment that points the AWS SDK and CLI at this server.
func (s *Server) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_STS": s.URL,
		"AWS_ENDPOINT_URL_ECR": s.URL,
		"AWS_ENDPOINT_URL_EKS": s.URL,
		"AWS_ENDPOINT_URL_IAM": s.URL,
		"AWS_ENDPOINT_URL_KMS": s.URL,
		"AWS_CA_BUNDLE":        s.CAFile,
		"AWS_REGION":           s.Region,
		// Keep the SDK default chain off the network beyond this server.
		"AWS_EC2_METADATA_DISABLED": "true",
	}
}

// SetEnv applies Env() for the duration of the test (not parallel-safe).
func (s *Server) SetEnv(t testing.TB) {
	t.Helper()
	for k, v := range s.Env() {
		t.Setenv(k, v)
	}
}

// Requests returns a copy of every request handled so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.log...)
}

// RequestsFor returns the recorded requests for one operation.
func (s *Server) RequestsFor(op string) []Request {
	var out []Request
	for _, r := range s.Requests() {
		if r.Operation == op {
			out = append(out, r)
		}
	}
	return out
}

// FailNext makes the next `times` calls of op fail with err (after the
// signature check, like a real service would), e.g. Throttling.
func (s *Server) FailNext(op string, err APIError, times int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < times; i++ {
		e := err
		s.fails[op] = append(s.fails[op], &e)
	}
}

// Bucket returns a named map for state added by extra operations.
func (s *Server) Bucket(name string) map[string]any {
	b, ok := s.state.buckets[name]
	if !ok {
		b = map[string]any{}
		s.state.buckets[name] = b
	}
	return b
}

func (s *Server) requestID() string {
	s.state.seq++
	return fmt.Sprintf("fake-%08d-0000-4000-8000-000000000000", s.state.seq)
}
