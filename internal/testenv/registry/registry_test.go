// The registry must really enforce its password over TLS, or tests that push
// with ECR credentials would prove nothing.
package registry

import (
	"net/http"
	"testing"
)

func TestAuthIsEnforced(t *testing.T) {
	r := Start(t, "AWS", "s3cret-password")
	client := &http.Client{Transport: r.Transport()}
	cases := []struct {
		user, pw string
		want     int
	}{{"", "", 401}, {"AWS", "wrong", 401}, {"AWS", "s3cret-password", 200}}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodGet, "https://"+r.Host+"/v2/", nil)
		if tc.user != "" {
			req.SetBasicAuth(tc.user, tc.pw)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET /v2/: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("user %q: status %d, want %d", tc.user, resp.StatusCode, tc.want)
		}
	}
	if _, err := http.Get("https://" + r.Host + "/v2/"); err == nil {
		t.Error("registry certificate trusted without its CA")
	}
}
