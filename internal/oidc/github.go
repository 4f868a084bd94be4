// Fetching the job's OIDC token from GitHub Actions' token endpoint. Guards
// against the most common setup mistake (missing `permissions: id-token:
// write`) with an error that says exactly that, and never echoes the request
// token or the response body (which holds the JWT) in errors.
package oidc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// DefaultAudience is the audience AWS STS expects.
const DefaultAudience = "sts.amazonaws.com"

// ErrNoIDTokenPermission means the workflow cannot request OIDC tokens.
var ErrNoIDTokenPermission = errors.New("oidc: ACTIONS_ID_TOKEN_REQUEST_URL is not set: the workflow (or job) needs `permissions: id-token: write` to get an OIDC token for AWS")

// GitHub fetches an OIDC token inside a GitHub Actions job.
type GitHub struct {
	RequestURL   string // ACTIONS_ID_TOKEN_REQUEST_URL
	RequestToken string // ACTIONS_ID_TOKEN_REQUEST_TOKEN
	Audience     string // default sts.amazonaws.com
	HTTPClient   *http.Client
}

// String never shows the request token.
func (g GitHub) String() string {
	return fmt.Sprintf("oidc.GitHub{RequestURL set: %t, Audience: %q}", g.RequestURL != "", g.audience())
}

// GoString keeps %#v from dumping the request token.
func (g GitHub) GoString() string { return g.String() }

func (g GitHub) audience() string {
	if g.Audience == "" {
		return DefaultAudience
	}
	return g.Audience
}

// Fetch requests a token for the configured audience.
func (g GitHub) Fetch(ctx context.Context) (*Token, error) {
	if g.RequestURL == "" {
		return nil, ErrNoIDTokenPermission
	}
	if g.RequestToken == "" {
		return nil, errors.New("oidc: ACTIONS_ID_TOKEN_REQUEST_TOKEN is not set: the workflow needs `permissions: id-token: write`")
	}
	u, err := url.Parse(g.RequestURL)
	if err != nil {
		return nil, errors.New("oidc: ACTIONS_ID_TOKEN_REQUEST_URL is not a valid URL")
	}
	q := u.Query()
	q.Set("audience", g.audience())
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("oidc: build token request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+g.RequestToken)
	req.Header.Set("Accept", "application/json")
	client := g.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("oidc: request token from %s: %w", u.Host, redact(err))
	}
	defer resp.Body.Close()
	return readToken(resp)
}

func readToken(resp *http.Response) (*Token, error) {
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("oidc: read token response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		hint := ""
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			hint = ": the request token was refused; it is only valid inside the job that received it"
		}
		return nil, fmt.Errorf("oidc: token endpoint answered HTTP %d%s", resp.StatusCode, hint)
	}
	var v struct {
		Value string `json:"value"`
	}
	if json.Unmarshal(body, &v) != nil || v.Value == "" {
		return nil, errors.New("oidc: token endpoint answer has no \"value\" field")
	}
	tok, err := Parse(v.Value)
	if err != nil {
		return nil, fmt.Errorf("oidc: token endpoint returned an unusable token: %w", err)
	}
	return tok, nil
}

// redact drops the URL from transport errors: the request URL carries a
// per-job runtime identifier and must not be logged whole.
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
