// Signing with an AWS KMS asymmetric key: the private key never leaves KMS,
// so there is no key file to store, rotate or leak. ship hashes locally and
// sends only the digest (MessageType DIGEST), so a statement of any size is
// one Sign call and KMS never sees the statement. The key's spec and usage
// are checked up front: a symmetric or RSA key would otherwise fail only at
// the first signature, or sign with an algorithm verifiers do not expect.
package signing

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

// KMSPublicKeyClient is the part of *kms.Client a verifier uses: environment
// roles may read the public key, not sign.
type KMSPublicKeyClient interface {
	GetPublicKey(ctx context.Context, in *kms.GetPublicKeyInput, opts ...func(*kms.Options)) (*kms.GetPublicKeyOutput, error)
}

// KMSClient is the part of *kms.Client a KMSSigner uses.
type KMSClient interface {
	KMSPublicKeyClient
	Sign(ctx context.Context, in *kms.SignInput, opts ...func(*kms.Options)) (*kms.SignOutput, error)
}

// KMSSigner signs with an ECC_NIST_P256 SIGN_VERIFY key in AWS KMS.
type KMSSigner struct {
	client KMSClient
	keyARN string
	pub    *ecdsa.PublicKey
}

// NewKMSSigner reads the public key of keyID (a key ID, key ARN, alias name
// such as alias/ship-shop-attestations, or alias ARN) and checks that it is an
// ECC_NIST_P256 signing key.
func NewKMSSigner(ctx context.Context, client KMSClient, keyID string) (*KMSSigner, error) {
	pub, arn, err := kmsPublicKey(ctx, client, keyID)
	if err != nil {
		return nil, err
	}
	return &KMSSigner{client: client, keyARN: arn, pub: pub}, nil
}

// KMSPublicKey reads the public key that verifies what keyID signs (the
// gate's expected key), with the same checks as NewKMSSigner.
func KMSPublicKey(ctx context.Context, client KMSPublicKeyClient, keyID string) (*ecdsa.PublicKey, error) {
	pub, _, err := kmsPublicKey(ctx, client, keyID)
	return pub, err
}

func kmsPublicKey(ctx context.Context, client KMSPublicKeyClient, keyID string) (*ecdsa.PublicKey, string, error) {
	out, err := client.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String(keyID)})
	if err != nil {
		return nil, "", fmt.Errorf("read the public key of KMS key %s (the caller needs kms:GetPublicKey in the key policy; bootstrap grants it to the build and environment roles): %w", keyID, err)
	}
	if out.KeySpec != types.KeySpecEccNistP256 || out.KeyUsage != types.KeyUsageTypeSignVerify {
		return nil, "", fmt.Errorf("KMS key %s is %s for %s; attestations need an asymmetric ECC_NIST_P256 key for SIGN_VERIFY (bootstrap creates one)", keyID, out.KeySpec, out.KeyUsage)
	}
	pub, err := parsePublicKeyDER(out.PublicKey)
	if err != nil {
		return nil, "", fmt.Errorf("KMS key %s: %w", keyID, err)
	}
	return pub, aws.ToString(out.KeyId), nil
}

// Sign implements Signer with one kms:Sign call on the digest.
func (s *KMSSigner) Sign(ctx context.Context, digest []byte) ([]byte, error) {
	if len(digest) != sha256.Size {
		return nil, fmt.Errorf("sign: digest is %d bytes, want a %d-byte SHA-256 digest", len(digest), sha256.Size)
	}
	out, err := s.client.Sign(ctx, &kms.SignInput{KeyId: aws.String(s.keyARN), Message: digest,
		MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		return nil, fmt.Errorf("kms:Sign with %s (only the build role may sign; check the key policy): %w", s.keyARN, err)
	}
	return out.Signature, nil
}

// PublicKey implements Signer.
func (s *KMSSigner) PublicKey() *ecdsa.PublicKey { return s.pub }

// Describe implements Signer.
func (s *KMSSigner) Describe() string { return "AWS KMS key " + s.keyARN }

// KeyARN is the ARN of the key, as GetPublicKey returned it.
func (s *KMSSigner) KeyARN() string { return s.keyARN }
