// Tests of the gate against two real registries: go-containerregistry's in-memory registry with the
// referrers API, and Debian's docker-registry 2.8 without it (referrers tag schema). Each tampering case is
// pushed as an attacker with push rights would push it, and must be refused with its own error.
package gate

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"dagger/ship/internal/attest"
	"dagger/ship/internal/provenance"
	"dagger/ship/internal/signing"
	"dagger/ship/internal/testenv/registry"
)

const (
	ownBuilder   = "acme/shop/.github/workflows/deploy.yml@refs/heads/main"
	otherRepo    = "mallory/shop/.github/workflows/deploy.yml@refs/heads/main"
	otherFlow    = "acme/shop/.github/workflows/hack.yml@refs/heads/main"
	revision     = "0123456789abcdef0123456789abcdef01234567"
	baseImage    = "python@sha256:1111111111111111111111111111111111111111111111111111111111111111"
	moduleDigest = "2222222222222222222222222222222222222222222222222222222222222222"
)

func statement(t *testing.T, digest, builder, rev string) []byte {
	t.Helper()
	st, err := provenance.New(provenance.Build{
		Subjects: map[string]string{"shop": digest}, BuilderID: builder, Repository: "shop", Revision: rev,
		Platforms: []string{"linux/amd64"}, Source: provenance.SourceResource("git+https://github.com/acme/shop", rev),
		BaseImage: baseImage, Module: provenance.Resource{Name: "ship", Digest: map[string]string{"sha256": moduleDigest}},
	})
	if err != nil {
		t.Fatal(err)
	}
	data, err := st.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func sign(t *testing.T, s signing.Signer, stmt []byte) []byte {
	t.Helper()
	b, err := signing.SignStatement(context.Background(), s, stmt)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// modify changes the signed statement's revision inside the bundle, keeping the signature.
func modify(t *testing.T, bundle []byte) []byte {
	t.Helper()
	var b signing.Bundle
	if err := json.Unmarshal(bundle, &b); err != nil {
		t.Fatal(err)
	}
	b.DSSEEnvelope.Payload = []byte(strings.Replace(string(b.DSSEEnvelope.Payload), revision, strings.Repeat("f", 40), 1))
	out, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	key, err := signing.NewEphemeralSigner()
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := signing.NewEphemeralSigner()
	if err != nil {
		t.Fatal(err)
	}
	policy := Policy{Key: key.PublicKey(), KeyName: "the test key", Builders: []string{ownBuilder}, Revision: revision}
	other := "sha256:" + strings.Repeat("3", 64)
	cases := []struct {
		name    string
		attach  func(t *testing.T, tg registry.Target, img name.Digest) // what is attached to the image
		policy  Policy
		want    error
		message string
	}{
		{name: "happy path", attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, key, statement(t, img.DigestStr(), ownBuilder, revision)))
		}},
		{name: "provenance for another digest", want: ErrOtherDigest, message: "it is about " + other, attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, key, statement(t, other, ownBuilder, revision)))
		}},
		{name: "a signature by another key", want: ErrOtherKey, message: "does not verify with the test key", attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, stranger, statement(t, img.DigestStr(), ownBuilder, revision)))
		}},
		{name: "a modified statement", want: ErrModified, message: "does not match the statement", attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, modify(t, sign(t, key, statement(t, img.DigestStr(), ownBuilder, revision))))
		}},
		{name: "an unsigned image", want: ErrUnsigned, message: "no signed bundle", attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			if _, err := attest.Attach(ctx, img, attest.Attestation{ArtifactType: provenance.MediaType, Data: statement(t, img.DigestStr(), ownBuilder, revision)}, tg.Options...); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "no attestation at all", want: ErrNoAttestation, message: "no signed provenance", attach: func(*testing.T, registry.Target, name.Digest) {}},
		{name: "a builder from another repository", want: ErrOtherBuilder, message: "a workflow of another repository", attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, key, statement(t, img.DigestStr(), otherRepo, revision)))
		}},
		{name: "another workflow of the repository", want: ErrOtherBuilder, message: "built by " + otherFlow + ", expected", attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, key, statement(t, img.DigestStr(), otherFlow, revision)))
		}},
		{name: "a local build when local is not allowed", want: ErrOtherBuilder, message: "built by local", attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, key, statement(t, img.DigestStr(), "", revision)))
		}},
		{name: "a local build when local is allowed", policy: Policy{Key: key.PublicKey(), KeyName: "k", Builders: []string{provenance.LocalBuilder}}, attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, key, statement(t, img.DigestStr(), "", revision)))
		}},
		{name: "another revision", want: ErrOtherRevision, message: "built from revision v1, not " + revision, attach: func(t *testing.T, tg registry.Target, img name.Digest) {
			attachBundle(t, tg, img, sign(t, key, statement(t, img.DigestStr(), ownBuilder, "v1")))
		}},
	}
	for tname, tg := range registry.Targets(t, "gate-test-password") {
		t.Run(tname, func(t *testing.T) {
			for i, c := range cases {
				t.Run(c.name, func(t *testing.T) {
					img := tg.PushImage(t, "shop"+string(rune('a'+i)), revision)
					c.attach(t, tg, img)
					p := policy
					if c.policy.Key != nil {
						p = c.policy
					}
					v, err := Verify(ctx, img, p, tg.Options...)
					if c.want == nil {
						if err != nil {
							t.Fatalf("refused: %v", err)
						}
						if v.Image != img.String() || !strings.HasPrefix(v.Provenance, img.Context().Name()+"@sha256:") || v.Revision != revision {
							t.Fatalf("verdict %+v", v)
						}
						return
					}
					if !errors.Is(err, c.want) {
						t.Fatalf("error %v, want %v", err, c.want)
					}
					if !strings.Contains(err.Error(), c.message) || !strings.Contains(err.Error(), img.DigestStr()) {
						t.Fatalf("error %q does not say %q about %s", err, c.message, img)
					}
				})
			}
		})
	}
}

func attachBundle(t *testing.T, tg registry.Target, img name.Digest, bundle []byte) {
	t.Helper()
	res, err := attest.AttachBundle(context.Background(), img, provenance.PredicateType, bundle, time.Now(), tg.Options...)
	if err != nil || res.Existing {
		t.Fatalf("attach: %+v, %v", res, err)
	}
}

func TestAttachBundleIsIdempotentPerPredicate(t *testing.T) {
	ctx := context.Background()
	key, _ := signing.NewEphemeralSigner()
	for tname, tg := range registry.Targets(t, "gate-test-password") {
		t.Run(tname, func(t *testing.T) {
			img := tg.PushImage(t, "idem", revision)
			b := sign(t, key, statement(t, img.DigestStr(), ownBuilder, revision))
			first, err := attest.AttachBundle(ctx, img, provenance.PredicateType, b, time.Now(), tg.Options...)
			if err != nil || first.Existing {
				t.Fatalf("first: %+v %v", first, err)
			}
			sbom, err := attest.AttachBundle(ctx, img, "https://cyclonedx.org/bom", b, time.Now(), tg.Options...)
			if err != nil || sbom.Existing {
				t.Fatalf("a bundle of another predicate type is not the same attestation: %+v %v", sbom, err)
			}
			again, err := attest.AttachBundle(ctx, img, provenance.PredicateType, b, time.Now(), tg.Options...)
			if err != nil || !again.Existing || again.Digest != first.Digest {
				t.Fatalf("again: %+v %v, want the existing %s", again, err, first.Digest)
			}
		})
	}
}
