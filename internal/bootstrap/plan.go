// Package bootstrap creates or updates, idempotently, what the CI roles need
// in AWS: the GitHub OIDC provider, the build role and one deploy role per
// environment (plus the opt-in plan role) with their trust and inline
// policies, the KMS key that signs attestations (signingkey.go), the ECR repository and one EKS access entry per role that reaches
// the cluster; and, for environments whose service has its own AWS access,
// the runtime role and its EKS Pod Identity association. Plan only reads, so a dry run sends no mutating request and a
// failed read changes nothing; documents are compared semantically (IAM
// returns them URL-encoded and reordered) so a second run really is a no-op,
// and a dry run shows what differs line by line.
package bootstrap

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/iam"

	"dagger/ship/internal/policy"
)

// Action is one change bootstrap would make (or "ok" when none is needed).
type Action struct {
	Resource string // e.g. "IAM role ship-shop-prod"
	Verb     string // create, update, add-client-id, associate; ok and review change nothing
	Detail   string
	// Diff shows what an update changes (policy lines, namespaces), one
	// line each, for the dry run.
	Diff  []string
	apply func(ctx context.Context) error
}

// Changes reports whether the action mutates anything.
func (a Action) Changes() bool { return a.apply != nil }

func (a Action) String() string {
	if a.Detail == "" {
		return a.Verb + " " + a.Resource
	}
	return fmt.Sprintf("%s %s (%s)", a.Verb, a.Resource, a.Detail)
}

func ok(resource, detail string) Action {
	return Action{Resource: resource, Verb: "ok", Detail: detail}
}

// Plan reads the current state and returns every action, in apply order.
func Plan(ctx context.Context, c Clients, in policy.Inputs) ([]Action, error) {
	b, err := policy.Generate(in)
	if err != nil {
		return nil, err
	}
	in = in.WithDefaults()
	steps := []func(context.Context, Clients, policy.Inputs, policy.Bundle) ([]Action, error){
		planProvider, planRoles, planSigningKey, planRepository, planAccessEntries, planPodIdentities, planLegacyRole,
	}
	var actions []Action
	for _, step := range steps {
		as, err := step(ctx, c, in, b)
		if err != nil {
			return nil, err
		}
		actions = append(actions, as...)
	}
	return actions, nil
}

func planProvider(ctx context.Context, c Clients, in policy.Inputs, b policy.Bundle) ([]Action, error) {
	arn := in.ProviderARN()
	res := "IAM OIDC provider " + policy.GitHubIssuerHost
	out, err := c.IAM.GetOpenIDConnectProvider(ctx, &iam.GetOpenIDConnectProviderInput{OpenIDConnectProviderArn: &arn})
	if isNotFound(err) {
		return []Action{{Resource: res, Verb: "create", Detail: "client ID " + policy.STSAudience,
			apply: func(ctx context.Context) error {
				_, err := c.IAM.CreateOpenIDConnectProvider(ctx, &iam.CreateOpenIDConnectProviderInput{
					Url: aws.String(b.Provider.URL), ClientIDList: b.Provider.ClientIDs, ThumbprintList: b.Provider.Thumbprints})
				return err
			}}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", res, err)
	}
	var actions []Action
	for _, id := range b.Provider.ClientIDs {
		if contains(out.ClientIDList, id) {
			continue
		}
		id := id
		actions = append(actions, Action{Resource: res, Verb: "add-client-id", Detail: id,
			apply: func(ctx context.Context) error {
				_, err := c.IAM.AddClientIDToOpenIDConnectProvider(ctx, &iam.AddClientIDToOpenIDConnectProviderInput{
					OpenIDConnectProviderArn: &arn, ClientID: &id})
				return err
			}})
	}
	if len(actions) == 0 {
		actions = append(actions, ok(res, "client ID present"))
	}
	return actions, nil
}

func contains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}
