// The signing key as policies --format json shows it: only the build role may
// sign, the environment roles may only read the public key, and the account's
// administration includes no cryptographic operation.
package policy

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestSigningKeyOnlyTheBuildRoleSigns(t *testing.T) {
	in := withPlanImmutable()
	js, err := RenderJSON(in)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		SigningKey struct {
			Alias, AliasARN, KeySpec, KeyUsage string
			Access                             []KeyAccess
			KeyPolicy                          KeyPolicy
		}
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	k := doc.SigningKey
	if k.Alias != "alias/ship-shop-attestations" || k.KeySpec != "ECC_NIST_P256" || k.KeyUsage != "SIGN_VERIFY" ||
		k.AliasARN != "arn:aws:kms:eu-west-1:123456789012:alias/ship-shop-attestations" {
		t.Fatalf("signing key = %+v", k)
	}
	b, _ := Generate(in)
	seen := map[string]bool{}
	for _, a := range k.Access {
		seen[a.Principal] = true
		acts := strings.Join(a.Actions, ",")
		role, isRole := b.Role(a.Principal[strings.LastIndex(a.Principal, "/")+1:])
		switch {
		case isRole && role.Kind == KindBuild:
			if acts != "kms:DescribeKey,kms:GetPublicKey,kms:Sign" {
				t.Errorf("build role may %s", acts)
			}
		case isRole && role.Kind == KindDeploy:
			if acts != "kms:DescribeKey,kms:GetPublicKey" {
				t.Errorf("environment role %s may %s, want only to read the public key", role.Name, acts)
			}
		case a.Principal == "arn:aws:iam::123456789012:root":
			for _, act := range a.Actions {
				if actionCovers(act, "kms:Sign") || actionCovers(act, "kms:Verify") {
					t.Errorf("the account root may %s, which includes signing", act)
				}
			}
		default:
			t.Errorf("unexpected principal %s may %s (the plan and runtime roles get nothing)", a.Principal, acts)
		}
	}
	for _, r := range b.Roles {
		if (r.Kind == KindBuild || r.Kind == KindDeploy) != seen[r.ARN] {
			t.Errorf("role %s (%s): listed in the key access = %v", r.Name, r.Kind, seen[r.ARN])
		}
	}
	// Every action in the key policy is listed under some principal.
	var listed, inPolicy int
	for _, a := range k.Access {
		listed += len(a.Actions)
	}
	for _, st := range k.KeyPolicy.Statement {
		inPolicy += len(st.Action) * len(st.Principal["AWS"])
	}
	if listed != inPolicy {
		t.Errorf("access lists %d grants, the key policy has %d", listed, inPolicy)
	}
}

// actionCovers reports whether a policy action pattern (kms:Get*) matches action.
func actionCovers(pattern, action string) bool {
	if p, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(action, p)
	}
	return pattern == action
}
