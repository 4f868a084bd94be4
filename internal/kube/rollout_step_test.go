// GetRollout lists only what the watched workloads (and the report's addresses) need: each extra kind is another round trip per poll.
package kube

import "testing"

func TestGetRolloutListsOnlyWatchedKinds(t *testing.T) {
	for _, c := range []struct {
		name      string
		workloads []Ref
		services  bool
		want      string
	}{
		{"deployment", []Ref{{Group: "apps", Kind: "Deployment", Name: "a"}}, false, "deployments.apps,replicasets.apps,pods"},
		{"two deployments", []Ref{{Kind: "Deployment", Name: "a"}, {Kind: "Deployment", Name: "b"}}, false, "deployments.apps,replicasets.apps,pods"},
		{"statefulset and daemonset", []Ref{{Kind: "StatefulSet"}, {Kind: "DaemonSet"}}, false, "statefulsets.apps,daemonsets.apps,pods"},
		{"with load balancer services", []Ref{{Kind: "Deployment", Name: "a"}}, true, "deployments.apps,replicasets.apps,pods,services"},
		{"nothing to watch", nil, false, "pods"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := GetRollout("ns", c.workloads, c.services)
			if len(s.Args) < 2 || s.Args[0] != "get" || s.Args[1] != c.want {
				t.Fatalf("args = %v, want get %s", s.Args, c.want)
			}
		})
	}
}
