//go:build engine

// The provenance gate end to end: publish with a cosign-format key through with-registry signs the SBOM and
// the provenance as Sigstore bundles (read back and verified from outside ship); verify prints the whole
// verdict; promote refuses an image that carries no attestation and one whose signed provenance is about
// another digest (a genuine bundle copied onto another image), and promotes a good one with the verified
// provenance in its report and release record.
package enginetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"dagger/ship/internal/attest"
	"dagger/ship/internal/provenance"
	"dagger/ship/internal/sbom"
	"dagger/ship/internal/signing"
	"dagger/ship/internal/testenv/cosignkey"
)

const cosignPassword = "engine-suite-cosign-password"

// cosignKeyPair writes cosign.key (encrypted as cosign generate-key-pair writes it: scrypt N=32768, r=8,
// p=1, nacl/secretbox, PEM "ENCRYPTED SIGSTORE PRIVATE KEY") and cosign.pub.
func cosignKeyPair(t testing.TB) (keyPath, pubPath string, pub *ecdsa.PublicKey) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyPath, pubPath = filepath.Join(dir, "cosign.key"), filepath.Join(dir, "cosign.pub")
	pubPEM, err := signing.PublicKeyPEM(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, cosignkey.Encrypt(t, k, []byte(cosignPassword), "ENCRYPTED SIGSTORE PRIVATE KEY", 32768), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	return keyPath, pubPath, &k.PublicKey
}

// copyImage pushes a variant of the image at ref under tag, as another tool would: no attestations.
func (s *suite) copyImage(t *testing.T, ref name.Digest, tag, note string) name.Digest {
	t.Helper()
	img, err := remote.Image(ref, s.remoteOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	other := mutate.Annotations(img, map[string]string{"pushed-by": note}).(v1.Image)
	if err := remote.Write(ref.Context().Tag(tag), other, s.remoteOpts()...); err != nil {
		t.Fatal(err)
	}
	d, _ := other.Digest()
	return ref.Context().Digest(d.String())
}

func TestProvenanceGate(t *testing.T) {
	s := setup(t)
	repo := s.registry.Host + "/gated-app"
	keyPath, pubPath, pub := cosignKeyPair(t)
	t.Setenv("SHIP_TEST_COSIGN_PASSWORD", cosignPassword)
	sign := []string{"with-signing-key", "--key", "file:" + keyPath, "--password", "env:SHIP_TEST_COSIGN_PASSWORD"}
	verify := []string{"with-verify-key", "--key", pubPath, "--allow-local-builder"}
	var root name.Digest
	var provBundle []byte

	t.Run("publish with a cosign key signs the SBOM and the provenance", func(t *testing.T) {
		r := s.call(t, join(pip(), s.withRegistry(), sign, []string{"publish", "--repository", repo, "--revision", "g1"})...)
		mustSucceed(t, r, repo+":g1@sha256:")
		var err error
		if root, err = name.NewDigest(repo + digestOf(strings.TrimSpace(r.stdout))); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.stderr, "attestations of "+root.String()+" (signed by key "+signing.KeyHint(pub)+")") {
			t.Errorf("publish does not say it signed with the key:\n%s", r)
		}
		bundles := s.referrers(t, root, signing.BundleMediaType)
		if len(bundles) != 2 { // single platform: the root is the platform image, with both bundles
			t.Fatalf("the image has %d bundle referrers, want 2 (provenance and SBOM)", len(bundles))
		}
		seen := map[string]bool{}
		for _, d := range bundles {
			doc := s.document(t, root.Context(), d)
			payload, err := signing.Verify(doc, pub)
			if err != nil {
				t.Fatalf("bundle %s does not verify with cosign.pub: %v", d.Digest, err)
			}
			var st struct {
				PredicateType string `json:"predicateType"`
			}
			_ = json.Unmarshal(payload, &st)
			seen[st.PredicateType] = true
			if st.PredicateType == provenance.PredicateType {
				provBundle = doc
			}
		}
		if !seen[provenance.PredicateType] || !seen[sbom.PredicateType] {
			t.Fatalf("bundles sign %v, want the provenance and the SBOM", seen)
		}
		again := s.call(t, join(pip(), s.withRegistry(), sign, []string{"publish", "--repository", repo, "--revision", "g1"})...)
		mustSucceed(t, again, root.DigestStr())
		if n := len(s.referrers(t, root, signing.BundleMediaType)); n != 2 || !strings.Contains(again.stderr, "bundle") || strings.Contains(again.stderr, "(attached)") {
			t.Errorf("a second publish changed the bundles (%d now):\n%s", n, again)
		}
	})
	t.Run("verify prints the verdict of a good image", func(t *testing.T) {
		r := s.call(t, join(s.withRegistry(), verify, []string{"verify", "--image", repo + ":g1", "--revision", "g1"})...)
		mustSucceed(t, r, "| Signature | verified with public key cosign.pub ("+signing.KeyHint(pub)+") |",
			"| Provenance | subject "+root.DigestStr()+"; builder local; revision g1;", "| SBOM | present (linux/amd64", "components; signed by public key cosign.pub",
			"| Vulnerabilities | not available without ECR")
		t.Logf("verify's output:\n%s", r.stdout)
	})
	t.Run("promote refuses an image without attestation", func(t *testing.T) {
		s.copyImage(t, root, "bare", "another tool")
		r := s.call(t, join(s.withRegistry(), verify, []string{"promote", "--to", "staging", "--repository", repo, "--revision", "bare"}, s.target())...)
		if r.err == nil || !strings.Contains(r.stderr, "no provenance attestation") || !strings.Contains(r.stderr, "nothing was deployed") {
			t.Fatalf("promote of an image without attestation:\n%s", r)
		}
		t.Logf("refused promote (no attestation), stderr tail:\n%s", lastLines(r.stderr, 4))
	})
	t.Run("promote refuses an image whose provenance names another digest", func(t *testing.T) {
		forged := s.copyImage(t, root, "forged", "an attacker")
		// The genuine, validly signed bundle of g1, copied onto another image.
		if _, err := attest.AttachBundle(context.Background(), forged, provenance.PredicateType, provBundle, time.Now(), s.remoteOpts()...); err != nil {
			t.Fatal(err)
		}
		r := s.call(t, join(s.withRegistry(), verify, []string{"promote", "--to", "staging", "--repository", repo, "--revision", "forged"}, s.target())...)
		if r.err == nil || !strings.Contains(r.stderr, "provenance for another digest: it is about "+root.DigestStr()+", not "+forged.DigestStr()) {
			t.Fatalf("promote of an image with another digest's provenance:\n%s", r)
		}
		t.Logf("refused promote (another digest), stderr tail:\n%s", lastLines(r.stderr, 4))
	})
	t.Run("promote deploys a verified image and records its provenance", func(t *testing.T) {
		r := s.call(t, join(s.withRegistry(), verify, []string{"promote", "--to", "staging", "--repository", repo, "--revision", "g1"}, s.target())...)
		mustSucceed(t, r, "## ship promote staging: succeeded", "| Provenance | verified: signed by public key cosign.pub", "verified provenance "+repo+"@sha256:")
		t.Logf("promote's report:\n%s", r.stdout)
	})
}
