// Planning of the roles and their inline permission policies. A differing
// trust policy is the usual cause of "Not authorized to perform
// sts:AssumeRoleWithWebIdentity", so it is compared semantically, rewritten
// only when it means something else, and the dry run shows the changed lines.
// The single role of the earlier setup is pointed out, never deleted: a human
// decides when no workflow uses it any more.
package bootstrap

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"dagger/ship/internal/policy"
)

func planRoles(ctx context.Context, c Clients, in policy.Inputs, b policy.Bundle) ([]Action, error) {
	var actions []Action
	for _, r := range b.Roles {
		as, err := planRole(ctx, c, in, r)
		if err != nil {
			return nil, err
		}
		actions = append(actions, as...)
	}
	return actions, nil
}

func planRole(ctx context.Context, c Clients, in policy.Inputs, r policy.Role) ([]Action, error) {
	res := "IAM role " + r.Name
	trust := r.TrustPolicy.Compact()
	out, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &r.Name})
	if isNotFound(err) {
		create := Action{Resource: res, Verb: "create", Detail: trustDetail(r),
			apply: func(ctx context.Context) error {
				_, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: &r.Name, AssumeRolePolicyDocument: &trust,
					Description: aws.String(fmt.Sprintf("ship: %s, %s/%s", policy.Purpose(r), in.GitHubOwner, in.GitHubRepo))})
				return err
			}}
		return []Action{create, putPolicyAction(c, r, "create", nil)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", res, err)
	}
	current := []byte(aws.ToString(out.Role.AssumeRolePolicyDocument))
	diff, err := policy.Diff(current, []byte(trust))
	if err != nil {
		return nil, fmt.Errorf("read trust policy of %s: %w", res, err)
	}
	actions := []Action{ok(res, "trust policy up to date")}
	if diff != nil {
		actions[0] = Action{Resource: res, Verb: "update", Detail: "trust policy differs", Diff: diff,
			apply: func(ctx context.Context) error {
				_, err := c.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: &r.Name, PolicyDocument: &trust})
				return err
			}}
	}
	pa, err := planPermissionPolicy(ctx, c, r)
	if err != nil {
		return nil, err
	}
	return append(actions, pa), nil
}

func planPermissionPolicy(ctx context.Context, c Clients, r policy.Role) (Action, error) {
	out, err := c.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &r.Name, PolicyName: &r.PermissionPolicyName})
	if isNotFound(err) {
		return putPolicyAction(c, r, "create", nil), nil
	}
	if err != nil {
		return Action{}, fmt.Errorf("read inline policy %s of role %s: %w", r.PermissionPolicyName, r.Name, err)
	}
	diff, err := policy.Diff([]byte(aws.ToString(out.PolicyDocument)), []byte(r.PermissionDocument()))
	if err != nil {
		return Action{}, fmt.Errorf("read inline policy %s of role %s: %w", r.PermissionPolicyName, r.Name, err)
	}
	if diff == nil {
		return ok(policyResource(r), "up to date"), nil
	}
	return putPolicyAction(c, r, "update", diff), nil
}

// trustDetail says whom a new role trusts, in one line.
func trustDetail(r policy.Role) string {
	if p := r.PodIdentity; p != nil {
		return fmt.Sprintf("trusts %s for service account %s/%s on %s only", policy.PodIdentityService, p.Namespace, p.ServiceAccount, p.Cluster)
	}
	return "trusts " + strings.Join(r.Subjects, ", ")
}

func policyResource(r policy.Role) string {
	return fmt.Sprintf("IAM inline policy %s/%s", r.Name, r.PermissionPolicyName)
}

func putPolicyAction(c Clients, r policy.Role, verb string, diff []string) Action {
	doc := r.PermissionDocument()
	return Action{Resource: policyResource(r), Verb: verb, Detail: policy.Purpose(r), Diff: diff,
		apply: func(ctx context.Context) error {
			_, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &r.Name,
				PolicyName: &r.PermissionPolicyName, PolicyDocument: &doc})
			return err
		}}
}

// planLegacyRole flags the single role of the earlier setup: left alone it
// still trusts main and every environment and can deploy anywhere.
func planLegacyRole(ctx context.Context, c Clients, in policy.Inputs, b policy.Bundle) ([]Action, error) {
	name := b.LegacyRoleName
	out, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &name})
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read IAM role %s (the earlier single role): %w", name, err)
	}
	arn := aws.ToString(out.Role.Arn)
	return []Action{{Resource: "IAM role " + name, Verb: "review", Detail: fmt.Sprintf(
		"the single role of the earlier setup still exists and can still deploy everywhere it was allowed; it was NOT changed. "+
			"Once no workflow uses it, delete it: aws eks delete-access-entry --cluster-name %s --principal-arn %s; "+
			"aws iam delete-role-policy --role-name %s --policy-name ship-deploy; aws iam delete-role --role-name %s",
		in.Cluster, arn, name, name)}}, nil
}
