// Tests against two real registries: go-containerregistry's in-memory registry with the referrers API, and
// Debian's docker-registry 2.8 (internal/testenv/registry, TLS and htpasswd) which has no referrers API, so
// attestations go through the referrers tag schema there. Each checks what a standard client would see.
package attest

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"dagger/ship/internal/testenv/registry"
)

const (
	sbomType = "application/vnd.cyclonedx+json"
	provType = "application/vnd.in-toto+json"
)

// pushIndex pushes a two-platform index.
func pushIndex(t *testing.T, tg registry.Target, repo string) (name.Digest, map[string]string) {
	t.Helper()
	idx := v1.ImageIndex(mutate.IndexMediaType(emptyIndex(), "application/vnd.oci.image.index.v1+json"))
	digests := map[string]string{}
	for _, arch := range []string{"amd64", "arm64"} {
		img, err := random.Image(128, 1)
		if err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, "application/vnd.oci.image.manifest.v1+json")
		d, _ := img.Digest()
		digests["linux/"+arch] = d.String()
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	tag, err := name.NewTag(tg.Host + "/" + repo + ":r2")
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx, tg.Options...); err != nil {
		t.Fatal(err)
	}
	d, _ := idx.Digest()
	return tag.Context().Digest(d.String()), digests
}

func TestAttachReadAndIdempotency(t *testing.T) {
	ctx := context.Background()
	for tname, tg := range registry.Targets(t, "attest-test-password") {
		t.Run(tname, func(t *testing.T) {
			subject := tg.PushImage(t, "fastapi-app", "r1")
			if _, err := Read(ctx, subject, sbomType, tg.Options...); !errors.As(err, new(*MissingError)) {
				t.Fatalf("reading an SBOM of an image without one: %v, want a MissingError", err)
			}
			created := time.Date(2026, 12, 4, 8, 0, 0, 0, time.UTC)
			docs := map[string][]byte{sbomType: []byte(`{"bomFormat":"CycloneDX"}`), provType: []byte(`{"_type":"https://in-toto.io/Statement/v1"}`)}
			first := map[string]string{}
			for typ, data := range docs {
				res, err := Attach(ctx, subject, Attestation{ArtifactType: typ, Data: data, Created: created}, tg.Options...)
				if err != nil {
					t.Fatal(err)
				}
				if res.Existing || !strings.HasPrefix(res.Digest, "sha256:") {
					t.Fatalf("first attach of %s: %+v", typ, res)
				}
				first[typ] = res.Digest
			}
			// Again, as a re-run publish would: nothing new is pushed, the existing artifact is named.
			for typ, data := range docs {
				res, err := Attach(ctx, subject, Attestation{ArtifactType: typ, Data: append([]byte(" "), data...), Created: created.Add(time.Hour)}, tg.Options...)
				if err != nil {
					t.Fatal(err)
				}
				if !res.Existing || res.Digest != first[typ] {
					t.Fatalf("second attach of %s: %+v, want the existing %s", typ, res, first[typ])
				}
			}
			// Read back independently of attest: the plain referrers listing a standard client does.
			idx, err := remote.Referrers(subject, tg.Options...)
			if err != nil {
				t.Fatal(err)
			}
			im, err := idx.IndexManifest()
			if err != nil {
				t.Fatal(err)
			}
			if len(im.Manifests) != 2 {
				t.Fatalf("the image has %d referrers, want 2 (one SBOM, one provenance): %+v", len(im.Manifests), im.Manifests)
			}
			for typ, data := range docs {
				got, err := Read(ctx, subject, typ, tg.Options...)
				if err != nil {
					t.Fatal(err)
				}
				if string(got) != string(data) {
					t.Errorf("%s read back %q, want %q", typ, got, data)
				}
			}
			checkArtifactShape(t, tg, subject, first[sbomType])
			checkFallbackTag(t, tg, subject)
		})
	}
}

