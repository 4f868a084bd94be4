// Environments and the role names derived from them. Each GitHub environment
// gets its own deploy role scoped to its own namespace, so the mapping is
// validated as a whole: a duplicate environment, two environments sharing a
// namespace, or an environment named like the build/plan role would silently
// merge two identities into one.
package policy

import (
	"fmt"
	"regexp"
	"strings"
)

// Environment is one GitHub environment and the namespace its role may edit.
type Environment struct {
	Name      string
	Namespace string
	// Runtime, when set, gives the environment's pods their own AWS role.
	Runtime *RuntimeAccess
}

// Role name suffixes that are not environments.
const (
	BuildSuffix = "build"
	PlanSuffix  = "plan"
)

// envNameRe: what a GitHub environment name may hold here. It is also part of
// an IAM role name and the overlay directory, so it is narrower than GitHub.
var envNameRe = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,255}$`)

// ParseEnvironments reads "env=namespace" pairs, keeping their order.
func ParseEnvironments(pairs []string) ([]Environment, error) {
	var out []Environment
	for _, p := range pairs {
		name, ns, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || name == "" || ns == "" {
			return nil, &InputError{Field: "Environments", Value: p,
				Fix: "write each as environment=namespace, e.g. prod=fastapi-prod"}
		}
		out = append(out, Environment{Name: strings.TrimSpace(name), Namespace: strings.TrimSpace(ns)})
	}
	return out, validateEnvironments(out)
}

func validateEnvironments(envs []Environment) error {
	if len(envs) == 0 {
		return &InputError{Field: "Environments", Fix: "map at least one GitHub environment to its namespace, e.g. staging=fastapi-staging"}
	}
	names, namespaces := map[string]bool{}, map[string]string{}
	for _, e := range envs {
		if err := validateEnvironment(e); err != nil {
			return err
		}
		key := strings.ToLower(e.Name) // GitHub environment names are case-insensitive
		if names[key] {
			return &InputError{Field: "Environments", Value: e.Name, Fix: "list each environment once"}
		}
		if other, ok := namespaces[e.Namespace]; ok {
			return &InputError{Field: "Environments", Value: e.Name + "=" + e.Namespace,
				Fix: fmt.Sprintf("give each environment its own namespace: %s already uses %s, and two roles editing one namespace could deploy over each other", other, e.Namespace)}
		}
		names[key], namespaces[e.Namespace] = true, e.Name
	}
	return nil
}

func validateEnvironment(e Environment) error {
	switch lower := strings.ToLower(e.Name); {
	case !envNameRe.MatchString(e.Name):
		return &InputError{Field: "Environments", Value: e.Name,
			Fix: "use a GitHub environment name of letters, digits, '-', '_' or '.' (it also names the overlay and the role ship-<repo>-<environment>)"}
	case lower == BuildSuffix || lower == PlanSuffix:
		return &InputError{Field: "Environments", Value: e.Name,
			Fix: fmt.Sprintf("rename the environment: its role would be ship-<repo>-%s, the name of the %s role", lower, lower)}
	case !namespaceRe.MatchString(e.Namespace):
		return &InputError{Field: "Environments", Value: e.Name + "=" + e.Namespace,
			Fix: "use a DNS-1123 label as the namespace (lowercase letters, digits, -, at most 63)"}
	}
	return validateRuntime(e)
}

// Namespaces lists the environments' namespaces, in order.
func (in Inputs) Namespaces() []string {
	out := make([]string, len(in.Environments))
	for i, e := range in.Environments {
		out[i] = e.Namespace
	}
	return out
}

// roleName is ship-<repo>-<suffix>.
func (in Inputs) roleName(suffix string) string {
	return "ship-" + in.GitHubRepo + "-" + suffix
}

// BuildRoleName is the role that pushes images.
func (in Inputs) BuildRoleName() string { return in.roleName(BuildSuffix) }

// PlanRoleName is the opt-in read-only role for pull requests.
func (in Inputs) PlanRoleName() string { return in.roleName(PlanSuffix) }

// EnvironmentRoleName is the role that deploys to env.
func (in Inputs) EnvironmentRoleName(env string) string { return in.roleName(env) }

// LegacyRoleName is the single role earlier versions generated for
// everything; bootstrap points it out so it is not left trusting all jobs.
func (in Inputs) LegacyRoleName() string { return "ship-deploy-" + in.GitHubRepo }

// RoleNames lists every role the inputs generate, in bundle order.
func (in Inputs) RoleNames() []string {
	names := []string{in.BuildRoleName()}
	for _, e := range in.Environments {
		names = append(names, in.EnvironmentRoleName(e.Name))
	}
	if in.PlanRole {
		names = append(names, in.PlanRoleName())
	}
	for _, e := range in.Environments {
		if e.Runtime != nil {
			names = append(names, in.RuntimeRoleName(e.Name))
		}
	}
	return names
}
