// Fuzz target for the gate's check of a bundle read from a registry (anyone with push rights chooses its
// bytes): it must never panic, and never accept a bundle that does not verify with the policy's key or whose
// statement is not about the digest.
package gate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"testing"

	"dagger/ship/internal/provenance"
	"dagger/ship/internal/signing"
)

func FuzzCheck(f *testing.F) {
	key, err := signing.NewEphemeralSigner()
	if err != nil {
		f.Fatal(err)
	}
	digest := "sha256:" + moduleDigest
	st, err := provenance.New(provenance.Build{
		Subjects: map[string]string{"shop": digest}, BuilderID: ownBuilder, Repository: "shop", Revision: revision,
		Platforms: []string{"linux/amd64"}, Source: provenance.SourceResource("", revision), BaseImage: baseImage,
		Module: provenance.Resource{Name: "ship", Digest: map[string]string{"sha256": moduleDigest}},
	})
	if err != nil {
		f.Fatal(err)
	}
	doc, _ := st.Marshal()
	good, err := signing.SignStatement(context.Background(), key, doc)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{"payload":"e30=","payloadType":"application/vnd.in-toto+json","signatures":[]}}`))
	f.Add([]byte(`{}`))
	p := Policy{Key: key.PublicKey(), KeyName: "k", Builders: []string{ownBuilder}, Revision: revision}
	f.Fuzz(func(t *testing.T, bundle []byte) {
		got, err := Check(bundle, digest, p)
		if err != nil {
			return
		}
		if _, verr := signing.Verify(bundle, p.Key); verr != nil || !got.HasSubject(digest) {
			t.Fatalf("accepted a bundle that does not verify (%v) or is not about %s", verr, digest)
		}
	})
}

// TestCheckRefusesAnyKeyButTheGivenOne keeps the fuzz target honest: the same good bundle is refused under
// another key.
func TestCheckRefusesAnyKeyButTheGivenOne(t *testing.T) {
	key, _ := signing.NewEphemeralSigner()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	st, _ := provenance.New(provenance.Build{
		Subjects: map[string]string{"shop": "sha256:" + moduleDigest}, BuilderID: ownBuilder, Repository: "shop", Revision: revision,
		Platforms: []string{"linux/amd64"}, Source: provenance.SourceResource("", revision), BaseImage: baseImage,
		Module: provenance.Resource{Name: "ship", Digest: map[string]string{"sha256": moduleDigest}},
	})
	doc, _ := st.Marshal()
	b, _ := signing.SignStatement(context.Background(), key, doc)
	if _, err := Check(b, "sha256:"+moduleDigest, Policy{Key: key.PublicKey(), KeyName: "k", Builders: []string{ownBuilder}}); err != nil {
		t.Fatal(err)
	}
	if _, err := Check(b, "sha256:"+moduleDigest, Policy{Key: &other.PublicKey, KeyName: "other", Builders: []string{ownBuilder}}); err == nil {
		t.Fatal("accepted under another key")
	}
}
