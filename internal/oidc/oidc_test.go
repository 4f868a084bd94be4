// Tests token parsing, local time validation, the GitHub fetch (against the
// fake Actions endpoint) and that no rendering of a token reveals it.
package oidc_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"dagger/ship/internal/oidc"
	"dagger/ship/internal/testenv/fakeaws"
	"dagger/ship/internal/testenv/fakeoidc"
)

func setup(t *testing.T) (*fakeoidc.Issuer, *fakeaws.Secrets) {
	idp := fakeoidc.New(t, fakeaws.CanaryRequestToken)
	idp.SetTemplate(fakeoidc.Claims{Subject: "repo:acme/shop:environment:prod", Repository: "acme/shop",
		Ref: "refs/heads/main", Environment: "prod", JobWorkflowRef: "acme/shop/.github/workflows/deploy.yml@refs/heads/main"})
	return idp, fakeaws.Canaries(t).AddSource(idp.Minted)
}

func TestFetchAndParse(t *testing.T) {
	idp, secrets := setup(t)
	gh := oidc.GitHub{RequestURL: idp.TokenURL, RequestToken: fakeaws.CanaryRequestToken, HTTPClient: idp.HTTPClient()}
	tok, err := gh.Fetch(context.Background())
	if err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	c := tok.Claims
	if c.Issuer != idp.URL || c.Subject != "repo:acme/shop:environment:prod" || c.Environment != "prod" ||
		c.Repository != "acme/shop" || c.Ref != "refs/heads/main" || !strings.HasSuffix(c.JobWorkflowRef, "@refs/heads/main") {
		t.Errorf("claims = %+v", c)
	}
	if len(c.Audience) != 1 || c.Audience[0] != oidc.DefaultAudience {
		t.Errorf("audience = %v, want default %s", c.Audience, oidc.DefaultAudience)
	}
	if got := idp.Audiences(); len(got) != 1 || got[0] != oidc.DefaultAudience {
		t.Errorf("endpoint saw audiences %v", got)
	}
	if err := tok.Validate(time.Now(), 0); err != nil {
		t.Errorf("fresh token invalid: %v", err)
	}
	if tok.Raw() == "" || strings.Count(tok.Raw(), ".") != 2 {
		t.Errorf("Raw() is not the JWT")
	}
	secrets.Check("token renderings", tok, fmt.Sprintf("%q", tok), fmt.Sprint([]*oidc.Token{tok}), gh)
	if !strings.Contains(tok.String(), "sub=repo:acme/shop:environment:prod") {
		t.Errorf("String() should describe the claims: %s", tok)
	}
}

func TestFetchRefusals(t *testing.T) {
	idp, secrets := setup(t)
	cases := map[string]struct {
		gh   oidc.GitHub
		want []string
	}{
		"missing request URL": {oidc.GitHub{}, []string{"permissions: id-token: write"}},
		"wrong bearer": {oidc.GitHub{RequestURL: idp.TokenURL, RequestToken: "not-" + fakeaws.CanaryRequestToken, HTTPClient: idp.HTTPClient()},
			[]string{"HTTP 403", "request token was refused"}},
		"no bearer": {oidc.GitHub{RequestURL: idp.TokenURL, HTTPClient: idp.HTTPClient()}, []string{"id-token: write"}},
	}
	for name, tc := range cases {
		_, err := tc.gh.Fetch(context.Background())
		if err == nil {
			t.Fatalf("%s: Fetch succeeded", name)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
		secrets.Check(name, err)
	}
	if _, err := (oidc.GitHub{}).Fetch(context.Background()); !errors.Is(err, oidc.ErrNoIDTokenPermission) {
		t.Errorf("missing URL error is not ErrNoIDTokenPermission: %v", err)
	}
}

func TestAudienceIsRequested(t *testing.T) {
	idp, _ := setup(t)
	tok, err := oidc.GitHub{RequestURL: idp.TokenURL, RequestToken: fakeaws.CanaryRequestToken,
		Audience: "sigstore", HTTPClient: idp.HTTPClient()}.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if tok.Claims.Audience[0] != "sigstore" {
		t.Errorf("audience %v, want sigstore", tok.Claims.Audience)
	}
}

func TestValidate(t *testing.T) {
	idp, secrets := setup(t)
	now := time.Now()
	cases := map[string]struct {
		claims fakeoidc.Claims
		want   string
	}{
		"expired": {fakeoidc.Claims{Subject: "s", Expiry: now.Add(-time.Minute)}, "has expired"},
		"not yet": {fakeoidc.Claims{Subject: "s", NotBefore: now.Add(time.Hour), Expiry: now.Add(2 * time.Hour)}, "not valid yet"},
		"valid":   {fakeoidc.Claims{Subject: "s"}, ""},
		"in skew": {fakeoidc.Claims{Subject: "s", Expiry: now.Add(-10 * time.Second)}, ""},
	}
	for name, tc := range cases {
		tok, err := oidc.Parse(idp.Mint(tc.claims))
		if err != nil {
			t.Fatalf("%s: Parse: %v", name, err)
		}
		err = tok.Validate(now, 30*time.Second)
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var te *oidc.TimeError
		if !errors.As(err, &te) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "fresh token") {
			t.Errorf("%s: error %v, want TimeError containing %q", name, err, tc.want)
		}
		secrets.Check(name, err)
	}
}

func TestParseMalformed(t *testing.T) {
	for _, raw := range []string{"", "abc", "a.b", "a.!!!.c", "a." + "bm90IGpzb24" + ".c"} {
		if _, err := oidc.Parse(raw); !errors.Is(err, oidc.ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", raw, err)
		}
	}
}
