// GetRollout lists only what the watched workloads need: each extra kind is another round trip per poll.
package kube

import "testing"

func TestGetRolloutListsOnlyWatchedKinds(t *testing.T) {
	for _, c := range []struct {
		name      string
		workloads []Ref
		want      string
	}{
		{"deployment", []Ref{{Group: "apps", Kind: "Deployment", Name: "a"}}, "deployments.apps,replicasets.apps,pods"},
		{"two deployments", []Ref{{Kind: "Deployment", Name: "a"}, {Kind: "Deployment", Name: "b"}}, "deployments.apps,replicasets.apps,pods"},
		{"statefulset and daemonset", []Ref{{Kind: "StatefulSet"}, {Kind: "DaemonSet"}}, "statefulsets.apps,daemonsets.apps,pods"},
		{"nothing to watch", nil, "pods"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := GetRollout("ns", c.workloads)
			if len(s.Args) < 2 || s.Args[0] != "get" || s.Args[1] != c.want {
				t.Fatalf("args = %v, want get %s", s.Args, c.want)
			}
		})
	}
}
