// The KMS key that signs attestations, and its key policy: who may sign
// (the build role only), who may read the public key to verify (the build
// and environment roles), and who administers the key (the account, as KMS
// requires so the key can never become unmanageable). The account root gets
// administration only, no kms:Sign: otherwise any principal of the account
// with a broad IAM policy (kms:* on *) could sign attestations, and "only the
// build role signs" would depend on every other policy in the account.
package policy

import (
	"encoding/json"
	"fmt"
)

// Signing key settings: an asymmetric P-256 key, what cosign, sigstore-go and
// ship's own verifier all accept.
const (
	SigningKeySpec  = "ECC_NIST_P256"
	SigningKeyUsage = "SIGN_VERIFY"
)

// Key policy grants, each with why it is there.
var (
	SignGrants = []Grant{
		{"kms:Sign", "signs the attestations (SBOM, provenance) of the images it builds"},
		{"kms:GetPublicKey", "puts the key's hint in each bundle and verifies what it signed"},
		{"kms:DescribeKey", "checks it is the ECC_NIST_P256 signing key before signing"},
	}
	VerifyGrants = []Grant{
		{"kms:GetPublicKey", "reads the public key to verify attestations before deploying; cannot sign"},
		{"kms:DescribeKey", "resolves the alias and checks the key spec"},
	}
	// KeyAdminActions are the account's administration rights: no
	// cryptographic operation (Sign, Verify, Encrypt, Decrypt...) is among them.
	KeyAdminActions = []string{"kms:CancelKeyDeletion", "kms:Create*", "kms:Delete*", "kms:Describe*", "kms:Disable*",
		"kms:Enable*", "kms:Get*", "kms:List*", "kms:Put*", "kms:Revoke*", "kms:ScheduleKeyDeletion",
		"kms:TagResource", "kms:UntagResource", "kms:Update*"}
)

// SigningKey is the attestation signing key bootstrap creates.
type SigningKey struct {
	Alias       string // alias/ship-<repo>-attestations
	AliasARN    string
	KeySpec     string
	KeyUsage    string
	Description string
	Policy      KeyPolicy
	Signers     []string // role ARNs that may kms:Sign
	Verifiers   []string // role ARNs that may only read the public key
}

// KeyPolicy is a KMS key policy. Unlike an IAM Statement, a principal may
// list several ARNs.
type KeyPolicy struct {
	Version   string         `json:"Version"`
	Statement []KeyStatement `json:"Statement"`
}

// KeyStatement is one key policy statement.
type KeyStatement struct {
	Sid       string              `json:"Sid"`
	Effect    string              `json:"Effect"`
	Principal map[string][]string `json:"Principal"`
	Action    []string            `json:"Action"`
	Resource  []string            `json:"Resource"`
}

// Compact renders the policy on one line, as sent to KMS.
func (p KeyPolicy) Compact() string {
	b, err := json.Marshal(p)
	if err != nil { // only strings, maps and slices: cannot fail
		panic(fmt.Sprintf("marshal key policy: %v", err))
	}
	return string(b)
}

// SigningKeyAlias is the alias of the repository's attestation signing key.
func (in Inputs) SigningKeyAlias() string { return "alias/ship-" + in.GitHubRepo + "-attestations" }

// SigningKeyAliasARN is the alias's ARN: what `cosign verify-attestation
// --key awskms:///<alias ARN>` and ship's verifier name.
func (in Inputs) SigningKeyAliasARN() string {
	in = in.WithDefaults()
	return fmt.Sprintf("arn:%s:kms:%s:%s:%s", in.Partition, in.Region, in.Account, in.SigningKeyAlias())
}

func signingKey(in Inputs, roles []Role) SigningKey {
	k := SigningKey{Alias: in.SigningKeyAlias(), AliasARN: in.SigningKeyAliasARN(), KeySpec: SigningKeySpec, KeyUsage: SigningKeyUsage,
		Description: fmt.Sprintf("ship: signs the attestations of %s/%s's images (build role only)", in.GitHubOwner, in.GitHubRepo)}
	for _, r := range roles {
		switch r.Kind {
		case KindBuild:
			k.Signers = append(k.Signers, r.ARN)
		case KindDeploy:
			k.Verifiers = append(k.Verifiers, r.ARN)
		}
	}
	root := fmt.Sprintf("arn:%s:iam::%s:root", in.Partition, in.Account)
	k.Policy = KeyPolicy{Version: policyVersion, Statement: []KeyStatement{
		{Sid: "AccountAdministersTheKeyButCannotSign", Effect: "Allow", Principal: map[string][]string{"AWS": {root}},
			Action: KeyAdminActions, Resource: []string{"*"}},
		{Sid: "BuildRoleSigns", Effect: "Allow", Principal: map[string][]string{"AWS": k.Signers},
			Action: actions(SignGrants), Resource: []string{"*"}},
	}}
	if len(k.Verifiers) > 0 {
		k.Policy.Statement = append(k.Policy.Statement, KeyStatement{Sid: "EnvironmentRolesVerify", Effect: "Allow",
			Principal: map[string][]string{"AWS": k.Verifiers}, Action: actions(VerifyGrants), Resource: []string{"*"}})
	}
	return k
}

// KeyAccess is what one principal may do with the key.
type KeyAccess struct {
	Principal string   `json:"principal"`
	Actions   []string `json:"actions"`
}

// Access lists who may do what, read from the key policy itself so the
// listing cannot disagree with what KMS enforces: signers first, then
// verifiers, then the account's administration.
func (k SigningKey) Access() []KeyAccess {
	var out []KeyAccess
	for _, principals := range [][]string{k.Signers, k.Verifiers} {
		for _, p := range principals {
			out = append(out, KeyAccess{Principal: p, Actions: k.actionsOf(p)})
		}
	}
	for _, st := range k.Policy.Statement {
		for _, p := range st.Principal["AWS"] {
			if !contains(k.Signers, p) && !contains(k.Verifiers, p) {
				out = append(out, KeyAccess{Principal: p, Actions: k.actionsOf(p)})
			}
		}
	}
	return out
}

func (k SigningKey) actionsOf(principal string) []string {
	var acts []string
	for _, st := range k.Policy.Statement {
		if st.Effect == "Allow" && contains(st.Principal["AWS"], principal) {
			acts = append(acts, st.Action...)
		}
	}
	return sortedCopy(acts)
}
