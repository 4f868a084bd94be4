// The one signing operation every key source provides: sign a SHA-256 digest
// with an ECDSA P-256 key and say which public key verifies it. Only P-256
// with SHA-256 is accepted anywhere, so a bundle never depends on an
// algorithm a verifier (ship's gate, cosign, sigstore-go) might pick
// differently.
package signing

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// Signer signs SHA-256 digests with an ECDSA P-256 key.
type Signer interface {
	// Sign returns the ASN.1 DER ECDSA signature of digest (32 bytes, SHA-256).
	Sign(ctx context.Context, digest []byte) ([]byte, error)
	// PublicKey is the key that verifies the signatures.
	PublicKey() *ecdsa.PublicKey
	// Describe names the key for messages and reports (never secret material).
	Describe() string
}

// KeySigner signs with a private key held in memory: one loaded from a
// cosign-format key file, or an ephemeral one.
type KeySigner struct {
	key  *ecdsa.PrivateKey
	desc string
}

// NewEphemeralSigner makes a fresh P-256 key that lives only in this process
// (preview: there is nothing to keep, and nothing to leak).
func NewEphemeralSigner() (*KeySigner, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ephemeral P-256 key: %w", err)
	}
	return &KeySigner{key: k, desc: "ephemeral key " + KeyHint(&k.PublicKey)}, nil
}

// Sign implements Signer.
func (s *KeySigner) Sign(_ context.Context, digest []byte) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("sign: digest is %d bytes, want a %d-byte SHA-256 digest", len(digest), sha256.Size)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, digest)
	if err != nil {
		return nil, fmt.Errorf("sign with %s: %w", s.desc, err)
	}
	return sig, nil
}

// PublicKey implements Signer.
func (s *KeySigner) PublicKey() *ecdsa.PublicKey { return &s.key.PublicKey }

// Describe implements Signer.
func (s *KeySigner) Describe() string { return s.desc }

// KeyHint identifies a public key the way sigstore-go's keypairs do:
// base64(SHA-256(PKIX DER)). It is the bundle's verificationMaterial.publicKey.hint,
// so a verifier can tell "another key" from "tampered".
func KeyHint(pub *ecdsa.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil { // only for keys on curves x509 cannot encode; P-256 always can
		return ""
	}
	sum := sha256.Sum256(der)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// PublicKeyPEM encodes pub as a "PUBLIC KEY" PEM block, as cosign writes
// cosign.pub and `cosign verify-attestation --key` reads it.
func PublicKeyPEM(pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encode public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM reads a "PUBLIC KEY" PEM block holding a P-256 key.
func ParsePublicKeyPEM(data []byte) (*ecdsa.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New(`public key: expected a PEM block "PUBLIC KEY" (cosign.pub, or what the key's GetPublicKey returns)`)
	}
	return parsePublicKeyDER(block.Bytes)
}

func parsePublicKeyDER(der []byte) (*ecdsa.PublicKey, error) {
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("public key: %w", err)
	}
	return requireP256(k)
}

func requireP256(k any) (*ecdsa.PublicKey, error) {
	ec, ok := k.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, fmt.Errorf("public key is %T, want an ECDSA P-256 key (KMS key spec ECC_NIST_P256, or cosign generate-key-pair's default)", k)
	}
	return ec, nil
}
