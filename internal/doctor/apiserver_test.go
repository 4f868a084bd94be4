// The endpoint check against a real kube-apiserver (the shared test
// cluster), reached with the CA the fake EKS hands out, as in production.
package doctor

import (
	"context"
	"strings"
	"testing"

	"dagger/ship/internal/testenv/fakeoidc"
	"dagger/ship/internal/testenv/kubecluster"
)

func TestMain(m *testing.M) { kubecluster.Main(m) }

func TestEndpointOfRealAPIServer(t *testing.T) {
	kc := kubecluster.Shared(t)
	e := newOnline(t, fakeoidc.New(t, "request-token"), kc.Server, kc.CAData)
	r := Run(context.Background(), e.token("repo:acme/shop:environment:prod"))
	ck := r.Check(CheckEndpoint)
	if ck.Status != Pass || !strings.Contains(ck.Detail, kc.Server) {
		t.Fatalf("endpoint check against the real apiserver:\n%s", r)
	}
	if !r.OK() {
		t.Errorf("report:\n%s", r)
	}
}
