// Checks of the service's own AWS identity: does the environment's runtime
// role exist with the trust bootstrap writes, does an EKS Pod Identity
// association hand it to the service account the rendered overlay's pods run
// under (with session tags on, which the trust matches), and is the EKS Pod
// Identity Agent add-on there to serve the credentials. Each of these fails
// silently at run time (the SDK falls back to the node's role, or finds no
// credentials), so each failure here says which piece is missing and the
// command that adds it. Reading associations and add-ons is an
// administrator's right: with a CI role's credentials these checks are
// skipped, never failed.
package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	ekstypes "github.com/aws/aws-sdk-go-v2/service/eks/types"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"dagger/ship/internal/bootstrap"
	"dagger/ship/internal/policy"
)

// Runtime describes the environment whose runtime identity is checked, as
// its rendered overlay says it.
type Runtime struct {
	Environment string
	Namespace   string
	// ServiceAccount the overlay's Deployment runs under ("" = default).
	ServiceAccount string
	// Defined: the overlay also creates that ServiceAccount.
	Defined bool
	// PolicySource names the policy file, for messages.
	PolicySource string
}

// Check names of the runtime identity, in report order.
const (
	CheckRuntimeRole    = "runtime role"
	CheckPodIdentity    = "EKS Pod Identity association"
	CheckServiceAccount = "pods' service account"
	CheckAgent          = "EKS Pod Identity Agent"
)

type runtimeEnv struct {
	Inputs
	rt        Runtime
	role, arn string
}

func runtimeChecks(ctx context.Context, in Inputs) []Check {
	e := runtimeEnv{Inputs: in, rt: *in.Runtime}
	e.role = in.Policy.RuntimeRoleName(e.rt.Environment)
	e.arn = in.Policy.RoleARN(e.role)
	saCheck := e.checkDefaultAccount()
	skip := func(why string) []Check {
		return []Check{{Name: CheckRuntimeRole, Status: Skip, Detail: why}, {Name: CheckPodIdentity, Status: Skip, Detail: why},
			saCheck, {Name: CheckAgent, Status: Skip, Detail: why}}
	}
	if in.AWS == nil {
		return skip("offline: no AWS credentials given")
	}
	if missing := e.missing(); missing != "" {
		return skip("not configured: set " + missing)
	}
	c := bootstrap.NewClients(*in.AWS)
	out := []Check{e.checkRole(ctx, c)}
	assoc, forRole, ac := e.checkAssociation(ctx, c)
	out = append(out, ac)
	if saCheck.Status == Pass && ac.Status != Skip {
		saCheck = e.checkAccountMatches(assoc, forRole)
	}
	return append(out, saCheck, e.checkAgent(ctx, c))
}

