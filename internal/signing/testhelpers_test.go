// Test helpers: a fake AWS with a KMS signing key whose policy lets one role
// sign and another only read, reached with real SigV4 credentials of those
// roles; and keys to sign with (cosign-format keys come from testenv/cosignkey).
package signing

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"dagger/ship/internal/testenv/fakeaws"
)

const (
	adminKey    = "AKIAADMINTESTKEY0001"
	adminSecret = "admin-secret-for-fakeaws-only-0000000000"
	signerRole  = "arn:aws:iam::123456789012:role/ship-shop-build"
	readerRole  = "arn:aws:iam::123456789012:role/ship-shop-prod"
	keyAlias    = "alias/ship-shop-attestations"
)

type kmsEnv struct {
	server *fakeaws.Server
	admin  aws.Config
}

func newKMSEnv(t *testing.T) kmsEnv {
	t.Helper()
	s := fakeaws.New(t, fakeaws.Options{Account: "123456789012", Region: "eu-west-1"})
	adminARN := s.AddUser(adminKey, adminSecret)
	s.TrustRoleForPrincipal(signerRole, adminARN)
	s.TrustRoleForPrincipal(readerRole, adminARN)
	admin := aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(adminKey, adminSecret, "")}
	keyPolicy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[
		{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::123456789012:root"},"Action":["kms:Describe*","kms:Get*","kms:Put*","kms:Create*"],"Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":%q},"Action":["kms:Sign","kms:GetPublicKey"],"Resource":"*"},
		{"Effect":"Allow","Principal":{"AWS":%q},"Action":["kms:GetPublicKey"],"Resource":"*"}]}`, signerRole, readerRole)
	ctx := context.Background()
	c := kms.NewFromConfig(admin)
	out, err := c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecEccNistP256, KeyUsage: types.KeyUsageTypeSignVerify, Policy: &keyPolicy})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(keyAlias), TargetKeyId: out.KeyMetadata.KeyId}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	return kmsEnv{server: s, admin: admin}
}

// as returns a KMS client signing its requests with a session of roleARN.
func (e kmsEnv) as(roleARN string) *kms.Client {
	cfg := e.admin.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(e.admin), roleARN))
	return kms.NewFromConfig(cfg)
}

func newP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pkcs8PEM(t *testing.T, k any) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}