// checkArtifactShape checks the manifest against what ECR and the OCI 1.1 spec require.
func checkArtifactShape(t *testing.T, tg registry.Target, subject name.Digest, digest string) {
	t.Helper()
	desc, err := remote.Get(subject.Context().Digest(digest), tg.Options...)
	if err != nil {
		t.Fatal(err)
	}
	raw := string(desc.Manifest)
	m, err := v1.ParseManifest(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if m.ArtifactType != sbomType || m.Config.MediaType != emptyMediaType || m.Config.Size != 2 ||
		m.Config.Digest.String() != "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a" {
		t.Errorf("artifact type / config: %s", raw)
	}
	if m.Subject == nil || m.Subject.Digest.String() != subject.DigestStr() || m.Subject.Size == 0 {
		t.Errorf("subject: %s", raw)
	}
	if strings.Contains(raw, ";") || m.Annotations[CreatedAnnotation] != "2026-12-04T08:00:00Z" {
		t.Errorf("a ';' in a media type, or no created annotation: %s", raw)
	}
}

// checkFallbackTag: without the API the referrers live under the sha256-<hex> tag; with it, no tag is made.
func checkFallbackTag(t *testing.T, tg registry.Target, subject name.Digest) {
	t.Helper()
	tag := subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
	_, err := remote.Head(tag, tg.Options...)
	if tg.ReferrersAPI && err == nil {
		t.Errorf("a registry with the referrers API got a fallback tag %s", tag)
	}
	if !tg.ReferrersAPI && err != nil {
		t.Errorf("no referrers tag %s on a registry without the API: %v", tag, err)
	}
}

func TestResolveIndexAndAttachPerPlatform(t *testing.T) {
	ctx := context.Background()
	for tname, tg := range registry.Targets(t, "attest-test-password") {
		t.Run(tname, func(t *testing.T) {
			root, want := pushIndex(t, tg, "multi")
			ims, err := Resolve(ctx, root, "", tg.Options...)
			if err != nil {
				t.Fatal(err)
			}
			if !ims.Index || ims.Root.Digest != root.DigestStr() || len(ims.Platforms) != 2 {
				t.Fatalf("resolved %+v", ims)
			}
			for _, p := range ims.Platforms {
				if want[p.Platform] != p.Digest {
					t.Errorf("platform %s digest %s, want %s", p.Platform, p.Digest, want[p.Platform])
				}
			}
			arm, err := ims.Platform("linux/arm64")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ims.Platform("linux/s390x"); err == nil || !strings.Contains(err.Error(), "no linux/s390x platform") {
				t.Errorf("asking for a missing platform: %v", err)
			}
			armRef := root.Context().Digest(arm.Digest)
			if _, err := Attach(ctx, armRef, Attestation{ArtifactType: sbomType, Data: []byte(`{"arm":1}`)}, tg.Options...); err != nil {
				t.Fatal(err)
			}
			if _, err := Attach(ctx, root, Attestation{ArtifactType: provType, Data: []byte(`{"root":1}`)}, tg.Options...); err != nil {
				t.Fatal(err)
			}
			// Each attestation is found on its own subject only.
			if got, err := Read(ctx, armRef, sbomType, tg.Options...); err != nil || string(got) != `{"arm":1}` {
				t.Errorf("arm64 SBOM: %q %v", got, err)
			}
			if _, err := Read(ctx, root, sbomType, tg.Options...); !errors.As(err, new(*MissingError)) {
				t.Errorf("the root has an SBOM it was never given: %v", err)
			}
			amdRef := root.Context().Digest(want["linux/amd64"])
			if _, err := Read(ctx, amdRef, provType, tg.Options...); !errors.As(err, new(*MissingError)) {
				t.Errorf("amd64 has a provenance it was never given: %v", err)
			}
		})
	}
}

func TestResolveSingleManifest(t *testing.T) {
	for tname, tg := range registry.Targets(t, "attest-test-password") {
		t.Run(tname, func(t *testing.T) {
			ref := tg.PushImage(t, "single", "r1")
			ims, err := Resolve(context.Background(), ref, "", tg.Options...)
			if err != nil {
				t.Fatal(err)
			}
			if ims.Index || len(ims.Platforms) != 1 || ims.Platforms[0] != (Image{Digest: ref.DigestStr(), Platform: "linux/amd64"}) {
				t.Fatalf("resolved %+v", ims)
			}
			// With the platform known, the config blob is not read (a push-only ECR role cannot).
			known, err := Resolve(context.Background(), ref, "linux/riscv64", tg.Options...)
			if err != nil || known.Platforms[0].Platform != "linux/riscv64" {
				t.Fatalf("resolved with a known platform: %+v %v", known, err)
			}
		})
	}
}

func TestAttachToAMissingImage(t *testing.T) {
	tg := registry.Targets(t, "attest-test-password")["with referrers API"]
	ref, _ := name.NewDigest(tg.Host + "/none@sha256:" + strings.Repeat("0", 64))
	_, err := Attach(context.Background(), ref, Attestation{ArtifactType: sbomType, Data: []byte("{}")}, tg.Options...)
	if err == nil || !strings.Contains(err.Error(), "is not in the registry") {
		t.Fatalf("attaching to a missing image: %v", err)
	}
}

func TestSamePlatform(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"linux/amd64", "linux/amd64", true},
		{"linux/arm64/v8", "linux/arm64", true},
		{"linux/arm/v7", "linux/arm/v6", false},
		{"linux/amd64", "linux/arm64", false},
	} {
		if got := SamePlatform(tc.a, tc.b); got != tc.want {
			t.Errorf("SamePlatform(%q, %q) = %v", tc.a, tc.b, got)
		}
	}
}

// TestIndexSubjectRefused stands a registry in front of the in-memory one that refuses, as ECR does, a
// manifest whose subject is an index with 405: the error is recognised, and the platform image still takes one.
func TestIndexSubjectRefused(t *testing.T) {
	inner := ggcrregistry.New(ggcrregistry.WithReferrersSupport(true), ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/") {
			body, _ := io.ReadAll(r.Body)
			if strings.Contains(string(body), `"subject":{"mediaType":"application/vnd.oci.image.index.v1+json"`) {
				http.Error(w, `{"errors":[{"code":"UNSUPPORTED","message":"Method Not Allowed"}]}`, http.StatusMethodNotAllowed)
				return
			}
			r.Body = io.NopCloser(strings.NewReader(string(body)))
		}
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()
	tg := registry.Target{Host: strings.TrimPrefix(srv.URL, "http://"), ReferrersAPI: true}
	root, platforms := pushIndex(t, tg, "ecr-like")
	_, err := Attach(context.Background(), root, Attestation{ArtifactType: provType, Data: []byte("{}")}, tg.Options...)
	if !IsMethodNotAllowed(err) {
		t.Fatalf("attaching to an index on a registry that refuses it: %v, want a 405", err)
	}
	if _, err := Attach(context.Background(), root.Context().Digest(platforms["linux/amd64"]), Attestation{ArtifactType: provType, Data: []byte("{}")}, tg.Options...); err != nil {
		t.Fatalf("attaching to a platform image: %v", err)
	}
	if IsMethodNotAllowed(errors.New("405")) {
		t.Error("a plain error was taken for a 405")
	}
}
