// Planning of the CI role and its inline permission policy. A differing
// trust policy is the usual cause of "Not authorized to perform
// sts:AssumeRoleWithWebIdentity", so it is compared semantically and rewritten
// only when it means something else.
package bootstrap

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"dagger/ship/internal/policy"
)

func planRole(ctx context.Context, c Clients, in policy.Inputs, b policy.Bundle) ([]Action, error) {
	res := "IAM role " + b.RoleName
	trust := b.TrustPolicy.Compact()
	out, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &b.RoleName})
	if isNotFound(err) {
		create := Action{Resource: res, Verb: "create", Detail: "trust policy for " + fmt.Sprint(policy.Subjects(in)),
			apply: func(ctx context.Context) error {
				_, err := c.IAM.CreateRole(ctx, &iam.CreateRoleInput{RoleName: &b.RoleName,
					AssumeRolePolicyDocument: &trust,
					Description:              aws.String(fmt.Sprintf("ship: CI deploys of %s/%s", in.GitHubOwner, in.GitHubRepo))})
				return err
			}}
		return []Action{create, putPolicyAction(c, b, "create")}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", res, err)
	}
	var actions []Action
	same, err := policy.Equivalent([]byte(aws.ToString(out.Role.AssumeRolePolicyDocument)), []byte(trust))
	if err != nil {
		return nil, fmt.Errorf("read trust policy of %s: %w", res, err)
	}
	if same {
		actions = append(actions, ok(res, "trust policy up to date"))
	} else {
		actions = append(actions, Action{Resource: res, Verb: "update", Detail: "trust policy differs",
			apply: func(ctx context.Context) error {
				_, err := c.IAM.UpdateAssumeRolePolicy(ctx, &iam.UpdateAssumeRolePolicyInput{RoleName: &b.RoleName, PolicyDocument: &trust})
				return err
			}})
	}
	pa, err := planPermissionPolicy(ctx, c, b)
	if err != nil {
		return nil, err
	}
	return append(actions, pa), nil
}

func planPermissionPolicy(ctx context.Context, c Clients, b policy.Bundle) (Action, error) {
	out, err := c.IAM.GetRolePolicy(ctx, &iam.GetRolePolicyInput{RoleName: &b.RoleName, PolicyName: &b.PermissionPolicyName})
	if isNotFound(err) {
		return putPolicyAction(c, b, "create"), nil
	}
	if err != nil {
		return Action{}, fmt.Errorf("read inline policy %s of role %s: %w", b.PermissionPolicyName, b.RoleName, err)
	}
	same, err := policy.Equivalent([]byte(aws.ToString(out.PolicyDocument)), []byte(b.PermissionPolicy.Compact()))
	if err != nil {
		return Action{}, fmt.Errorf("read inline policy %s of role %s: %w", b.PermissionPolicyName, b.RoleName, err)
	}
	if same {
		return ok(policyResource(b), "up to date"), nil
	}
	return putPolicyAction(c, b, "update"), nil
}

func policyResource(b policy.Bundle) string {
	return fmt.Sprintf("IAM inline policy %s/%s", b.RoleName, b.PermissionPolicyName)
}

func putPolicyAction(c Clients, b policy.Bundle, verb string) Action {
	doc := b.PermissionPolicy.Compact()
	return Action{Resource: policyResource(b), Verb: verb, Detail: "ECR push to one repository, eks:DescribeCluster",
		apply: func(ctx context.Context) error {
			_, err := c.IAM.PutRolePolicy(ctx, &iam.PutRolePolicyInput{RoleName: &b.RoleName,
				PolicyName: &b.PermissionPolicyName, PolicyDocument: &doc})
			return err
		}}
}
