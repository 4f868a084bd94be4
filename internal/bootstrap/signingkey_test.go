// The attestation signing key through bootstrap and the fake KMS: created
// once with exactly the generated key policy, shown by a dry run, repaired
// when someone widened it, and enforced: the build role signs, an environment
// role can read the public key but its kms:Sign is refused.
package bootstrap

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"dagger/ship/internal/policy"
	"dagger/ship/internal/signing"
	"dagger/ship/internal/testenv/fakeaws"
)

func signingKey(t *testing.T) policy.SigningKey {
	t.Helper()
	b, err := policy.Generate(inputs())
	if err != nil {
		t.Fatal(err)
	}
	return b.SigningKey
}

func TestSigningKeyCreatedOnceWithTheGeneratedPolicy(t *testing.T) {
	s, c := newEnv(t)
	want := signingKey(t)
	_, out := apply(t, c, inputs(), false)
	creates := s.RequestsFor("CreateKey")
	if len(creates) != 1 {
		t.Fatalf("CreateKey sent %d times, want once", len(creates))
	}
	body := creates[0].Body
	if body["KeySpec"] != "ECC_NIST_P256" || body["KeyUsage"] != "SIGN_VERIFY" || body["Policy"] != want.Policy.Compact() {
		t.Fatalf("CreateKey body = %v\nwant policy %s", body, want.Policy.Compact())
	}
	alias := s.RequestsFor("CreateAlias")
	keys := s.KMSKeys()
	if len(alias) != 1 || alias[0].Body["AliasName"] != "alias/ship-shop-attestations" || len(keys) != 1 || alias[0].Body["TargetKeyId"] != keys[0].ID {
		t.Fatalf("CreateAlias = %+v, keys %+v", alias, keys)
	}
	if !strings.Contains(out, "create KMS key alias/ship-shop-attestations (ECC_NIST_P256 for SIGN_VERIFY; kms:Sign for arn:aws:iam::123456789012:role/ship-shop-build only") {
		t.Errorf("output does not say what the key is and who signs:\n%s", out)
	}
	before := len(s.Requests())
	_, out = apply(t, c, inputs(), false)
	if w := mutating(s, before); len(w) != 0 || !strings.Contains(out, "ok KMS key alias/ship-shop-attestations (key policy up to date)") {
		t.Fatalf("second run: writes %s\n%s", ops(w), out)
	}
	if len(s.KMSKeys()) != 1 {
		t.Fatalf("the second run made another key: %d keys", len(s.KMSKeys()))
	}
}

func TestDryRunShowsTheSigningKeyAndCreatesNone(t *testing.T) {
	s, c := newEnv(t)
	_, out := apply(t, c, inputs(), true)
	if !strings.Contains(out, "would create KMS key alias/ship-shop-attestations (ECC_NIST_P256 for SIGN_VERIFY") {
		t.Errorf("dry run does not show the key:\n%s", out)
	}
	if len(s.KMSKeys()) != 0 || len(s.RequestsFor("CreateKey")) != 0 {
		t.Fatal("dry run created a key")
	}
}

func TestWidenedKeyPolicyIsShownThenRepaired(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, inputs(), false)
	k := signingKey(t)
	widened := k.Policy
	widened.Statement = append([]policy.KeyStatement(nil), widened.Statement...)
	widened.Statement[2].Action = []string{"kms:DescribeKey", "kms:GetPublicKey", "kms:Sign"}
	doc := widened.Compact()
	ctx := context.Background()
	if _, err := c.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(k.Alias), PolicyName: aws.String("default"), Policy: &doc}); err != nil {
		t.Fatal(err)
	}
	before := len(s.Requests())
	_, out := apply(t, c, inputs(), true)
	if w := mutating(s, before); len(w) != 0 {
		t.Fatalf("dry run sent %s", ops(w))
	}
	if !strings.Contains(out, "would update KMS key alias/ship-shop-attestations (key policy differs)") || !strings.Contains(out, `-         "kms:Sign"`) {
		t.Fatalf("dry run does not show the widened grant:\n%s", out)
	}
	before = len(s.Requests())
	apply(t, c, inputs(), false)
	if w := mutating(s, before); ops(w) != "PutKeyPolicy" || w[0].Body["Policy"] != k.Policy.Compact() {
		t.Fatalf("repair writes = %s", ops(w))
	}
}

