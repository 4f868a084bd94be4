// The fake Actions token endpoint must refuse a wrong bearer and honour the
// requested audience, and publish keys that verify its tokens.
package fakeoidc

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
)

func get(t *testing.T, i *Issuer, url, bearer string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := i.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func TestActionsEndpoint(t *testing.T) {
	i := New(t, "request-token")
	i.SetTemplate(Claims{Subject: "repo:acme/shop:ref:refs/heads/main", Repository: "acme/shop"})
	if code, _ := get(t, i, i.TokenURL+"&audience=sts.amazonaws.com", ""); code != 401 {
		t.Errorf("no bearer: %d", code)
	}
	if code, _ := get(t, i, i.TokenURL+"&audience=sts.amazonaws.com", "other"); code != 403 {
		t.Errorf("wrong bearer: %d", code)
	}
	code, body := get(t, i, i.TokenURL+"&audience=sts.amazonaws.com", "request-token")
	if code != 200 {
		t.Fatalf("good request: %d", code)
	}
	claims := verify(t, i, body["value"].(string))
	if claims["aud"] != "sts.amazonaws.com" || claims["sub"] != "repo:acme/shop:ref:refs/heads/main" || claims["iss"] != i.URL {
		t.Errorf("claims = %v", claims)
	}
	_, body = get(t, i, i.TokenURL, "request-token")
	if claims := verify(t, i, body["value"].(string)); claims["aud"] != "https://github.com/acme" {
		t.Errorf("default audience = %v", claims["aud"])
	}
	_, disc := get(t, i, i.URL+"/.well-known/openid-configuration", "")
	if disc["issuer"] != i.URL || !strings.HasSuffix(disc["jwks_uri"].(string), "/.well-known/jwks") {
		t.Errorf("discovery = %v", disc)
	}
}

// verify checks a token against the published JWKS, as a relying party would.
func verify(t *testing.T, i *Issuer, tok string) map[string]any {
	t.Helper()
	_, set := get(t, i, i.URL+"/.well-known/jwks", "")
	k := set["keys"].([]any)[0].(map[string]any)
	n, _ := base64.RawURLEncoding.DecodeString(k["n"].(string))
	e, _ := base64.RawURLEncoding.DecodeString(k["e"].(string))
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	parts := strings.Split(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("token does not verify with the JWKS: %v", err)
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	return claims
}
