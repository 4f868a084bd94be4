// The fake KMS through the real SDK client: signatures verify with the key
// GetPublicKey returns, SigV4 is enforced, errors carry KMS's __type codes,
// and key policies are validated (principals exist, no lockout) and enforced.
package fakeaws

import (
	"context"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
)

func newKMSKey(t *testing.T, s *Server, c *kms.Client, policy string) string {
	t.Helper()
	in := &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify}
	if policy != "" {
		in.Policy = aws.String(policy)
	}
	out, err := c.CreateKey(context.Background(), in)
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	return aws.ToString(out.KeyMetadata.KeyId)
}

func TestKMSSignsWithTheKeyItPublishes(t *testing.T) {
	s := New(t, Options{})
	s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	c := kms.NewFromConfig(cfgFor(s, CanaryAccessKeyID, CanarySecretKey))
	ctx := context.Background()
	id := newKMSKey(t, s, c, "")
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/test"), TargetKeyId: &id}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/test"), TargetKeyId: &id}); errCode(err) != "AlreadyExistsException" {
		t.Fatalf("second CreateAlias: %v", err)
	}
	aliasARN := "arn:aws:kms:" + s.Region + ":" + s.Account + ":alias/test"
	for _, ref := range []string{id, "alias/test", aliasARN, "arn:aws:kms:" + s.Region + ":" + s.Account + ":key/" + id} {
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ref)})
		if err != nil || aws.ToString(d.KeyMetadata.KeyId) != id || d.KeyMetadata.KeySpec != types.KeySpecEccNistP256 || d.KeyMetadata.KeyState != types.KeyStateEnabled {
			t.Fatalf("DescribeKey(%s) = %+v, %v", ref, d, err)
		}
	}
	pk, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String("alias/test")})
	if err != nil {
		t.Fatal(err)
	}
	parsed, err := x509.ParsePKIXPublicKey(pk.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("statement"))
	sig, err := c.Sign(ctx, &kms.SignInput{KeyId: aws.String(aliasARN), Message: digest[:], MessageType: types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil {
		t.Fatal(err)
	}
	if !ecdsa.VerifyASN1(parsed.(*ecdsa.PublicKey), digest[:], sig.Signature) {
		t.Fatal("the signature does not verify with the published key")
	}
	raw, err := c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: []byte("statement"), MessageType: types.MessageTypeRaw,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if err != nil || !ecdsa.VerifyASN1(parsed.(*ecdsa.PublicKey), digest[:], raw.Signature) {
		t.Fatalf("RAW sign: %v", err)
	}
	_, err = c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: []byte("short"), MessageType: types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if errCode(err) != "ValidationException" {
		t.Fatalf("a 5-byte digest: %v", err)
	}
	if _, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: aws.String("alias/missing")}); errCode(err) != "NotFoundException" {
		t.Fatalf("missing alias: %v", err)
	}
	wrong := kms.NewFromConfig(cfgFor(s, CanaryAccessKeyID, "wrong"+CanarySecretKey[5:]))
	if _, err := wrong.Sign(ctx, &kms.SignInput{KeyId: &id, Message: digest[:], MessageType: types.MessageTypeDigest,
		SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256}); errCode(err) != "SignatureDoesNotMatch" {
		t.Fatalf("wrong secret: %v", err)
	}
}

func TestKMSUnsignedRequestGetsAJSONError(t *testing.T) {
	s := New(t, Options{})
	req, _ := http.NewRequest("POST", s.URL, strings.NewReader(`{"KeyId":"alias/x"}`))
	req.Header.Set("X-Amz-Target", "TrentService.GetPublicKey")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e map[string]string
	if resp.StatusCode != 403 || json.Unmarshal(body, &e) != nil || e["__type"] != "MissingAuthenticationToken" {
		t.Fatalf("unsigned: %d %s", resp.StatusCode, body)
	}
}

func TestKMSKeyPolicyIsValidatedAndEnforced(t *testing.T) {
	s := New(t, Options{})
	admin := s.AddUser(CanaryAccessKeyID, CanarySecretKey)
	c := kms.NewFromConfig(cfgFor(s, CanaryAccessKeyID, CanarySecretKey))
	ctx := context.Background()
	create := func(policy string) error {
		_, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify, Policy: &policy})
		return err
	}
	missingRole := fmt.Sprintf(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*"},`+
		`{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:role/nobody"},"Action":"kms:Sign"}]}`, s.Account, s.Account)
	if err := create(missingRole); errCode(err) != "MalformedPolicyDocumentException" || !strings.Contains(err.Error(), "invalid principals") {
		t.Fatalf("a policy naming a missing role: %v", err)
	}
	lockout := fmt.Sprintf(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:Describe*"}]}`, s.Account)
	if err := create(lockout); errCode(err) != "MalformedPolicyDocumentException" || !strings.Contains(err.Error(), "update the key policy in the future") {
		t.Fatalf("a policy locking the caller out: %v", err)
	}
	if err := create(`{"Statement":[`); errCode(err) != "MalformedPolicyDocumentException" {
		t.Fatalf("invalid JSON: %v", err)
	}
	// Admin may administer but not sign; an explicit Deny wins over an Allow.
	policy := fmt.Sprintf(`{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":["kms:Put*","kms:Get*","kms:Describe*"]},`+
		`{"Effect":"Deny","Principal":{"AWS":%q},"Action":"kms:GetPublicKey"}]}`, s.Account, admin)
	id := newKMSKey(t, s, c, policy)
	digest := sha256.Sum256(nil)
	_, err := c.Sign(ctx, &kms.SignInput{KeyId: &id, Message: digest[:], MessageType: types.MessageTypeDigest, SigningAlgorithm: types.SigningAlgorithmSpecEcdsaSha256})
	if errCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "kms:Sign") {
		t.Fatalf("Sign without a grant: %v", err)
	}
	if _, err := c.GetPublicKey(ctx, &kms.GetPublicKeyInput{KeyId: &id}); errCode(err) != "AccessDeniedException" {
		t.Fatalf("GetPublicKey under an explicit Deny: %v", err)
	}
	if _, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &id}); err != nil {
		t.Fatalf("DescribeKey granted by kms:Describe*: %v", err)
	}
}
