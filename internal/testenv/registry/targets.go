// This file gives the attestation and gate tests the same two registries to run against, set up once: the
// referrers API and its tag-schema fallback behave differently, and each test must see both.
package registry

import (
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// Target is a registry under test: its host, the options that reach it, and whether it has the referrers API.
type Target struct {
	Host         string
	Options      []remote.Option
	ReferrersAPI bool
}

// Targets starts go-containerregistry's in-memory registry with the referrers API, and Debian's
// docker-registry 2.8 (TLS, htpasswd user "ship" with password), which has no referrers API, until the test ends.
func Targets(t testing.TB, password string) map[string]Target {
	mem := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(mem.Close)
	deb := Start(t, "ship", password)
	return map[string]Target{
		"with referrers API": {Host: strings.TrimPrefix(mem.URL, "http://"), ReferrersAPI: true},
		"docker-registry 2.8, tag schema": {Host: deb.Host, Options: []remote.Option{
			remote.WithAuth(&authn.Basic{Username: "ship", Password: password}), remote.WithTransport(deb.Transport())}},
	}
}

// PushImage pushes a random linux/amd64 image as repo:tag and returns its digest reference.
func (tg Target) PushImage(t testing.TB, repo, tag string) name.Digest {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	if img, err = mutate.ConfigFile(img, &v1.ConfigFile{OS: "linux", Architecture: "amd64"}); err != nil {
		t.Fatal(err)
	}
	ref, err := name.NewTag(tg.Host + "/" + repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, tg.Options...); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return ref.Context().Digest(d.String())
}
