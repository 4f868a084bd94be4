// The kubectl steps, defined once. Every command the deployer sends to a cluster is built here, so the
// module's container runner and the tests execute the same argv. Manifests always travel on stdin
// (`-f -`), never as a path, and outputs that could carry Secret data are limited to names/versions.
package kube

import (
	"fmt"
	"strconv"
	"strings"
)

// Labels the renderer stamps on every object; prune only ever touches objects carrying both.
const (
	ManagedByLabel = "app.kubernetes.io/managed-by"
	ManagedByValue = "ship"
	OverlayLabel   = "ship/overlay"
	FieldManager   = "ship"
)

// PrunableKinds are the namespaced kinds a deploy may ship and therefore may prune. Roles and
// RoleBindings are deliberately absent: the "edit" ClusterRole the CI identity holds can neither list nor
// write RBAC objects, so listing them would make every least-privilege deploy fail (bootstrap owns RBAC).
var PrunableKinds = []string{
	"deployments.apps", "statefulsets.apps", "daemonsets.apps", "services", "configmaps", "secrets",
	"serviceaccounts", "poddisruptionbudgets.policy", "horizontalpodautoscalers.autoscaling",
	"ingresses.networking.k8s.io", "networkpolicies.networking.k8s.io", "cronjobs.batch", "jobs.batch",
}

// OwnedSelector selects the objects a given overlay deployed.
func OwnedSelector(overlay string) string {
	return fmt.Sprintf("%s=%s,%s=%s", ManagedByLabel, ManagedByValue, OverlayLabel, overlay)
}

// identityColumns prints kind, apiVersion, name and resourceVersion only: never data.
const identityColumns = "custom-columns=KIND:.kind,API:.apiVersion,NAME:.metadata.name,RV:.metadata.resourceVersion"

// ServerSideDryRun asks the apiserver to validate (admission included) the whole set without persisting.
func ServerSideDryRun(namespace string, manifests []byte) Step {
	return Step{Name: "dry-run", Stdin: manifests, Args: []string{"apply", "--server-side", "--dry-run=server",
		"--field-manager=" + FieldManager, "--force-conflicts", "-n", namespace, "-f", "-", "-o", "name"}}
}

// Apply server-side applies the set. --force-conflicts: a previous `rollout undo` took ownership of the
// pod template, and must not block the next deploy. Output is one identity line per object.
func Apply(namespace string, manifests []byte) Step {
	return Step{Name: "apply", Stdin: manifests, Args: []string{"apply", "--server-side",
		"--field-manager=" + FieldManager, "--force-conflicts", "-n", namespace, "-f", "-",
		"-o", "go-template=" + identityTemplate}}
}

// identityTemplate prints identityColumns' fields for one object or for each item of a List (kubectl
// apply prints a List when it applied more than one object).
const identityLine = `{{.kind}}{{"\t"}}{{.apiVersion}}{{"\t"}}{{.metadata.name}}{{"\t"}}{{.metadata.resourceVersion}}{{"\n"}}`
const identityTemplate = `{{if .items}}{{range .items}}` + identityLine + `{{end}}{{else}}` + identityLine + `{{end}}`

// CurrentVersions reads the identity and resourceVersion of whichever rendered objects already exist.
func CurrentVersions(namespace string, manifests []byte) Step {
	return Step{Name: "read current objects", Stdin: manifests, Args: []string{"get", "-n", namespace, "-f", "-",
		"--ignore-not-found", "--no-headers", "-o", identityColumns}}
}

// ListOwned lists, by name only, the objects of the prunable kinds this overlay deployed.
func ListOwned(namespace, overlay string) Step {
	return Step{Name: "list owned objects", Args: []string{"get", joinKinds(), "-n", namespace,
		"-l", OwnedSelector(overlay), "-o", "name"}}
}

// Delete removes the named objects (as printed by ListOwned).
func Delete(namespace string, names []string) Step {
	args := append([]string{"delete", "-n", namespace, "--ignore-not-found", "--wait=false"}, names...)
	return Step{Name: "prune", Args: args}
}

