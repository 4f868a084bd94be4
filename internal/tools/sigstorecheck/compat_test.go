// Compatibility of internal/signing with sigstore-go v1.3.0, in both
// directions, and of the cosign key format with the library cosign uses to
// write it (go-securesystemslib's encrypted package).
package sigstorecheck

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"dagger/ship/internal/signing"
	"dagger/ship/internal/testenv/fakeaws"
)

var subjectDigest = sha256.Sum256([]byte("the image manifest"))

func statement() []byte {
	return []byte(`{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/acme/shop","digest":{"sha256":"` +
		hex.EncodeToString(subjectDigest[:]) + `"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{"buildDefinition":{"buildType":"https://example.com/ship"}}}`)
}

// sigstoreVerify verifies bundleJSON with sigstore-go against pub, the way
// FACTS.md §11 records: a key mapping, WithKey, no observer timestamps.
func sigstoreVerify(t *testing.T, bundleJSON []byte, pub *ecdsa.PublicKey) error {
	t.Helper()
	var b bundle.Bundle
	if err := b.UnmarshalJSON(bundleJSON); err != nil {
		return err
	}
	verifier, err := signature.LoadVerifier(pub, 0x5) // crypto.SHA256
	if err != nil {
		t.Fatal(err)
	}
	trusted := root.NewTrustedPublicKeyMaterialFromMapping(map[string]*root.ExpiringKey{
		signing.KeyHint(pub): root.NewExpiringKey(verifier, time.Time{}, time.Time{}),
	})
	v, err := verify.NewVerifier(trusted, verify.WithNoObserverTimestamps())
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.Verify(&b, verify.NewPolicy(verify.WithArtifactDigest("sha256", subjectDigest[:]), verify.WithKey()))
	return err
}

func TestShipBundlesVerifyWithSigstoreGo(t *testing.T) {
	s, err := signing.NewEphemeralSigner()
	if err != nil {
		t.Fatal(err)
	}
	checkWithSigstoreGo(t, s)
}

// A KMS-signed bundle, the signature made by kms:Sign over the digest (through
// the SigV4-checking fake, which signs with real ECDSA).
func TestKMSBundlesVerifyWithSigstoreGo(t *testing.T) {
	fake := fakeaws.New(t, fakeaws.Options{})
	fake.AddUser("AKIAADMINTESTKEY0001", "admin-secret-for-fakeaws-only-0000000000")
	client := kms.NewFromConfig(aws.Config{Region: fake.Region, HTTPClient: fake.HTTPClient(), BaseEndpoint: aws.String(fake.URL),
		Credentials: credentials.NewStaticCredentialsProvider("AKIAADMINTESTKEY0001", "admin-secret-for-fakeaws-only-0000000000", "")})
	ctx := context.Background()
	key, err := client.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpecEccNistP256, KeyUsage: kmstypes.KeyUsageTypeSignVerify})
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.NewKMSSigner(ctx, client, aws.ToString(key.KeyMetadata.Arn))
	if err != nil {
		t.Fatal(err)
	}
	checkWithSigstoreGo(t, s)
}

func checkWithSigstoreGo(t *testing.T, s signing.Signer) {
	t.Helper()
	data, err := signing.SignStatement(context.Background(), s, statement())
	if err != nil {
		t.Fatal(err)
	}
	if err := sigstoreVerify(t, data, s.PublicKey()); err != nil {
		t.Fatalf("sigstore-go refused ship's bundle: %v\n%s", err, data)
	}
	// The check can fail: a modified statement and another key are refused by sigstore-go too.
	tampered := bytes.Replace(data, []byte(`"payload":"`), []byte(`"payload":"ICAg`), 1)
	if err := sigstoreVerify(t, tampered, s.PublicKey()); err == nil {
		t.Fatal("sigstore-go accepted a modified payload")
	}
	other, _ := signing.NewEphemeralSigner()
	if err := sigstoreVerify(t, data, other.PublicKey()); err == nil {
		t.Fatal("sigstore-go accepted the bundle for another key")
	}
}

func TestSigstoreGoBundlesVerifyWithShip(t *testing.T) {
	kp, err := sign.NewEphemeralKeypair(nil)
	if err != nil {
		t.Fatal(err)
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement(), PayloadType: signing.InTotoPayloadType}, kp, sign.BundleOptions{})
	if err != nil {
		t.Fatal(err)
	}
	data, err := protojson.Marshal(pb)
	if err != nil {
		t.Fatal(err)
	}
	got, err := signing.Verify(data, kp.GetPublicKey().(*ecdsa.PublicKey))
	if err != nil {
		t.Fatalf("ship refused sigstore-go's bundle: %v\n%s", err, data)
	}
	if !bytes.Equal(got, statement()) {
		t.Fatalf("ship returned %q", got)
	}
}

func TestPAEIsSigstoreGos(t *testing.T) {
	for _, payload := range [][]byte{statement(), nil, []byte("a b\n\x00")} {
		d := &sign.DSSEData{Data: payload, PayloadType: signing.InTotoPayloadType}
		if got := signing.PAE(d.PayloadType, payload); !bytes.Equal(got, d.PreAuthEncoding()) {
			t.Fatalf("PAE = %q, sigstore-go's = %q", got, d.PreAuthEncoding())
		}
	}
}

// cosign generate-key-pair: PKCS#8, encrypted.Encrypt with the password, PEM
// "ENCRYPTED SIGSTORE PRIVATE KEY".
func TestCosignKeyFormat(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	password := []byte("hunter2")
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{signing.SigstorePrivateKeyPEMType, signing.CosignPrivateKeyPEMType} {
		s, err := signing.LoadPrivateKey(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: enc}), password)
		if err != nil {
			t.Fatalf("%s: %v", typ, err)
		}
		if !s.PublicKey().Equal(&k.PublicKey) {
			t.Fatalf("%s: loaded another key", typ)
		}
	}
	if _, err := signing.LoadPrivateKey(pem.EncodeToMemory(&pem.Block{Type: signing.SigstorePrivateKeyPEMType, Bytes: enc}), []byte("wrong")); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	// sigstore's own helper, what cosign's key generation goes through.
	der, err = cryptoutils.MarshalPrivateKeyToEncryptedDER(k, cryptoutils.StaticPasswordFunc(password))
	if err != nil {
		t.Fatal(err)
	}
	s, err := signing.LoadPrivateKey(pem.EncodeToMemory(&pem.Block{Type: string(cryptoutils.EncryptedSigstorePrivateKeyPEMType), Bytes: der}), password)
	if err != nil || !s.PublicKey().Equal(&k.PublicKey) {
		t.Fatalf("key from cryptoutils.MarshalPrivateKeyToEncryptedDER: %v", err)
	}
}