func (e runtimeEnv) missing() string {
	var out []string
	for name, v := range map[string]string{"Account": e.Policy.Account, "Region": e.Policy.Region, "Cluster": e.Policy.Cluster,
		"GitHubRepo": e.Policy.GitHubRepo, "Namespace (or Environment)": e.rt.Namespace} {
		if v == "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func (e runtimeEnv) checkRole(ctx context.Context, c bootstrap.Clients) Check {
	ck := Check{Name: CheckRuntimeRole}
	out, err := c.IAM.GetRole(ctx, &iam.GetRoleInput{RoleName: &e.role})
	switch {
	case isDenied(err):
		return e.denied(ck, "iam:GetRole")
	case bootstrap.ErrorCode(err) == "NoSuchEntity":
		ck.Status, ck.Detail = Fail, fmt.Sprintf("role %s does not exist: the pods of %s have no AWS identity of their own", e.role, e.rt.Environment)
		ck.Fix = fmt.Sprintf("run ship bootstrap: %s gives the role its permissions", e.rt.PolicySource)
		return ck
	case err != nil:
		ck.Status, ck.Detail, ck.Fix = Fail, fmt.Sprintf("read role %s: %v", e.role, err), "check the AWS credentials and region"
		return ck
	}
	if e.rt.ServiceAccount == "" || e.rt.ServiceAccount == policy.DefaultServiceAccount {
		ck.Status, ck.Detail = Pass, fmt.Sprintf("%s exists (its trust is checked once the pods have their own service account)", e.arn)
		return ck
	}
	want := policy.RuntimeTrustPolicy(e.Policy, e.rt.Namespace, e.rt.ServiceAccount)
	same, err := policy.Equivalent([]byte(aws.ToString(out.Role.AssumeRolePolicyDocument)), want.JSON())
	if err != nil || !same {
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("%s does not trust %s for exactly %s/%s on %s: STS refuses the pods' credentials", e.role, policy.PodIdentityService,
			e.rt.Namespace, e.rt.ServiceAccount, e.Policy.Cluster)
		ck.Fix = "run ship bootstrap (its --dry-run shows the trust lines that differ)"
		return ck
	}
	ck.Status, ck.Detail = Pass, fmt.Sprintf("%s trusts %s for %s/%s on %s only", e.role, policy.PodIdentityService, e.rt.Namespace, e.rt.ServiceAccount, e.Policy.Cluster)
	return ck
}

func (e runtimeEnv) denied(ck Check, action string) Check {
	ck.Status = Skip
	ck.Detail = action + " was denied: expected with a CI role, which cannot read IAM roles, Pod Identity associations or add-ons"
	ck.Fix = "run doctor with administrator credentials to check the service's runtime identity"
	return ck
}

// checkAssociation finds the association of the pods' service account and
// those that give this role to any account of the namespace.
func (e runtimeEnv) checkAssociation(ctx context.Context, c bootstrap.Clients) (*ekstypes.PodIdentityAssociation, []ekstypes.PodIdentityAssociation, Check) {
	ck := Check{Name: CheckPodIdentity}
	all, err := bootstrap.NamespaceAssociations(ctx, c.EKS, e.Policy.Cluster, e.rt.Namespace)
	switch {
	case isDenied(err):
		return nil, nil, e.denied(ck, "eks:ListPodIdentityAssociations")
	case err != nil:
		ck.Status, ck.Detail, ck.Fix = Fail, err.Error(), "check the AWS credentials, region and cluster name"
		return nil, nil, ck
	}
	var mine *ekstypes.PodIdentityAssociation
	var forRole []ekstypes.PodIdentityAssociation
	for i, a := range all {
		if aws.ToString(a.RoleArn) == e.arn {
			forRole = append(forRole, a)
		}
		if sa := e.rt.ServiceAccount; sa != "" && aws.ToString(a.ServiceAccount) == sa {
			mine = &all[i]
		}
	}
	create := fmt.Sprintf("run ship bootstrap, or: aws eks create-pod-identity-association --cluster-name %s --namespace %s --service-account %s --role-arn %s",
		e.Policy.Cluster, e.rt.Namespace, orDefault(e.rt.ServiceAccount), e.arn)
	switch {
	case mine != nil && aws.ToString(mine.RoleArn) != e.arn:
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("the association of %s/%s gives role %s, not this environment's runtime role %s", e.rt.Namespace, e.rt.ServiceAccount, aws.ToString(mine.RoleArn), e.arn)
		ck.Fix = fmt.Sprintf("run ship bootstrap, or: aws eks update-pod-identity-association --cluster-name %s --association-id %s --role-arn %s",
			e.Policy.Cluster, aws.ToString(mine.AssociationId), e.arn)
	case mine != nil && aws.ToBool(mine.DisableSessionTags):
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("the association of %s/%s has session tags disabled: the role's trust matches on them, so STS refuses every pod", e.rt.Namespace, e.rt.ServiceAccount)
		ck.Fix = fmt.Sprintf("run ship bootstrap, or: aws eks update-pod-identity-association --cluster-name %s --association-id %s --no-disable-session-tags",
			e.Policy.Cluster, aws.ToString(mine.AssociationId))
	case mine != nil:
		ck.Status, ck.Detail = Pass, fmt.Sprintf("%s/%s on %s gets role %s (association %s)", e.rt.Namespace, e.rt.ServiceAccount, e.Policy.Cluster, e.arn, aws.ToString(mine.AssociationId))
	case len(forRole) > 0:
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("no association for %s/%s; %s is associated with %s instead", e.rt.Namespace, orDefault(e.rt.ServiceAccount), e.arn, accountList(forRole))
		ck.Fix = create
	default:
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("no EKS Pod Identity association gives %s to any service account of %s on %s: the pods get no AWS credentials of their own", e.arn, e.rt.Namespace, e.Policy.Cluster)
		ck.Fix = create
	}
	return mine, forRole, ck
}

// checkDefaultAccount is the offline half: pods under the namespace's
// default account can never get the role.
func (e runtimeEnv) checkDefaultAccount() Check {
	ck := Check{Name: CheckServiceAccount}
	if sa := e.rt.ServiceAccount; sa == "" || sa == policy.DefaultServiceAccount {
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("overlay %s's Deployment runs under the namespace's default service account, which every pod of %s shares: no runtime role is bound to it", e.rt.Environment, e.rt.Namespace)
		ck.Fix = "add a ServiceAccount to the overlay and set spec.template.spec.serviceAccountName to it in the Deployment, then run ship bootstrap"
		return ck
	}
	ck.Status, ck.Detail = Pass, fmt.Sprintf("overlay %s's Deployment runs under %s/%s", e.rt.Environment, e.rt.Namespace, e.rt.ServiceAccount)
	return e.withDefinedNote(ck)
}

// checkAccountMatches: the role is associated, but with another account
// than the one the overlay's pods run under.
func (e runtimeEnv) checkAccountMatches(mine *ekstypes.PodIdentityAssociation, forRole []ekstypes.PodIdentityAssociation) Check {
	ck := e.checkDefaultAccount()
	if mine != nil || len(forRole) == 0 {
		return ck
	}
	ck.Status = Fail
	ck.Detail = fmt.Sprintf("overlay %s's Deployment runs under %s, but %s is associated with %s: its pods get no credentials of their own",
		e.rt.Environment, e.rt.ServiceAccount, e.role, accountList(forRole))
	ck.Fix = fmt.Sprintf("run ship bootstrap to associate %s/%s (then delete the old association), or set spec.template.spec.serviceAccountName back", e.rt.Namespace, e.rt.ServiceAccount)
	return ck
}

func (e runtimeEnv) withDefinedNote(ck Check) Check {
	if !e.rt.Defined {
		ck.Detail += fmt.Sprintf(" (the overlay does not create ServiceAccount %s: it must exist in %s, or the pods are not created)", e.rt.ServiceAccount, e.rt.Namespace)
	}
	return ck
}

func (e runtimeEnv) checkAgent(ctx context.Context, c bootstrap.Clients) Check {
	ck := Check{Name: CheckAgent}
	cluster := e.Policy.Cluster
	out, err := c.EKS.DescribeAddon(ctx, &eks.DescribeAddonInput{ClusterName: &cluster, AddonName: aws.String(bootstrap.PodIdentityAgentAddon)})
	switch {
	case isDenied(err):
		return e.denied(ck, "eks:DescribeAddon")
	case bootstrap.ErrorCode(err) == "ResourceNotFoundException":
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("the %s add-on is not installed on %s: no pod gets Pod Identity credentials, whatever its association", bootstrap.PodIdentityAgentAddon, cluster)
		ck.Fix = fmt.Sprintf("aws eks create-addon --cluster-name %s --addon-name %s (then restart the Deployment so its pods get the credentials)", cluster, bootstrap.PodIdentityAgentAddon)
		return ck
	case err != nil:
		ck.Status, ck.Detail, ck.Fix = Fail, fmt.Sprintf("describe add-on %s: %v", bootstrap.PodIdentityAgentAddon, err), "check the AWS credentials and region"
		return ck
	}
	a := out.Addon
	if a.Status != ekstypes.AddonStatusActive {
		ck.Status = Fail
		ck.Detail = fmt.Sprintf("the %s add-on is %s on %s%s", bootstrap.PodIdentityAgentAddon, a.Status, cluster, healthIssues(a))
		ck.Fix = fmt.Sprintf("see aws eks describe-addon --cluster-name %s --addon-name %s; a DEGRADED agent usually lacks nodes it can run on (it is a DaemonSet)", cluster, bootstrap.PodIdentityAgentAddon)
		return ck
	}
	ck.Status, ck.Detail = Pass, fmt.Sprintf("%s %s is ACTIVE on %s", bootstrap.PodIdentityAgentAddon, aws.ToString(a.AddonVersion), cluster)
	return ck
}

func healthIssues(a *ekstypes.Addon) string {
	if a.Health == nil || len(a.Health.Issues) == 0 {
		return ""
	}
	var out []string
	for _, i := range a.Health.Issues {
		out = append(out, fmt.Sprintf("%s: %s", i.Code, aws.ToString(i.Message)))
	}
	return " (" + strings.Join(out, "; ") + ")"
}

func accountList(as []ekstypes.PodIdentityAssociation) string {
	var out []string
	for _, a := range as {
		out = append(out, "service account "+aws.ToString(a.Namespace)+"/"+aws.ToString(a.ServiceAccount))
	}
	return strings.Join(out, ", ")
}

func orDefault(sa string) string {
	if sa == "" {
		return policy.DefaultServiceAccount
	}
	return sa
}
