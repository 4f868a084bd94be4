// Package fakeoidc is a local OpenID Connect issuer shaped like GitHub Actions'.
// It mints RS256 JWTs with GitHub's claims and serves discovery, JWKS and the
// Actions token-request endpoint, so tests exercise the real fetch and
// verification paths instead of hand-written token strings. The token endpoint
// checks both the bearer request token and the audience, as GitHub does.
package fakeoidc

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// Claims are the claims of a minted token. Zero times get defaults
// (iat/nbf = now, exp = now+5m); Audience defaults to sts.amazonaws.com.
type Claims struct {
	Issuer         string // default: the issuer's URL
	Subject        string
	Audience       []string
	Expiry         time.Time
	NotBefore      time.Time
	IssuedAt       time.Time
	Repository     string
	RepositoryID   string // GitHub's immutable repository_id, a decimal string as GitHub sends it
	Ref            string
	Environment    string
	JobWorkflowRef string
	Extra          map[string]any
}

// Issuer is a running fake OIDC issuer.
type Issuer struct {
	URL string // issuer URL (https://127.0.0.1:port)
	// TokenURL is the GitHub Actions token-request URL (ACTIONS_ID_TOKEN_REQUEST_URL).
	TokenURL string
	// RequestToken is the bearer the token endpoint accepts (ACTIONS_ID_TOKEN_REQUEST_TOKEN).
	RequestToken string
	srv          *httptest.Server
	key          *rsa.PrivateKey
	kid          string

	mu sync.Mutex
	// Template are the claims the token endpoint mints (audience comes from the request).
	template Claims
	requests []string // audiences requested
	minted   []string
}

// New starts an issuer that lives until the test ends. requestToken is the
// bearer its Actions token endpoint accepts.
func New(t testing.TB, requestToken string) *Issuer {
	t.Helper()
	key, err := issuerKey.get()
	if err != nil {
		t.Fatalf("fakeoidc: generate key: %v", err)
	}
	i := &Issuer{RequestToken: requestToken, key: key, kid: "fake-" + fmt.Sprint(time.Now().UnixNano())}
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", i.discovery)
	mux.HandleFunc("/.well-known/jwks", i.jwks)
	mux.HandleFunc("/_apis/actions/token", i.actionsToken)
	i.srv = httptest.NewTLSServer(mux)
	t.Cleanup(i.srv.Close)
	i.URL = i.srv.URL
	i.TokenURL = i.srv.URL + "/_apis/actions/token?api-version=2.0"
	return i
}

// HTTPClient trusts the issuer's certificate.
func (i *Issuer) HTTPClient() *http.Client { return i.srv.Client() }

// SetTemplate sets the claims the Actions endpoint puts in its tokens.
func (i *Issuer) SetTemplate(c Claims) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.template = c
}

// Audiences lists the audiences requested from the Actions endpoint.
func (i *Issuer) Audiences() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string(nil), i.requests...)
}

// JWKS returns the issuer's JSON Web Key Set.
func (i *Issuer) JWKS() []byte {
	pub := i.key.PublicKey
	b, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "alg": "RS256", "use": "sig", "kid": i.kid,
		"n": base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
	}}})
	return b
}

// Mint signs a token with the issuer's key.
func (i *Issuer) Mint(c Claims) string {
	return i.mint(c, i.key)
}

// MintForeign signs a token with a key the issuer never published, to test
// signature verification.
func (i *Issuer) MintForeign(c Claims) string {
	k, err := foreignKey.get()
	if err != nil {
		panic(err)
	}
	return i.mint(c, k)
}

// lazyKey generates an RSA key once per test binary: 2048-bit generation
// takes seconds on a busy 2-core machine, and issuers in one process need not
// differ in key (each gets its own kid and URL).
type lazyKey struct {
	once sync.Once
	key  *rsa.PrivateKey
	err  error
}

func (l *lazyKey) get() (*rsa.PrivateKey, error) {
	l.once.Do(func() { l.key, l.err = rsa.GenerateKey(rand.Reader, 2048) })
	return l.key, l.err
}

var issuerKey, foreignKey lazyKey

func (i *Issuer) mint(c Claims, key *rsa.PrivateKey) string {
	now := time.Now()
	payload := map[string]any{}
	for k, v := range c.Extra {
		payload[k] = v
	}
	set := func(k, v string) {
		if v != "" {
			payload[k] = v
		}
	}
	set("iss", first(c.Issuer, i.URL))
	set("sub", c.Subject)
	set("repository", c.Repository)
	set("repository_id", c.RepositoryID)
	set("ref", c.Ref)
	set("environment", c.Environment)
	set("job_workflow_ref", c.JobWorkflowRef)
	aud := c.Audience
	if len(aud) == 0 {
		aud = []string{"sts.amazonaws.com"}
	}
	if len(aud) == 1 {
		payload["aud"] = aud[0]
	} else {
		payload["aud"] = aud
	}
	payload["iat"] = orNow(c.IssuedAt, now).Unix()
	payload["nbf"] = orNow(c.NotBefore, now).Unix()
	payload["exp"] = orNow(c.Expiry, now.Add(5*time.Minute)).Unix()
	hdr, _ := json.Marshal(map[string]string{"alg": "RS256", "typ": "JWT", "kid": i.kid})
	body, _ := json.Marshal(payload)
	signing := b64(hdr) + "." + b64(body)
	digest := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, digest[:])
	if err != nil {
		panic(err) // only fails for keys too small for SHA-256
	}
	tok := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
	i.mu.Lock()
	i.minted = append(i.minted, tok, base64.RawURLEncoding.EncodeToString(sig))
	i.mu.Unlock()
	return tok
}

// Minted lists every token minted so far and each one's signature segment:
// secrets that must never be printed.
func (i *Issuer) Minted() []string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]string{i.RequestToken}, i.minted...)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func orNow(t, def time.Time) time.Time {
	if t.IsZero() {
		return def
	}
	return t
}

func (i *Issuer) discovery(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"issuer": i.URL, "jwks_uri": i.URL + "/.well-known/jwks",
		"subject_types_supported":               []string{"public", "pairwise"},
		"response_types_supported":              []string{"id_token"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"claims_supported":                      []string{"sub", "aud", "exp", "iat", "iss", "repository", "ref", "environment", "job_workflow_ref"},
	})
}

func (i *Issuer) jwks(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(i.JWKS())
}

func (i *Issuer) actionsToken(w http.ResponseWriter, r *http.Request) {
	bearer, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || bearer == "" {
		http.Error(w, `{"message":"Unauthorized"}`, http.StatusUnauthorized)
		return
	}
	if subtle.ConstantTimeCompare([]byte(bearer), []byte(i.RequestToken)) != 1 {
		http.Error(w, `{"message":"Forbidden: invalid runtime token"}`, http.StatusForbidden)
		return
	}
	if r.URL.Query().Get("api-version") != "2.0" {
		http.Error(w, `{"message":"api-version 2.0 required"}`, http.StatusBadRequest)
		return
	}
	aud := r.URL.Query().Get("audience")
	i.mu.Lock()
	c := i.template
	if aud == "" { // GitHub's default audience is the owner's URL
		owner, _, _ := strings.Cut(c.Repository, "/")
		aud = "https://github.com/" + owner
	}
	i.requests = append(i.requests, aud)
	i.mu.Unlock()
	c.Audience = []string{aud}
	// Mint locks i.mu itself.
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"value": i.Mint(c)})
}
