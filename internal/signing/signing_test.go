// Sign and verify round trips for the three key sources (KMS through the
// SigV4-checking fake), and every way a bundle must be refused, each with its
// own error: the gate's messages depend on telling them apart.
package signing

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"dagger/ship/internal/testenv/fakeaws"

	"dagger/ship/internal/testenv/cosignkey"
)

const statement = `{"_type":"https://in-toto.io/Statement/v1","subject":[{"name":"registry.example/acme/shop","digest":{"sha256":"` +
	`0b6a5e1bb1d9e4a7c6f5b6c5e8a1d3f2b4c6d8e0f1a2b3c4d5e6f708192a3b4c"}}],"predicateType":"https://slsa.dev/provenance/v1","predicate":{}}`

func TestPAEMatchesTheDSSESpec(t *testing.T) {
	// The example of the DSSE v1 protocol document.
	got := PAE("http://example.com/HelloWorld", []byte("hello world"))
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if string(got) != want {
		t.Fatalf("PAE = %q, want %q", got, want)
	}
	if got := PAE("t", nil); string(got) != "DSSEv1 1 t 0 " {
		t.Fatalf("PAE of an empty body = %q", got)
	}
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	password := []byte("correct horse battery staple")
	ecKey := newP256(t)
	ecDER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	env := newKMSEnv(t)
	signers := map[string]func(t *testing.T) Signer{
		"ephemeral": func(t *testing.T) Signer {
			s, err := NewEphemeralSigner()
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"cosign SIGSTORE key": func(t *testing.T) Signer {
			return mustLoad(t, cosignkey.Encrypt(t, newP256(t), password, SigstorePrivateKeyPEMType, 1<<15), password)
		},
		"cosign COSIGN key, standard scrypt cost": func(t *testing.T) Signer {
			return mustLoad(t, cosignkey.Encrypt(t, newP256(t), password, CosignPrivateKeyPEMType, 1<<16), password)
		},
		"unencrypted PKCS#8": func(t *testing.T) Signer { return mustLoad(t, pkcs8PEM(t, newP256(t)), nil) },
		"unencrypted EC PRIVATE KEY": func(t *testing.T) Signer {
			return mustLoad(t, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), nil)
		},
		"AWS KMS, build role": func(t *testing.T) Signer {
			s, err := NewKMSSigner(ctx, env.as(signerRole), keyAlias)
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
	for name, mk := range signers {
		t.Run(name, func(t *testing.T) {
			s := mk(t)
			bundle, err := SignStatement(ctx, s, []byte(statement))
			if err != nil {
				t.Fatalf("SignStatement: %v", err)
			}
			got, err := Verify(bundle, s.PublicKey())
			if err != nil {
				t.Fatalf("Verify: %v\n%s", err, bundle)
			}
			if string(got) != statement {
				t.Fatalf("Verify returned %q, want the signed statement", got)
			}
			checkBundleShape(t, bundle, s)
		})
	}
	if n := len(env.server.RequestsFor("Sign")); n != 1 {
		t.Fatalf("the KMS signer sent %d Sign requests, want 1", n)
	}
	for _, r := range env.server.RequestsFor("Sign") {
		if !r.Signed || r.Body["MessageType"] != "DIGEST" || r.Body["SigningAlgorithm"] != "ECDSA_SHA_256" {
			t.Fatalf("Sign request = %+v, want a SigV4-signed DIGEST request with ECDSA_SHA_256", r)
		}
	}
}

func mustLoad(t *testing.T, pemData, password []byte) Signer {
	t.Helper()
	s, err := LoadPrivateKey(pemData, password)
	if err != nil {
		t.Fatalf("LoadPrivateKey: %v", err)
	}
	return s
}

// checkBundleShape reads the JSON back generically: the field names are what
// protobuf-specs' JSON mapping uses, and no transparency log entry is written.
func checkBundleShape(t *testing.T, bundle []byte, s Signer) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(bundle, &m); err != nil {
		t.Fatal(err)
	}
	vm, _ := m["verificationMaterial"].(map[string]any)
	pk, _ := vm["publicKey"].(map[string]any)
	env, _ := m["dsseEnvelope"].(map[string]any)
	sigs, _ := env["signatures"].([]any)
	if m["mediaType"] != BundleMediaType || pk["hint"] != KeyHint(s.PublicKey()) || env["payloadType"] != InTotoPayloadType || len(sigs) != 1 {
		t.Fatalf("bundle shape is wrong: %s", bundle)
	}
	if _, ok := vm["tlogEntries"]; ok {
		t.Fatalf("bundle has tlogEntries; nothing may go to a transparency log: %s", bundle)
	}
}

func TestVerifyRefusesEachTamperingWithItsOwnError(t *testing.T) {
	ctx := context.Background()
	signer, _ := NewEphemeralSigner()
	other, _ := NewEphemeralSigner()
	good, err := Sign(ctx, signer, InTotoPayloadType, []byte(statement))
	if err != nil {
		t.Fatal(err)
	}
	byOther, err := Sign(ctx, other, InTotoPayloadType, []byte(statement))
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(b *Bundle)) []byte {
		data, _ := good.Marshal()
		var b Bundle
		if err := json.Unmarshal(data, &b); err != nil {
			t.Fatal(err)
		}
		f(&b)
		out, _ := b.Marshal()
		return out
	}
	otherBytes, _ := byOther.Marshal()
	hintless := func(b *Bundle) []byte { // another key, with no hint to tell by
		c := *b
		env := *c.DSSEEnvelope
		env.Signatures = []Signature{{Sig: env.Signatures[0].Sig}}
		c.DSSEEnvelope, c.VerificationMaterial = &env, VerificationMaterial{PublicKey: &PublicKeyIdentifier{}}
		out, _ := c.Marshal()
		return out
	}
	cases := []struct {
		name   string
		bundle []byte
		want   error
		says   string
	}{
		{"signed by another key", otherBytes, ErrOtherKey, "signed by another key"},
		{"another key, hint removed", hintless(byOther), ErrOtherKey, "does not name its key"},
		{"another key's signature under our hint", edit(func(b *Bundle) { b.DSSEEnvelope.Signatures[0].Sig = byOther.DSSEEnvelope.Signatures[0].Sig }), ErrBadSignature, "modified"},
		{"modified statement", edit(func(b *Bundle) {
			b.DSSEEnvelope.Payload = bytes.Replace(b.DSSEEnvelope.Payload, []byte("0b6a"), []byte("ffff"), 1)
		}), ErrBadSignature, "statement was modified"},
		{"no signatures", edit(func(b *Bundle) { b.DSSEEnvelope.Signatures = nil }), ErrUnsigned, "no signature"},
		{"empty signature", edit(func(b *Bundle) { b.DSSEEnvelope.Signatures[0].Sig = nil }), ErrUnsigned, "no signature"},
		{"wrong payload type", edit(func(b *Bundle) { b.DSSEEnvelope.PayloadType = "application/json" }), ErrPayloadType, `"application/json"`},
		{"older bundle media type", edit(func(b *Bundle) { b.MediaType = "application/vnd.dev.sigstore.bundle+json;version=0.1" }), ErrMediaType, "version=0.1"},
		{"no envelope", edit(func(b *Bundle) { b.DSSEEnvelope = nil }), ErrNotBundle, "no dsseEnvelope"},
		{"blob signature", []byte(`{"mediaType":"` + BundleMediaType + `","messageSignature":{"signature":"AA=="}}`), ErrNotBundle, "messageSignature"},
		{"keyless bundle", edit(func(b *Bundle) {
			b.VerificationMaterial = VerificationMaterial{Certificate: json.RawMessage(`{"rawBytes":"AA=="}`)}
		}), ErrKeylessBundles, "keyless"},
		{"not JSON", []byte("MEUCIQ..."), ErrNotBundle, "not a Sigstore bundle"},
		{"JSON without mediaType", []byte(`{"payload":"e30="}`), ErrNotBundle, "no mediaType"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Verify(c.bundle, signer.PublicKey())
			if err == nil {
				t.Fatalf("Verify accepted it and returned %q", got)
			}
			if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Verify error = %v, want %v saying %q", err, c.want, c.says)
			}
			for _, other := range []error{ErrNotBundle, ErrMediaType, ErrUnsigned, ErrOtherKey, ErrBadSignature, ErrPayloadType, ErrKeylessBundles} {
				if other != c.want && errors.Is(err, other) {
					t.Fatalf("Verify error %v also matches %v: the causes must stay distinct", err, other)
				}
			}
		})
	}
	if _, err := Verify(mustMarshal(t, good), signer.PublicKey()); err != nil {
		t.Fatalf("the untouched bundle must verify: %v", err)
	}
	// The key decides, not the hint: a good signature under another tool's hint verifies.
	if _, err := Verify(edit(func(b *Bundle) { b.VerificationMaterial.PublicKey.Hint = "written-by-another-tool" }), signer.PublicKey()); err != nil {
		t.Fatalf("a valid signature with a foreign hint: %v", err)
	}
}

