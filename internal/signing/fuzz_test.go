// The bundle is untrusted input (it comes from a registry anyone with push
// rights can write to): the parser and the verifier must not panic on any
// input, and must never return a payload for a bundle the key did not sign.
package signing

import (
	"context"
	"testing"
)

func FuzzVerifyBundle(f *testing.F) {
	signer, err := NewEphemeralSigner()
	if err != nil {
		f.Fatal(err)
	}
	good, err := SignStatement(context.Background(), signer, []byte(statement))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"mediaType":"` + BundleMediaType + `","dsseEnvelope":{"payload":"e30=","payloadType":"` + InTotoPayloadType + `","signatures":[{"sig":"MEUCIQ=="}]}}`))
	f.Add([]byte(`{"mediaType":"` + BundleMediaType + `","verificationMaterial":{"certificate":{}},"dsseEnvelope":{}}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		b, perr := ParseBundle(data)
		if perr == nil && b.DSSEEnvelope == nil {
			t.Fatal("ParseBundle returned a bundle without an envelope")
		}
		payload, err := Verify(data, signer.PublicKey())
		if err != nil {
			return
		}
		if perr != nil || b.DSSEEnvelope.PayloadType != InTotoPayloadType || string(payload) != string(b.DSSEEnvelope.Payload) {
			t.Fatalf("Verify accepted %q but the parsed bundle disagrees", data)
		}
	})
}

// The signing key is the user's own secret, but a wrong file (or a crafted
// one: huge scrypt costs) must give an error, never a panic or a minutes-long
// key derivation.
func FuzzLoadPrivateKey(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), []byte(""))
	f.Add([]byte("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnsibmFtZSI6InNjcnlwdCIsInBhcmFtcyI6eyJOIjoxLCJyIjo4LCJwIjoxfX19\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n"), []byte("pw"))
	f.Add([]byte("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"), []byte(""))
	f.Add([]byte("not pem"), []byte(""))
	f.Fuzz(func(t *testing.T, data, password []byte) {
		s, err := LoadPrivateKey(data, password)
		if err == nil && s.PublicKey() == nil {
			t.Fatal("a key loaded without a public key")
		}
	})
}
