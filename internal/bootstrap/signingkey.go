// Planning of the attestation signing key: an asymmetric ECC_NIST_P256 KMS
// key found by its alias, created once, its key policy compared semantically
// and rewritten only when it means something else. An alias that points at
// a key of another kind is refused, never silently replaced: it may sign
// something else. The key comes after the roles because KMS refuses a key
// policy naming a role that does not exist yet; a role IAM has only just
// created can still be refused for a few seconds (IAM propagates), so that one
// error is retried.
package bootstrap

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	kmstypes "github.com/aws/aws-sdk-go-v2/service/kms/types"

	"dagger/ship/internal/policy"
)

// principalPropagation is how long KMS may take to see a new role, split
// into retries of principalRetryWait (tests shorten it).
var (
	principalRetryWait = 5 * time.Second
	principalRetries   = 6
)

func planSigningKey(ctx context.Context, c Clients, in policy.Inputs, b policy.Bundle) ([]Action, error) {
	k := b.SigningKey
	res := "KMS key " + k.Alias
	doc := k.Policy.Compact()
	out, err := c.KMS.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(k.Alias)})
	if ErrorCode(err) == "NotFoundException" { // KMS's code for an unknown alias
		return []Action{{Resource: res, Verb: "create", Detail: fmt.Sprintf("%s for %s; kms:Sign for %s only, kms:GetPublicKey for the environment roles",
			k.KeySpec, k.KeyUsage, strings.Join(k.Signers, ", ")),
			apply: func(ctx context.Context) error { return createSigningKey(ctx, c, k, doc) }}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w%s", res, err, kmsAccessHint(err))
	}
	md := out.KeyMetadata
	id := aws.ToString(md.KeyId)
	if string(md.KeySpec) != k.KeySpec || string(md.KeyUsage) != k.KeyUsage {
		return nil, fmt.Errorf("%s points to key %s, which is %s for %s; attestations need %s for %s: point the alias at such a key, or delete the alias (aws kms delete-alias --alias-name %s) and run bootstrap again to create one",
			res, id, md.KeySpec, md.KeyUsage, k.KeySpec, k.KeyUsage, k.Alias)
	}
	if md.KeyState != kmstypes.KeyStateEnabled {
		return nil, fmt.Errorf("%s (key %s) is %s, so nothing can be signed: enable it (aws kms cancel-key-deletion / enable-key --key-id %s) and run bootstrap again",
			res, id, md.KeyState, id)
	}
	pol, err := c.KMS.GetKeyPolicy(ctx, &kms.GetKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("default")})
	if err != nil {
		return nil, fmt.Errorf("read the key policy of %s: %w%s", res, err, kmsAccessHint(err))
	}
	diff, err := policy.Diff([]byte(aws.ToString(pol.Policy)), []byte(doc))
	if err != nil {
		return nil, fmt.Errorf("read the key policy of %s: %w", res, err)
	}
	if diff == nil {
		return []Action{ok(res, "key policy up to date")}, nil
	}
	return []Action{{Resource: res, Verb: "update", Detail: "key policy differs", Diff: diff,
		apply: func(ctx context.Context) error {
			return retryPrincipals(ctx, func() error {
				_, err := c.KMS.PutKeyPolicy(ctx, &kms.PutKeyPolicyInput{KeyId: md.KeyId, PolicyName: aws.String("default"), Policy: &doc})
				return err
			})
		}}}, nil
}

func createSigningKey(ctx context.Context, c Clients, k policy.SigningKey, doc string) error {
	var created *kms.CreateKeyOutput
	err := retryPrincipals(ctx, func() error {
		var err error
		created, err = c.KMS.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: kmstypes.KeySpec(k.KeySpec), KeyUsage: kmstypes.KeyUsageType(k.KeyUsage),
			Policy: &doc, Description: aws.String(k.Description)})
		return err
	})
	if err != nil {
		return err
	}
	id := aws.ToString(created.KeyMetadata.KeyId)
	if _, err := c.KMS.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String(k.Alias), TargetKeyId: &id}); err != nil {
		return fmt.Errorf("key %s was created but its alias %s was not, so the next run would create another key: create the alias (aws kms create-alias --alias-name %s --target-key-id %s): %w",
			id, k.Alias, k.Alias, id, err)
	}
	return nil
}

// kmsAccessHint says what an administrator lacks when KMS refuses a read.
func kmsAccessHint(err error) string {
	if ErrorCode(err) != "AccessDeniedException" {
		return ""
	}
	return " (bootstrap's credentials need kms:DescribeKey, kms:GetKeyPolicy, kms:CreateKey, kms:CreateAlias and kms:PutKeyPolicy, from an IAM policy and, for an existing key, its key policy)"
}

// retryPrincipals retries f while KMS says a principal in the policy is
// invalid: the usual state of a role IAM created seconds ago.
func retryPrincipals(ctx context.Context, f func() error) error {
	err := f()
	for i := 1; i < principalRetries && ErrorCode(err) == "MalformedPolicyDocumentException" && strings.Contains(err.Error(), "invalid principals"); i++ {
		select {
		case <-ctx.Done():
			return err
		case <-time.After(principalRetryWait):
		}
		err = f()
	}
	return err
}