func mustMarshal(t *testing.T, b *Bundle) []byte {
	t.Helper()
	data, err := b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestLoadPrivateKeyRefusals(t *testing.T) {
	password := []byte("pw")
	k := newP256(t)
	hugeN := cosignkey.Encrypt(t, k, password, SigstorePrivateKeyPEMType, 1<<15)
	block, _ := pem.Decode(hugeN)
	block.Bytes = bytes.Replace(block.Bytes, []byte(`"N":32768`), []byte(`"N":1073741824`), 1)
	cases := []struct {
		name     string
		pem, pw  []byte
		wantErr  error
		contains string
	}{
		{"wrong password", cosignkey.Encrypt(t, k, password, SigstorePrivateKeyPEMType, 1<<15), []byte("nope"), ErrWrongPassword, "password"},
		{"not PEM", []byte("hello"), nil, nil, "no PEM block"},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}), nil, nil, `"PUBLIC KEY" is not a private key`},
		{"scrypt cost out of range", pem.EncodeToMemory(block), password, nil, "N=1073741824"},
		{"garbage in the encrypted block", pem.EncodeToMemory(&pem.Block{Type: CosignPrivateKeyPEMType, Bytes: []byte("{")}), password, nil, "not the JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadPrivateKey(c.pem, c.pw)
			if err == nil || (c.wantErr != nil && !errors.Is(err, c.wantErr)) || !strings.Contains(err.Error(), c.contains) {
				t.Fatalf("LoadPrivateKey error = %v, want one containing %q", err, c.contains)
			}
		})
	}
}

