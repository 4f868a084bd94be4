// Planning of the EKS Pod Identity associations that hand each environment's
// runtime role to its service account, and of the agent add-on they need.
// EKS allows one association per service account, so an existing one is
// updated in place (never deleted and recreated, which would cut the running
// pods' credentials); one left on an old service account is pointed out, not
// removed; and a missing agent is reported with the command that installs
// it, since installing a cluster add-on is the cluster owner's decision.
package bootstrap

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"

	"dagger/ship/internal/policy"
)

// PodIdentityAgentAddon is the EKS add-on that serves Pod Identity
// credentials to pods.
const PodIdentityAgentAddon = "eks-pod-identity-agent"

func planPodIdentities(ctx context.Context, c Clients, in policy.Inputs, b policy.Bundle) ([]Action, error) {
	var actions []Action
	for _, r := range b.Roles {
		if r.PodIdentity == nil {
			continue
		}
		as, err := planPodIdentity(ctx, c, *r.PodIdentity)
		if err != nil {
			return nil, err
		}
		actions = append(actions, as...)
	}
	if len(actions) == 0 {
		return nil, nil
	}
	agent, err := planAgent(ctx, c, in.Cluster)
	if err != nil {
		return nil, err
	}
	return append(actions, agent), nil
}

func associationName(p policy.PodIdentityAssociation) string {
	return fmt.Sprintf("EKS Pod Identity association %s/%s on %s", p.Namespace, p.ServiceAccount, p.Cluster)
}

func planPodIdentity(ctx context.Context, c Clients, want policy.PodIdentityAssociation) ([]Action, error) {
	res := associationName(want)
	current, err := NamespaceAssociations(ctx, c.EKS, want.Cluster, want.Namespace)
	if err != nil {
		return nil, err
	}
	var mine *ekstypes.PodIdentityAssociation
	var actions []Action
	for i := range current {
		a := &current[i]
		switch {
		case aws.ToString(a.ServiceAccount) == want.ServiceAccount:
			mine = a
		case aws.ToString(a.RoleArn) == want.RoleARN:
			actions = append(actions, Action{Resource: fmt.Sprintf("EKS Pod Identity association %s/%s on %s", want.Namespace, aws.ToString(a.ServiceAccount), want.Cluster),
				Verb: "review", Detail: fmt.Sprintf("also gives %s to service account %s, which the overlay no longer runs under; if unused: aws eks delete-pod-identity-association --cluster-name %s --association-id %s",
					want.RoleARN, aws.ToString(a.ServiceAccount), want.Cluster, aws.ToString(a.AssociationId))})
		}
	}
	if mine == nil {
		return append([]Action{createAssociation(c, want, res)}, actions...), nil
	}
	diff := associationDiff(mine, want)
	if diff == nil {
		return append([]Action{ok(res, "role "+want.RoleARN)}, actions...), nil
	}
	return append([]Action{updateAssociation(c, want, res, aws.ToString(mine.AssociationId), diff)}, actions...), nil
}

// associationDiff lists what differs; session tags must stay on: the
// runtime role's trust conditions are on them.
func associationDiff(got *ekstypes.PodIdentityAssociation, want policy.PodIdentityAssociation) []string {
	var out []string
	if r := aws.ToString(got.RoleArn); r != want.RoleARN {
		out = append(out, "- role "+r, "+ role "+want.RoleARN)
	}
	if aws.ToBool(got.DisableSessionTags) {
		out = append(out, "- session tags disabled", "+ session tags enabled (the role's trust policy matches on them)")
	}
	return out
}

func createAssociation(c Clients, want policy.PodIdentityAssociation, res string) Action {
	return Action{Resource: res, Verb: "create", Detail: "role " + want.RoleARN,
		apply: func(ctx context.Context) error {
			_, err := c.EKS.CreatePodIdentityAssociation(ctx, &eks.CreatePodIdentityAssociationInput{ClusterName: &want.Cluster,
				Namespace: &want.Namespace, ServiceAccount: &want.ServiceAccount, RoleArn: &want.RoleARN})
			return err
		}}
}

func updateAssociation(c Clients, want policy.PodIdentityAssociation, res, id string, diff []string) Action {
	return Action{Resource: res, Verb: "update", Detail: "role " + want.RoleARN, Diff: diff,
		apply: func(ctx context.Context) error {
			_, err := c.EKS.UpdatePodIdentityAssociation(ctx, &eks.UpdatePodIdentityAssociationInput{ClusterName: &want.Cluster,
				AssociationId: &id, RoleArn: &want.RoleARN, DisableSessionTags: aws.Bool(false)})
			return err
		}}
}

// NamespaceAssociations returns every Pod Identity association of one
// namespace, described (the list gives no role ARN).
func NamespaceAssociations(ctx context.Context, client *eks.Client, cluster, namespace string) ([]ekstypes.PodIdentityAssociation, error) {
	p := eks.NewListPodIdentityAssociationsPaginator(client, &eks.ListPodIdentityAssociationsInput{ClusterName: &cluster, Namespace: &namespace})
	var out []ekstypes.PodIdentityAssociation
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list EKS Pod Identity associations of namespace %s on %s: %w", namespace, cluster, err)
		}
		for _, s := range page.Associations {
			d, err := client.DescribePodIdentityAssociation(ctx, &eks.DescribePodIdentityAssociationInput{ClusterName: &cluster, AssociationId: s.AssociationId})
			if err != nil {
				return nil, fmt.Errorf("describe EKS Pod Identity association %s on %s: %w", aws.ToString(s.AssociationId), cluster, err)
			}
			out = append(out, *d.Association)
		}
	}
	return out, nil
}

// planAgent reports the agent add-on: without it, pods of an associated
// service account get no credentials at all.
func planAgent(ctx context.Context, c Clients, cluster string) (Action, error) {
	res := "EKS add-on " + PodIdentityAgentAddon + " on " + cluster
	out, err := c.EKS.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: &cluster, AddonName: aws.String(PodIdentityAgentAddon)})
	if isNotFound(err) {
		return Action{Resource: res, Verb: "review", Detail: "not installed, and bootstrap does not install cluster add-ons: until it is, the pods get no AWS credentials; install it: aws eks create-addon --cluster-name " +
			cluster + " --addon-name " + PodIdentityAgentAddon}, nil
	}
	if err != nil {
		return Action{}, fmt.Errorf("read %s: %w", res, err)
	}
	if s := out.Addon.Status; s != ekstypes.AddonStatusActive {
		return Action{Resource: res, Verb: "review", Detail: fmt.Sprintf("status %s, not ACTIVE: see aws eks describe-addon --cluster-name %s --addon-name %s", s, cluster, PodIdentityAgentAddon)}, nil
	}
	return ok(res, "ACTIVE, version "+aws.ToString(out.Addon.AddonVersion)), nil
}
