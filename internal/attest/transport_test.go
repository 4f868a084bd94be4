package attest

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// TestDialVia reaches a registry known as localhost:<unused port> at its real address, as the module does
// with a registry on the caller's loopback, and attaches an attestation through it.
func TestDialVia(t *testing.T) {
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	const address = "localhost:1" // nothing listens there: every request must go through the endpoint
	opts := []remote.Option{remote.WithTransport(DialVia(address, strings.TrimPrefix(srv.URL, "http://")))}
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(address + "/app:r1")
	if err := remote.Write(tag, img, opts...); err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	ref := tag.Context().Digest(d.String())
	if _, err := Attach(context.Background(), ref, Attestation{ArtifactType: sbomType, Data: []byte("{}")}, opts...); err != nil {
		t.Fatal(err)
	}
	if got, err := Read(context.Background(), ref, sbomType, opts...); err != nil || string(got) != "{}" {
		t.Fatalf("read back %q, %v", got, err)
	}
	if _, err := remote.Head(ref); err == nil {
		t.Fatal("localhost:1 answered without the endpoint: the test proves nothing")
	}
}

func TestSameAddress(t *testing.T) {
	for _, tc := range []struct {
		dialled, registry string
		want              bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:5000", true},
		{"registry.example:443", "registry.example", true},
		{"registry.example:80", "registry.example", true},
		{"registry.example:5000", "registry.example", false},
		{"other:5000", "127.0.0.1:5000", false},
	} {
		if got := sameAddress(tc.dialled, tc.registry); got != tc.want {
			t.Errorf("sameAddress(%q, %q) = %v", tc.dialled, tc.registry, got)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"localhost:5000": true, "127.0.0.1:5001": true, "127.8.0.1": true, "[::1]:5000": true,
		"localhost": true, "ghcr.io": false, "10.0.0.5:5000": false, "registry.local:5000": false} {
		if got := IsLoopback(addr); got != want {
			t.Errorf("IsLoopback(%q) = %v", addr, got)
		}
	}
}
