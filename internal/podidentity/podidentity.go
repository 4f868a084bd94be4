// Package podidentity finds, in a user's manifests, what the service's own
// AWS identity is made of: the permission policy next to the overlay
// (overlays/<env>/aws-policy.json, a convention so that policies, bootstrap
// and doctor all find it without a flag) and the service account the
// rendered Deployment runs under, which the runtime role's trust and its EKS
// Pod Identity association name. It guards against a role bound to one
// service account while the pods run under another: both are read from the
// same rendering that deploy applies.
package podidentity

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// PolicyFile is the file, in an overlay's directory, holding the permission
// policy of that environment's runtime role.
const PolicyFile = "aws-policy.json"

// PolicyPath is where overlay's runtime policy lives in the manifests.
func PolicyPath(overlay string) string { return path.Join("overlays", overlay, PolicyFile) }

// ReadPolicy returns overlay's runtime policy, or ok=false when the overlay
// has none (the environment's service then gets no AWS role).
func ReadPolicy(fsys fs.FS, overlay string) (doc []byte, ok bool, err error) {
	doc, err = fs.ReadFile(fsys, PolicyPath(overlay))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", PolicyPath(overlay), err)
	}
	return doc, true, nil
}

// Workload is what a rendering says about the pods' identity.
type Workload struct {
	// ServiceAccount the Deployments run under; "" when unset (the
	// namespace's default account).
	ServiceAccount string
	Deployments    []string
	// ServiceAccounts are the ServiceAccount objects the rendering creates.
	ServiceAccounts []string
}

// Defines reports whether the rendering creates the ServiceAccount name.
func (w Workload) Defines(name string) bool {
	for _, s := range w.ServiceAccounts {
		if s == name {
			return true
		}
	}
	return false
}

type object struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Template struct {
			Spec struct {
				ServiceAccountName string `json:"serviceAccountName"`
				ServiceAccount     string `json:"serviceAccount"` // deprecated alias
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// Inspect reads the Deployments' service account from rendered manifests.
// Deployments running under different accounts are refused: one runtime
// role is bound to one account.
func Inspect(rendered []byte) (Workload, error) {
	var w Workload
	accounts := map[string][]string{}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(rendered)))
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Workload{}, fmt.Errorf("read rendered manifests: %w", err)
		}
		var o object
		if err := yaml.Unmarshal(doc, &o); err != nil {
			return Workload{}, fmt.Errorf("read rendered manifests: %w", err)
		}
		switch o.Kind {
		case "ServiceAccount":
			w.ServiceAccounts = append(w.ServiceAccounts, o.Metadata.Name)
		case "Deployment":
			sa := o.Spec.Template.Spec.ServiceAccountName
			if sa == "" {
				sa = o.Spec.Template.Spec.ServiceAccount
			}
			w.Deployments = append(w.Deployments, o.Metadata.Name)
			accounts[sa] = append(accounts[sa], o.Metadata.Name)
		}
	}
	if len(accounts) > 1 {
		return Workload{}, fmt.Errorf("the Deployments run under different service accounts (%s): one runtime role is bound to one service account; give them the same spec.template.spec.serviceAccountName", describe(accounts))
	}
	for sa := range accounts {
		w.ServiceAccount = sa
	}
	return w, nil
}

func describe(accounts map[string][]string) string {
	var parts []string
	for sa, deps := range accounts {
		if sa == "" {
			sa = "default"
		}
		parts = append(parts, fmt.Sprintf("%s: %s", sa, strings.Join(deps, ", ")))
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}
