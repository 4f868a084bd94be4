// The Sigstore bundle v0.3 that carries a signed attestation, written with
// plain structs whose JSON names are protobuf-specs' (sigstore-go reads it with
// protojson, which refuses unknown fields), so ship needs no sigstore library.
// Key-signed bundles name their key by hint and hold no transparency log entry:
// nothing is published, which private repositories need.
package signing

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
)

// BundleMediaType is the media type of the bundles ship writes and accepts.
const BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"

// Bundle is a Sigstore bundle holding one DSSE envelope.
type Bundle struct {
	MediaType            string               `json:"mediaType"`
	VerificationMaterial VerificationMaterial `json:"verificationMaterial"`
	DSSEEnvelope         *Envelope            `json:"dsseEnvelope,omitempty"`
	// MessageSignature is never written; it is read to refuse a bundle that
	// signs a blob instead of carrying an attestation.
	MessageSignature json.RawMessage `json:"messageSignature,omitempty"`
}

// VerificationMaterial says which key verifies the bundle. ship writes only
// publicKey; the other fields are read so a keyless bundle is named as such.
type VerificationMaterial struct {
	PublicKey                 *PublicKeyIdentifier `json:"publicKey,omitempty"`
	Certificate               json.RawMessage      `json:"certificate,omitempty"`
	X509CertificateChain      json.RawMessage      `json:"x509CertificateChain,omitempty"`
	TlogEntries               []json.RawMessage    `json:"tlogEntries,omitempty"`
	TimestampVerificationData json.RawMessage      `json:"timestampVerificationData,omitempty"`
}

// PublicKeyIdentifier names the verifying key by its KeyHint.
type PublicKeyIdentifier struct {
	Hint string `json:"hint"`
}

// SignStatement signs an in-toto statement and returns the bundle as JSON.
func SignStatement(ctx context.Context, s Signer, statement []byte) ([]byte, error) {
	b, err := Sign(ctx, s, InTotoPayloadType, statement)
	if err != nil {
		return nil, err
	}
	return b.Marshal()
}

// Sign wraps payload in a DSSE envelope signed by s, in a bundle.
func Sign(ctx context.Context, s Signer, payloadType string, payload []byte) (*Bundle, error) {
	if payloadType == "" || len(payload) == 0 {
		return nil, errors.New("sign: the payload type and the payload must not be empty")
	}
	digest := sha256.Sum256(PAE(payloadType, payload))
	sig, err := s.Sign(ctx, digest[:])
	if err != nil {
		return nil, err
	}
	hint := KeyHint(s.PublicKey())
	return &Bundle{
		MediaType:            BundleMediaType,
		VerificationMaterial: VerificationMaterial{PublicKey: &PublicKeyIdentifier{Hint: hint}},
		// No keyid, as sigstore-go writes it: go-securesystemslib's DSSE verifier
		// compares a keyid to its own hex key ID and skips a signature that differs.
		DSSEEnvelope: &Envelope{Payload: append([]byte(nil), payload...), PayloadType: payloadType,
			Signatures: []Signature{{Sig: sig}}},
	}, nil
}

// Marshal encodes the bundle as JSON.
func (b *Bundle) Marshal() ([]byte, error) {
	data, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("encode bundle: %w", err)
	}
	return data, nil
}

// maxBundleSize bounds what ParseBundle reads: provenance and SBOM statements
// are far smaller, and an attacker-supplied referrer should not cost memory.
const maxBundleSize = 64 << 20

// ParseBundle decodes a Sigstore bundle v0.3 holding a DSSE envelope. Its
// errors wrap ErrNotBundle or ErrMediaType.
func ParseBundle(data []byte) (*Bundle, error) {
	if len(data) > maxBundleSize {
		return nil, fmt.Errorf("%w: %d bytes, more than the %d accepted", ErrNotBundle, len(data), maxBundleSize)
	}
	var b Bundle
	if err := json.Unmarshal(data, &b); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotBundle, err)
	}
	if b.MediaType == "" {
		return nil, fmt.Errorf("%w: no mediaType", ErrNotBundle)
	}
	if b.MediaType != BundleMediaType {
		return nil, fmt.Errorf("%w: %q (ship reads %s)", ErrMediaType, b.MediaType, BundleMediaType)
	}
	if b.DSSEEnvelope == nil {
		if len(b.MessageSignature) > 0 {
			return nil, fmt.Errorf("%w: it signs a blob (messageSignature), not an attestation (dsseEnvelope)", ErrNotBundle)
		}
		return nil, fmt.Errorf("%w: no dsseEnvelope", ErrNotBundle)
	}
	return &b, nil
}
