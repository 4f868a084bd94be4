// Publishing against the fake ECR (it verifies every signature) in front of a REAL registry: the first
// publish of a revision pushes, the second reuses the pushed image and pushes nothing, and a revision that
// was never published is reported as such. Pushes are counted on the wire, as manifest PUTs.
package publish_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/ecr"
	"dagger/ship/internal/publish"
	"dagger/ship/internal/testenv/fakeaws"
	"dagger/ship/internal/testenv/registry"
)

// countingTransport counts manifest PUTs: one per tag pushed (ECR's PutImage).
type countingTransport struct {
	next http.RoundTripper
	puts *atomic.Int32
}

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
		c.puts.Add(1)
	}
	return c.next.RoundTrip(r)
}

func TestARevisionIsPushedOnceThenReused(t *testing.T) {
	ctx := context.Background()
	s := fakeaws.New(t, fakeaws.Options{})
	s.SetEnv(t)
	s.AddUser(fakeaws.CanaryAccessKeyID, fakeaws.CanarySecretKey)
	reg := registry.Start(t, "AWS", fakeaws.CanaryECRPassword)
	s.ECRPassword, s.ECRProxyEndpoint, s.ECRRegistry = fakeaws.CanaryECRPassword, "https://"+reg.Host, reg.Transport()
	s.AddRepository("fastapi-app")
	cfg, err := awsauth.Config(ctx, awsauth.Options{Region: "us-east-1", AccessKeyID: fakeaws.CanaryAccessKeyID, SecretAccessKey: fakeaws.CanarySecretKey})
	if err != nil {
		t.Fatal(err)
	}
	uri, err := ecr.Repository(ctx, cfg, "fastapi-app", nil)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := ecr.Login(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var puts, builds atomic.Int32
	// Every build makes a different image, as a Dockerfile rebuild after an engine restart does.
	push := func(ctx context.Context, tags []string) (string, error) {
		builds.Add(1)
		img, err := random.Image(512, 1)
		if err != nil {
			return "", err
		}
		for _, tag := range tags {
			ref, err := name.ParseReference(uri + ":" + tag)
			if err != nil {
				return "", err
			}
			if err := remote.Write(ref, img, remote.WithAuth(&authn.Basic{Username: creds.Username, Password: creds.Password}),
				remote.WithTransport(countingTransport{next: reg.Transport(), puts: &puts})); err != nil {
				return "", err
			}
		}
		d, err := img.Digest()
		return d.String(), err
	}
	lookup := publish.ECR{Config: cfg, Repository: "fastapi-app"}

	first, err := publish.Ensure(ctx, uri, lookup, "abc123", []string{"latest"}, push)
	if err != nil {
		t.Fatal(err)
	}
	if first.Reused || builds.Load() != 1 || puts.Load() != 2 || !strings.HasPrefix(first.Ref, uri+":abc123@sha256:") {
		t.Fatalf("first publish: %+v, builds %d, manifest PUTs %d", first, builds.Load(), puts.Load())
	}
	again, err := publish.Ensure(ctx, uri, lookup, "abc123", []string{"latest"}, push)
	if err != nil {
		t.Fatal(err)
	}
	if !again.Reused || again.Ref != first.Ref || builds.Load() != 1 || puts.Load() != 2 {
		t.Fatalf("second publish: %+v (first %s), builds %d, manifest PUTs %d", again, first.Ref, builds.Load(), puts.Load())
	}
	found, err := publish.Find(ctx, uri, lookup, "abc123")
	if err != nil || found != first.Ref {
		t.Fatalf("find: %q %v", found, err)
	}
	var np *publish.NotPublishedError
	if _, err := publish.Find(ctx, uri, lookup, "never-built"); !errors.As(err, &np) || !strings.Contains(err.Error(), "promote never builds") {
		t.Fatalf("unpublished revision: %v", err)
	}
	var missing *ecr.MissingRepositoryError
	if _, err := publish.Find(ctx, uri, publish.ECR{Config: cfg, Repository: "nope"}, "abc123"); !errors.As(err, &missing) {
		t.Fatalf("missing repository: %v", err)
	}
	if got := len(s.RequestsFor("DescribeImages")); got != 5 {
		t.Fatalf("DescribeImages calls = %d, want 5", got)
	}
}

// A lookup error is read by its words and status codes, never by digits that happen to be in a port.
func TestIsNotFound(t *testing.T) {
	for _, tc := range []struct {
		msg  string
		want bool
	}{
		{"failed to resolve source metadata for 127.0.0.1:5000/app:v3: 127.0.0.1:5000/app:v3: not found", true},
		{"GET https://reg.example/v2/app/manifests/v3: MANIFEST_UNKNOWN: manifest unknown", true},
		{"unexpected status code 404 Not Found (HEAD 127.0.0.1:5000/v2/app/manifests/v3)", true},
		{"failed to resolve source metadata for 127.0.0.1:37401/app:v3: 127.0.0.1:37401/app:v3: not found", true},
		{"failed to resolve 127.0.0.1:34033/app:v3: not found", true},
		{"failed to resolve 127.0.0.1:40412/app:v3: connection refused", false},
		{"unexpected status from HEAD request to https://127.0.0.1:5000/v2/app/manifests/v3: 401 Unauthorized", false},
		{"pull access denied, repository does not exist or may require authorization: not found", false},
		{"unexpected status code 403 Forbidden: not found", false},
		{"app@sha256:4041aa: not found", true},
		{"dial tcp 127.0.0.1:5000: connect: connection refused", false},
	} {
		if got := publish.IsNotFound(tc.msg); got != tc.want {
			t.Errorf("IsNotFound(%q) = %v, want %v", tc.msg, got, tc.want)
		}
	}
}