func TestKMSSignerRefusals(t *testing.T) {
	ctx := context.Background()
	env := newKMSEnv(t)
	// The reader role may read the public key but not sign.
	s, err := NewKMSSigner(ctx, env.as(readerRole), keyAlias)
	if err != nil {
		t.Fatalf("the reader role must be able to read the public key: %v", err)
	}
	pub, err := KMSPublicKey(ctx, env.as(readerRole), keyAlias)
	if err != nil || !pub.Equal(s.PublicKey()) {
		t.Fatalf("KMSPublicKey = %v, %v", pub, err)
	}
	_, err = SignStatement(ctx, s, []byte(statement))
	if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "kms:Sign") {
		t.Fatalf("signing as the reader role: err = %v, want AccessDeniedException for kms:Sign", err)
	}
	if _, err := NewKMSSigner(ctx, env.as(signerRole), "alias/ship-missing-attestations"); err == nil || !strings.Contains(err.Error(), "NotFoundException") {
		t.Fatalf("a missing alias: err = %v, want NotFoundException", err)
	}
	var denied []fakeaws.Request
	for _, r := range env.server.RequestsFor("Sign") {
		if r.ErrorCode == "AccessDeniedException" {
			denied = append(denied, r)
		}
	}
	if len(denied) != 1 {
		t.Fatalf("want exactly one denied Sign request, got %+v", env.server.RequestsFor("Sign"))
	}
}

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	s, _ := NewEphemeralSigner()
	data, err := PublicKeyPEM(s.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKeyPEM(data)
	if err != nil || !pub.Equal(s.PublicKey()) {
		t.Fatalf("ParsePublicKeyPEM = %v, %v", pub, err)
	}
	if _, err := ParsePublicKeyPEM([]byte("x")); err == nil {
		t.Fatal("ParsePublicKeyPEM accepted garbage")
	}
}
