// Self-contained kubeconfigs (certificates inline): a kubeconfig that points at files breaks as soon as
// it is copied into another container or handed to a user as a secret, and these are handed around.
package controlplane

import (
	"encoding/base64"
	"fmt"
)

// renderKubeconfig renders a kubeconfig for one user whose cluster and context are both named name.
func renderKubeconfig(name, server string, caPEM []byte, user string, certPEM, keyPEM []byte) []byte {
	b64 := base64.StdEncoding.EncodeToString
	return fmt.Appendf(nil, `apiVersion: v1
kind: Config
clusters:
- name: %[1]q
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]q
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
contexts:
- name: %[1]q
  context:
    cluster: %[1]q
    user: %[4]q
    namespace: default
current-context: %[1]q
`, name, server, b64(caPEM), user, b64(certPEM), b64(keyPEM))
}