// GetRollout fetches, in one call, everything a rollout poll needs: the kinds of the given workloads, the
// ReplicaSets when a Deployment is among them, pods, and (withServices) Services, whose LoadBalancer addresses
// the report shows. Only what is needed is listed: every list is a round trip inside the poll, and the poll's
// length is how late a finished rollout is noticed.
func GetRollout(namespace string, workloads []Ref, withServices bool) Step {
	var resources []string
	seen := map[string]bool{}
	add := func(r string) {
		if !seen[r] {
			seen[r] = true
			resources = append(resources, r)
		}
	}
	for _, w := range workloads {
		switch w.Kind {
		case "Deployment":
			add("deployments.apps")
			add("replicasets.apps")
		case "StatefulSet":
			add("statefulsets.apps")
		case "DaemonSet":
			add("daemonsets.apps")
		}
	}
	add("pods")
	if withServices {
		add("services")
	}
	return Step{Name: "poll rollout", Args: []string{"get", strings.Join(resources, ","), "-n", namespace, "-o", "json"}}
}

// GetWorkloads fetches the workloads matching a label selector ("" = all in the namespace).
func GetWorkloads(namespace, selector string) Step {
	args := []string{"get", "deployments.apps,statefulsets.apps,daemonsets.apps", "-n", namespace, "-o", "json"}
	if selector != "" {
		args = append(args, "-l", selector)
	}
	return Step{Name: "get workloads", Args: args}
}

// GetReplicaSets fetches the namespace's ReplicaSets (revision history of Deployments).
func GetReplicaSets(namespace string) Step {
	return Step{Name: "get replicasets", Args: []string{"get", "replicasets.apps", "-n", namespace, "-o", "json"}}
}

// RolloutUndo rolls a workload back to a given revision (0 = the previous one).
func RolloutUndo(namespace string, workload Ref, toRevision int64) Step {
	args := []string{"rollout", "undo", workload.String(), "-n", namespace}
	if toRevision > 0 {
		args = append(args, "--to-revision="+strconv.FormatInt(toRevision, 10))
	}
	return Step{Name: "rollout undo " + workload.String(), Args: args}
}

// Diff is a server-side diff of the set against the cluster; exit code 1 means "differences found".
func Diff(namespace string, manifests []byte) Step {
	return Step{Name: "diff", Stdin: manifests, Args: []string{"diff", "--server-side",
		"--field-manager=" + FieldManager, "--force-conflicts", "-n", namespace, "-f", "-"}}
}

// WarningEvents lists the namespace's Warning events.
func WarningEvents(namespace string) Step {
	return Step{Name: "get warning events", Args: []string{"get", "events", "-n", namespace,
		"--field-selector", "type=Warning", "-o", "json"}}
}

// Logs fetches the last lines of a container's log; previous=true for the crashed instance.
func Logs(namespace, pod, container string, tail int, previous bool) Step {
	// A bounded request: a node that serves no logs (kwok, a dead kubelet) must not stall the diagnosis.
	args := []string{"logs", "-n", namespace, pod, "-c", container, "--tail=" + strconv.Itoa(tail), "--request-timeout=5s"}
	if previous {
		args = append(args, "--previous")
	}
	return Step{Name: "logs " + pod, Args: args}
}

// Create creates an object from stdin and fails with AlreadyExists if it is there.
func Create(namespace string, doc []byte) Step {
	return Step{Name: "create", Stdin: doc, Args: []string{"create", "-n", namespace, "-f", "-", "-o", "json"}}
}

// Replace replaces an object from stdin; a resourceVersion in the document makes it optimistic.
func Replace(namespace string, doc []byte) Step {
	return Step{Name: "replace", Stdin: doc, Args: []string{"replace", "-n", namespace, "-f", "-", "-o", "json"}}
}

// DeleteConfigMapIfUnchanged deletes a ConfigMap only while it still has the given UID and resourceVersion
// (the apiserver checks the preconditions atomically; kubectl delete has no flag for them, hence --raw).
func DeleteConfigMapIfUnchanged(namespace, name, uid, resourceVersion string) Step {
	body := fmt.Sprintf(`{"kind":"DeleteOptions","apiVersion":"v1","preconditions":{"uid":%q,"resourceVersion":%q}}`, uid, resourceVersion)
	return Step{Name: "delete configmap " + name, Stdin: []byte(body), Args: []string{"delete", "--raw",
		"/api/v1/namespaces/" + namespace + "/configmaps/" + name, "-f", "-"}}
}

// GetConfigMap fetches one ConfigMap as JSON.
func GetConfigMap(namespace, name string) Step {
	return Step{Name: "get configmap " + name, Args: []string{"get", "configmap", name, "-n", namespace, "-o", "json"}}
}

func joinKinds() string {
	s := ""
	for i, k := range PrunableKinds {
		if i > 0 {
			s += ","
		}
		s += k
	}
	return s
}
