// Fuzz target for the OIDC token parser: a token comes from the environment, a file or a secret, and may be
// anything. Parsing must not panic, and neither an error nor any rendering of a parsed token may show the
// raw token. `go test` runs the seeds only.
package oidc

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"
)

func FuzzParse(f *testing.F) {
	b64 := base64.RawURLEncoding.EncodeToString
	for _, payload := range []string{
		`{"iss":"https://token.actions.githubusercontent.com","sub":"repo:acme/shop:environment:prod","aud":"sts.amazonaws.com","exp":1893456000,"repository_id":"123456789","job_workflow_ref":"acme/shop/.github/workflows/deploy.yml@refs/heads/main"}`,
		`{"aud":["a","b"],"exp":1.5e9,"nbf":"soon","repository_id":123456789}`,
		`{"repository_id":{"x":1},"aud":7}`, `[]`, `null`, `"x"`, `{`,
	} {
		f.Add(b64([]byte(`{"alg":"RS256","kid":"k"}`)) + "." + b64([]byte(payload)) + ".c2ln")
	}
	for _, raw := range []string{"", "a.b.c", "a.b", "..", "x.eyJ9.y", " \n a.e30.b \n", "a.e30=.b"} {
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := Parse(raw)
		if err != nil {
			if strings.Contains(raw, ".") && len(raw) > 8 && strings.Contains(err.Error(), strings.TrimSpace(raw)) {
				t.Fatalf("the error shows the token: %v", err)
			}
			return
		}
		if tok.Raw() != strings.TrimSpace(raw) {
			t.Fatalf("Raw() = %q, want the trimmed input", tok.Raw())
		}
		shown := fmt.Sprintf("%v %+v %#v %s %q %v", tok, tok, tok, tok, tok, []*Token{tok})
		if len(tok.Raw()) > 8 && strings.Contains(shown, tok.Raw()) {
			t.Fatalf("a rendering shows the raw token: %s", shown)
		}
		_ = tok.Validate(time.Now(), time.Minute)
	})
}