func TestOnlyTheBuildRoleCanSign(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, inputs(), false)
	build, prod := role(t, "ship-shop-build"), role(t, "ship-shop-prod")
	// The test assumes the roles by chaining from the admin instead of a GitHub token.
	s.TrustRoleForPrincipal(build.ARN, adminARN)
	s.TrustRoleForPrincipal(prod.ARN, adminARN)
	ctx := context.Background()
	alias := signingKey(t).Alias

	signer, err := signing.NewKMSSigner(ctx, kmsAs(s, build.ARN), alias)
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := signing.SignStatement(ctx, signer, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
	if err != nil {
		t.Fatalf("the build role cannot sign: %v", err)
	}
	reader, err := signing.NewKMSSigner(ctx, kmsAs(s, prod.ARN), alias)
	if err != nil {
		t.Fatalf("the prod role cannot read the public key: %v", err)
	}
	if _, err := signing.Verify(bundle, reader.PublicKey()); err != nil {
		t.Fatalf("the prod role cannot verify with the key it read: %v", err)
	}
	_, err = signing.SignStatement(ctx, reader, []byte(`{"_type":"https://in-toto.io/Statement/v1"}`))
	if ErrorCode(err) != "AccessDeniedException" {
		t.Fatalf("the prod role signed: err = %v", err)
	}
	var denied int
	for _, r := range s.RequestsFor("Sign") {
		if r.ErrorCode == "AccessDeniedException" && strings.Contains(r.AccessKey, "ASIA") {
			denied++
		}
	}
	if denied != 1 {
		t.Fatalf("want one refused Sign, requests %+v", s.RequestsFor("Sign"))
	}
}

func kmsAs(s *fakeaws.Server, roleARN string) *kms.Client {
	admin := aws.Config{Region: s.Region, HTTPClient: s.HTTPClient(), BaseEndpoint: aws.String(s.URL),
		Credentials: credentials.NewStaticCredentialsProvider(adminKey, adminSecret, "")}
	cfg := admin.Copy()
	cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(admin), roleARN))
	return kms.NewFromConfig(cfg)
}

func TestNewRolesNotYetVisibleToKMSAreRetried(t *testing.T) {
	defer func(w time.Duration) { principalRetryWait = w }(principalRetryWait)
	principalRetryWait = time.Millisecond
	s, c := newEnv(t)
	s.FailNext("CreateKey", fakeaws.APIError{Code: "MalformedPolicyDocumentException", Message: "Policy contains a statement with one or more invalid principals.", Status: 400}, 2)
	apply(t, c, inputs(), false)
	if n := len(s.RequestsFor("CreateKey")); n != 3 || len(s.KMSKeys()) != 1 {
		t.Fatalf("CreateKey sent %d times with %d keys, want 3 tries and one key", n, len(s.KMSKeys()))
	}
}

func TestAnAdministratorWithoutKMSRightsIsToldWhichOnes(t *testing.T) {
	s, c := newEnv(t)
	apply(t, c, inputs(), false)
	k := signingKey(t)
	locked := k.Policy
	locked.Statement = append([]policy.KeyStatement(nil), locked.Statement[1:]...)
	doc := locked.Compact()
	ctx := context.Background()
	if _, err := c.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: aws.String(k.Alias), PolicyName: aws.String("default"), Policy: &doc,
		BypassPolicyLockoutSafetyCheck: true}); err != nil {
		t.Fatal(err)
	}
	before := len(s.Requests())
	var out strings.Builder
	_, err := Apply(ctx, c, inputs(), true, &out)
	if ErrorCode(err) != "AccessDeniedException" || !strings.Contains(err.Error(), "need kms:DescribeKey, kms:GetKeyPolicy") {
		t.Fatalf("err = %v", err)
	}
	if w := mutating(s, before); len(w) != 0 {
		t.Fatalf("a failed read still sent %s", ops(w))
	}
}
