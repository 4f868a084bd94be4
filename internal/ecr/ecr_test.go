// ECR tests against fakeaws and a REAL registry: the password fakeaws hands
// out is the registry's htpasswd password, so a successful push and pull
// proves Login decoded the token correctly end to end.
package ecr_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"dagger/ship/internal/awsauth"
	"dagger/ship/internal/ecr"
	"dagger/ship/internal/testenv/fakeaws"
	"dagger/ship/internal/testenv/registry"
)

func setup(t *testing.T) (*fakeaws.Server, aws.Config, *fakeaws.Secrets) {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{})
	s.SetEnv(t)
	s.AddUser(fakeaws.CanaryAccessKeyID, fakeaws.CanarySecretKey)
	cfg, err := awsauth.Config(context.Background(), awsauth.Options{Region: "us-east-1",
		AccessKeyID: fakeaws.CanaryAccessKeyID, SecretAccessKey: fakeaws.CanarySecretKey})
	if err != nil {
		t.Fatal(err)
	}
	return s, cfg, fakeaws.Canaries(t).AddSource(s.IssuedSecrets)
}

func TestLoginPushPull(t *testing.T) {
	s, cfg, secrets := setup(t)
	reg := registry.Start(t, "AWS", fakeaws.CanaryECRPassword)
	s.ECRPassword = fakeaws.CanaryECRPassword
	s.ECRProxyEndpoint = "https://" + reg.Host
	ctx := context.Background()
	creds, err := ecr.Login(ctx, cfg)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if creds.Registry != reg.Host || creds.Username != "AWS" || creds.Password != fakeaws.CanaryECRPassword {
		t.Fatalf("Login gave registry %s user %s (password matches: %t)", creds.Registry, creds.Username, creds.Password == fakeaws.CanaryECRPassword)
	}
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(creds.Registry + "/shop/api:v1")
	if err != nil {
		t.Fatal(err)
	}
	auth := remote.WithAuth(&authn.Basic{Username: creds.Username, Password: creds.Password})
	if err := remote.Write(ref, img, auth, remote.WithTransport(reg.Transport())); err != nil {
		t.Fatalf("push: %v", err)
	}
	pulled, err := remote.Image(ref, auth, remote.WithTransport(reg.Transport()))
	if err != nil {
		t.Fatalf("pull: %v", err)
	}
	want, _ := img.Digest()
	got, _ := pulled.Digest()
	if want != got {
		t.Errorf("pulled digest %s, pushed %s", got, want)
	}
	// The registry really checks the password.
	bad := remote.WithAuth(&authn.Basic{Username: "AWS", Password: "wrong"})
	if _, err := remote.Image(ref, bad, remote.WithTransport(reg.Transport())); err == nil {
		t.Error("registry accepted a wrong password")
	}
	secrets.Check("login", creds, &creds, creds.String())
}

func TestMissingRepositoryAndCreateOptIn(t *testing.T) {
	s, cfg, secrets := setup(t)
	ctx := context.Background()
	_, err := ecr.Repository(ctx, cfg, "shop/api", nil)
	var missing *ecr.MissingRepositoryError
	if !errors.As(err, &missing) {
		t.Fatalf("want MissingRepositoryError, got %v", err)
	}
	for _, w := range []string{`"shop/api" does not exist in us-east-1`, "--create-repository", "bootstrap"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("message lacks %q: %s", w, err)
		}
	}
	if len(s.RequestsFor("CreateRepository")) != 0 {
		t.Error("created a repository without opt-in")
	}
	cases := []struct {
		name, kms, wantType string
	}{{"shop/api", "", "AES256"}, {"shop/worker", "arn:aws:kms:us-east-1:123456789012:key/abc", "KMS"}}
	for _, tc := range cases {
		uri, err := ecr.Repository(ctx, cfg, tc.name, &ecr.CreateOptions{KMSKeyARN: tc.kms, Tags: map[string]string{"app": "shop"}})
		if err != nil {
			t.Fatalf("create %s: %v", tc.name, err)
		}
		if uri != "123456789012.dkr.ecr.us-east-1.amazonaws.com/"+tc.name {
			t.Errorf("uri = %s", uri)
		}
		reqs := s.RequestsFor("CreateRepository")
		body := reqs[len(reqs)-1].Body
		enc := body["encryptionConfiguration"].(map[string]any)
		if body["imageTagMutability"] != "IMMUTABLE" || body["imageScanningConfiguration"].(map[string]any)["scanOnPush"] != true ||
			enc["encryptionType"] != tc.wantType || (tc.kms != "" && enc["kmsKey"] != tc.kms) {
			t.Errorf("%s: CreateRepository sent %v", tc.name, body)
		}
	}
	uri, err := ecr.Repository(ctx, cfg, "shop/api", nil)
	if err != nil || !strings.HasSuffix(uri, "/shop/api") {
		t.Errorf("existing repository: %s, %v", uri, err)
	}
	if r := s.Repository("shop/api"); r == nil || r.ImageTagMutability != "IMMUTABLE" {
		t.Errorf("stored repository: %+v", r)
	}
	secrets.Check("repository", err, missing)
}

func TestRepositoryURI(t *testing.T) {
	cases := []struct{ account, region, name, want, wantErr string }{
		{"123456789012", "us-east-1", "shop/api", "123456789012.dkr.ecr.us-east-1.amazonaws.com/shop/api", ""},
		{"123456789012", "cn-north-1", "api", "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/api", ""},
		{"123456789012", "us-gov-west-1", "api", "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/api", ""},
		{"123456789012", "us-east-1", "Shop/API", "", "lowercase"},
		{"123456789012", "us-east-1", "shop//api", "", "repository name"},
		{"123456789012", "us-east-1", "shop/api-", "", "repository name"},
		{"12345", "us-east-1", "api", "", "12-digit"},
		{"123456789012", "useast1", "api", "", "region"},
	}
	for _, tc := range cases {
		got, err := ecr.RepositoryURI(tc.account, tc.region, tc.name)
		if tc.wantErr != "" {
			var ie *ecr.InputError
			if !errors.As(err, &ie) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("RepositoryURI(%s,%s,%s) error = %v, want %q", tc.account, tc.region, tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("RepositoryURI(%s,%s,%s) = %s, %v; want %s", tc.account, tc.region, tc.name, got, err, tc.want)
		}
	}
}

func TestLoginAccessDenied(t *testing.T) {
	s, cfg, secrets := setup(t)
	s.FailNext("GetAuthorizationToken", fakeaws.APIError{Code: "AccessDeniedException", Status: 400,
		Message: "User is not authorized to perform: ecr:GetAuthorizationToken"}, 1)
	_, err := ecr.Login(context.Background(), cfg)
	if err == nil || !strings.Contains(err.Error(), "needs ecr:GetAuthorizationToken") {
		t.Errorf("access denied: %v", err)
	}
	secrets.Check("denied", err)
}
