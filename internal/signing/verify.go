// Verification of a bundle against the one key ship expects. Each way a
// bundle can fail has its own error, so the gate can say what is wrong
// (another key signed it, the statement was modified, it was never signed)
// instead of a bare "invalid signature". Nothing in the bundle chooses the
// key: the hint only helps tell "another key" from "modified".
package signing

import (
	"crypto/ecdsa"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Verification failures; Verify's errors wrap exactly one of them.
var (
	ErrNotBundle      = errors.New("not a Sigstore bundle")
	ErrMediaType      = errors.New("unsupported bundle media type")
	ErrUnsigned       = errors.New("the bundle carries no signature")
	ErrOtherKey       = errors.New("signed by another key")
	ErrBadSignature   = errors.New("the signature does not match the payload (the statement was modified after signing)")
	ErrPayloadType    = errors.New("wrong DSSE payload type")
	ErrKeylessBundles = errors.New("keyless (certificate) bundles are not supported: ship verifies against a key")
)

// Verify checks that bundle is signed by pub over an in-toto statement and
// returns the statement's bytes, exactly as signed.
func Verify(bundle []byte, pub *ecdsa.PublicKey) ([]byte, error) {
	if pub == nil {
		return nil, errors.New("verify: no public key given")
	}
	b, err := ParseBundle(bundle)
	if err != nil {
		return nil, err
	}
	vm := b.VerificationMaterial
	if vm.PublicKey == nil && (len(vm.Certificate) > 0 || len(vm.X509CertificateChain) > 0) {
		return nil, ErrKeylessBundles
	}
	env := b.DSSEEnvelope
	if env.PayloadType != InTotoPayloadType {
		return nil, fmt.Errorf("%w: %q, want %s", ErrPayloadType, env.PayloadType, InTotoPayloadType)
	}
	if !hasSignature(env) {
		return nil, ErrUnsigned
	}
	digest := sha256.Sum256(PAE(env.PayloadType, env.Payload))
	for _, s := range env.Signatures {
		if ecdsa.VerifyASN1(pub, digest[:], s.Sig) {
			return env.Payload, nil // the key decides, not the hint: another tool may write hints differently
		}
	}
	return nil, classifyFailure(vm.PublicKey, KeyHint(pub))
}

// classifyFailure tells "signed by another key" from "modified" by the hint
// the bundle names; without a hint it cannot tell, and says so.
func classifyFailure(named *PublicKeyIdentifier, want string) error {
	switch {
	case named == nil || named.Hint == "":
		return fmt.Errorf("%w: no signature verifies with the expected key %s and the bundle does not name its key (or the statement was modified)", ErrOtherKey, want)
	case named.Hint != want:
		return fmt.Errorf("%w: the bundle names key %s, the expected key is %s", ErrOtherKey, named.Hint, want)
	}
	return fmt.Errorf("%w (key %s)", ErrBadSignature, want)
}

func hasSignature(env *Envelope) bool {
	for _, s := range env.Signatures {
		if len(s.Sig) > 0 {
			return true
		}
	}
	return false
}
