// Namespace manifests for the app's namespaces. The CI role's access entry is
// scoped to these namespaces and cannot create them, so an administrator must
// apply them once; bootstrap only renders them (the Dagger function applies
// them with kubectl and the admin kubeconfig), keeping this package free of
// any Kubernetes client.
package bootstrap

import (
	"fmt"
	"strings"
)

// ManagedByLabel marks namespaces created for ship.
const ManagedByLabel = "app.kubernetes.io/managed-by"

// NamespaceManifests renders one YAML document per namespace, in order.
func NamespaceManifests(namespaces []string) []byte {
	var sb strings.Builder
	for i, ns := range namespaces {
		if i > 0 {
			sb.WriteString("---\n")
		}
		fmt.Fprintf(&sb, "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n  labels:\n    %s: ship-bootstrap\n", ns, ManagedByLabel)
	}
	return []byte(sb.String())
}
