// Planning of the ECR repository and the EKS access entries. An access entry
// is where over-privilege usually hides (cluster-admin on the whole cluster),
// so each role's association is checked for the exact policy and namespace
// scope, the dry run names the namespaces added and removed, and any broader
// association already on a role is reported.
package bootstrap

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	ecrtypes "github.com/aws/aws-sdk-go-v2/service/ecr/types"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"dagger/ship/internal/policy"
)

// ClusterNotReadyError says the cluster cannot take access entries yet.
type ClusterNotReadyError struct {
	Cluster, Reason, Fix string
}

func (e *ClusterNotReadyError) Error() string {
	return fmt.Sprintf("EKS cluster %q: %s: %s", e.Cluster, e.Reason, e.Fix)
}

func planRepository(ctx context.Context, c Clients, in policy.Inputs, _ policy.Bundle) ([]Action, error) {
	res := "ECR repository " + in.ECRRepository
	out, err := c.ECR.DescribeRepositories(ctx, &ecr.DescribeRepositoriesInput{RepositoryNames: []string{in.ECRRepository}})
	if isNotFound(err) {
		return []Action{{Resource: res, Verb: "create", Detail: "immutable tags, scan on push, AES256",
			apply: func(ctx context.Context) error {
				_, err := c.ECR.CreateRepository(ctx, &ecr.CreateRepositoryInput{RepositoryName: &in.ECRRepository,
					ImageTagMutability:         ecrtypes.ImageTagMutabilityImmutable,
					ImageScanningConfiguration: &ecrtypes.ImageScanningConfiguration{ScanOnPush: true},
					EncryptionConfiguration:    &ecrtypes.EncryptionConfiguration{EncryptionType: ecrtypes.EncryptionTypeAes256}})
				return err
			}}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", res, err)
	}
	var notes []string
	for _, r := range out.Repositories {
		if r.ImageTagMutability == ecrtypes.ImageTagMutabilityMutable {
			notes = append(notes, "tags are MUTABLE (not changed)")
		}
		if r.ImageScanningConfiguration == nil || !r.ImageScanningConfiguration.ScanOnPush {
			notes = append(notes, "scan on push is off (not changed)")
		}
	}
	return []Action{ok(res, strings.Join(append([]string{"exists"}, notes...), "; "))}, nil
}

// planAccessEntries checks the cluster once, then each role that reaches it.
func planAccessEntries(ctx context.Context, c Clients, in policy.Inputs, b policy.Bundle) ([]Action, error) {
	if err := checkCluster(ctx, c, in.Cluster); err != nil {
		return nil, err
	}
	var actions []Action
	for _, r := range b.Roles {
		if r.AccessEntry == nil {
			continue
		}
		as, err := planAccessEntry(ctx, c, r.Name, *r.AccessEntry)
		if err != nil {
			return nil, err
		}
		actions = append(actions, as...)
	}
	return actions, nil
}

func planAccessEntry(ctx context.Context, c Clients, role string, ae policy.AccessEntry) ([]Action, error) {
	res := fmt.Sprintf("EKS access entry %s on %s", role, ae.Cluster)
	_, err := c.EKS.DescribeAccessEntry(ctx, &eks.DescribeAccessEntryInput{ClusterName: &ae.Cluster, PrincipalArn: &ae.PrincipalARN})
	if isNotFound(err) {
		create := Action{Resource: res, Verb: "create", Detail: "type " + ae.Type,
			apply: func(ctx context.Context) error {
				_, err := c.EKS.CreateAccessEntry(ctx, &eks.CreateAccessEntryInput{ClusterName: &ae.Cluster,
					PrincipalArn: &ae.PrincipalARN, Type: &ae.Type})
				return err
			}}
		return []Action{create, associateAction(c, role, ae, "associate", nil)}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", res, err)
	}
	assoc, err := planAssociation(ctx, c, role, ae)
	if err != nil {
		return nil, err
	}
	return append([]Action{ok(res, "exists")}, assoc...), nil
}

func checkCluster(ctx context.Context, c Clients, name string) error {
	out, err := c.EKS.DescribeCluster(ctx, &eks.DescribeClusterInput{Name: &name})
	if isNotFound(err) {
		return &ClusterNotReadyError{Cluster: name, Reason: "not found in this account and region",
			Fix: "create the cluster first, or fix Cluster/Region"}
	}
	if err != nil {
		return fmt.Errorf("describe EKS cluster %q: %w", name, err)
	}
	if ac := out.Cluster.AccessConfig; ac != nil && ac.AuthenticationMode == ekstypes.AuthenticationModeConfigMap {
		return &ClusterNotReadyError{Cluster: name, Reason: "authentication mode is CONFIG_MAP, which has no access entries",
			Fix: "run: aws eks update-cluster-config --name " + name + " --access-config authenticationMode=API_AND_CONFIG_MAP"}
	}
	return nil
}

// planAssociation also flags other policies on the role (e.g. a leftover
// cluster-admin) for review: removing access is left to a human.
func planAssociation(ctx context.Context, c Clients, role string, ae policy.AccessEntry) ([]Action, error) {
	current, err := ListAssociations(ctx, c.EKS, ae.Cluster, ae.PrincipalARN)
	if err != nil {
		return nil, err
	}
	var actions []Action
	var have *ekstypes.AccessScope
	found := false
	for _, p := range current {
		arn := aws.ToString(p.PolicyArn)
		if arn == ae.PolicyARN {
			found, have = true, p.AccessScope
			continue
		}
		actions = append(actions, Action{Resource: "EKS access policy " + shortName(arn) + " of " + role, Verb: "review",
			Detail: fmt.Sprintf("also associated with %s; if unintended: aws eks disassociate-access-policy --cluster-name %s --principal-arn %s --policy-arn %s",
				role, ae.Cluster, ae.PrincipalARN, arn)})
	}
	diff := scopeDiff(have, ae.Scope)
	if found && diff == nil {
		return append([]Action{ok(associationResource(role, ae), "namespaces "+strings.Join(ae.Scope.Namespaces, ","))}, actions...), nil
	}
	verb := "associate"
	if found {
		verb = "update"
	}
	return append([]Action{associateAction(c, role, ae, verb, diff)}, actions...), nil
}

// scopeDiff lists the namespaces to add and remove; nil when got matches.
func scopeDiff(got *ekstypes.AccessScope, want policy.AccessScope) []string {
	if got == nil {
		return nil
	}
	var out []string
	if string(got.Type) != want.Type {
		out = append(out, fmt.Sprintf("- scope %s", got.Type), fmt.Sprintf("+ scope %s", want.Type))
	}
	for _, ns := range want.Namespaces {
		if !contains(got.Namespaces, ns) {
			out = append(out, "+ namespace "+ns)
		}
	}
	for _, ns := range sortedNamespaces(got.Namespaces) {
		if !contains(want.Namespaces, ns) {
			out = append(out, "- namespace "+ns)
		}
	}
	return out
}

func sortedNamespaces(ns []string) []string {
	out := append([]string(nil), ns...)
	sort.Strings(out)
	return out
}

func associationResource(role string, ae policy.AccessEntry) string {
	return "EKS access policy " + shortName(ae.PolicyARN) + " of " + role
}

func shortName(arn string) string { return arn[strings.LastIndex(arn, "/")+1:] }

// ListAssociations returns every access policy associated with principal.
func ListAssociations(ctx context.Context, client *eks.Client, cluster, principal string) ([]ekstypes.AssociatedAccessPolicy, error) {
	var out []ekstypes.AssociatedAccessPolicy
	p := eks.NewListAssociatedAccessPoliciesPaginator(client, &eks.ListAssociatedAccessPoliciesInput{ClusterName: &cluster, PrincipalArn: &principal})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list access policies of %s on %s: %w", principal, cluster, err)
		}
		out = append(out, page.AssociatedAccessPolicies...)
	}
	return out, nil
}

func associateAction(c Clients, role string, ae policy.AccessEntry, verb string, diff []string) Action {
	return Action{Resource: associationResource(role, ae), Verb: verb, Detail: "namespaces " + strings.Join(ae.Scope.Namespaces, ","), Diff: diff,
		apply: func(ctx context.Context) error {
			_, err := c.EKS.AssociateAccessPolicy(ctx, &eks.AssociateAccessPolicyInput{ClusterName: &ae.Cluster,
				PrincipalArn: &ae.PrincipalARN, PolicyArn: &ae.PolicyARN,
				AccessScope: &ekstypes.AccessScope{Type: ekstypes.AccessScopeType(ae.Scope.Type), Namespaces: ae.Scope.Namespaces}})
			return err
		}}
}
