// Canary tests: every fixture carries recognisable secret values (tokens,
// keys, plugin env, auth-provider tokens); none may appear in String, any
// fmt verb, or any error this package returns.
package kubeconfig

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func canaries(t *testing.T) []string {
	t.Helper()
	key := fixture(t, "pki/client.key")
	body := strings.Split(strings.TrimSpace(string(key)), "\n")[1] // a line of the key itself
	return []string{
		"CANARY", "PRIVATE KEY", body,
		base64.StdEncoding.EncodeToString(key)[:40],
		base64.StdEncoding.EncodeToString(fixture(t, "pki/ca.crt"))[:40],
	}
}

func assertNoSecrets(t *testing.T, where, s string) {
	t.Helper()
	for _, c := range canaries(t) {
		if strings.Contains(s, c) {
			t.Errorf("%s leaks secret material %q: %s", where, c, s)
		}
	}
}

func TestStringNeverLeaksSecrets(t *testing.T) {
	files := []string{"kind.yaml", "minikube.yaml", "k3d.yaml", "docker-desktop.yaml", "eks.yaml", "gke.yaml",
		"oidc-provider.yaml", "token.yaml", "tokenfile.yaml", "client-cert-files.yaml", "multi-context.yaml", "insecure.yaml", "proxy.yaml"}
	for _, f := range files {
		c := parseFixture(t, f, "")
		if p, err := c.Portable(readHost); err == nil {
			c = p // inlined data must not leak either
		}
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
			assertNoSecrets(t, f+" "+verb, fmt.Sprintf(verb, c))
		}
		if !strings.Contains(c.String(), c.Server()) {
			t.Errorf("%s: String() %q lacks the server", f, c.String())
		}
	}
	s := parseFixture(t, "token.yaml", "").String()
	for _, want := range []string{`context "prod-deployer"`, "https://api.prod.example.com:6443", "bearer token"} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = %q lacks %q", s, want)
		}
	}
}

func TestErrorsNeverLeakSecrets(t *testing.T) {
	var errs []error
	collect := func(_ any, err error) { errs = append(errs, err) }
	for _, f := range []string{"eks.yaml", "gke.yaml", "oidc-provider.yaml", "insecure.yaml"} {
		collect(parseFixture(t, f, "").Portable(readHost))
	}
	collect(parseFixture(t, "minikube.yaml", "").Portable(func(string) ([]byte, error) { return nil, os.ErrNotExist }))
	notPEM := func(string) ([]byte, error) { return []byte("CANARY-NOT-PEM"), nil }
	collect(parseFixture(t, "client-cert-files.yaml", "").Portable(notPEM))
	broken := []string{
		"users:\n- name: x\n  user:\n    token: CANARY-IN-BROKEN-YAML\n   bad: [",
		"users:\n- name: x\n  user:\n    token: [CANARY-WRONG-TYPE]\n",
		"users:\n- name: x\n  user:\n    client-key-data: CANARY-NOT-BASE64!!\n",
		"clusters:\n- name: c\n  cluster:\n    server: https://user:CANARY-PASSWORD@127.0.0.1:6443\ncontexts:\n- name: c\n  context: {cluster: c, user: u}\n",
		"clusters:\n- name: c\n  cluster:\n    server: ftp://user:CANARY-PASSWORD@host\ncontexts:\n- name: c\n  context: {cluster: c}\n",
	}
	for _, b := range broken {
		collect(Parse([]byte(b), ""))
	}
	withPassword := &Config{cluster: clusterWith("https://user:CANARY-PASSWORD@127.0.0.1:6443")}
	errs = append(errs, RequireReachable(withPassword, false))
	assertNoSecrets(t, "String of URL with password", withPassword.String())
	for _, err := range errs {
		if err == nil {
			t.Error("expected an error, got nil")
			continue
		}
		assertNoSecrets(t, "error", err.Error())
	}
	if !errors.Is(errs[len(errs)-1], ErrLoopback) {
		t.Errorf("URL with credentials not treated as loopback: %v", errs[len(errs)-1])
	}
}
