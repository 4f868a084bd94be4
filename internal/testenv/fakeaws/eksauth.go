// EKS bearer-token verification, the way aws-iam-authenticator (EKS's webhook)
// does it. It guards against tokens that only look right: wrong host, extra
// query parameters, a cluster name outside the signature, long expiry, or a
// signature STS would refuse.
package fakeaws

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

var allowedTokenParams = map[string]bool{
	"action": true, "version": true, "x-amz-algorithm": true, "x-amz-credential": true,
	"x-amz-date": true, "x-amz-expires": true, "x-amz-security-token": true,
	"x-amz-signature": true, "x-amz-signedheaders": true,
}

// VerifyEKSToken checks a `k8s-aws-v1.` token for clusterName at time now and
// returns the caller ARN STS reports for it.
func (s *Server) VerifyEKSToken(token, clusterName string, now time.Time) (string, error) {
	u, err := s.parseEKSToken(token, now)
	if err != nil {
		return "", err
	}
	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, u.String(), nil)
	if err != nil {
		return "", fmt.Errorf("token URL: %w", err)
	}
	req.Header.Set("x-k8s-aws-id", clusterName)
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		return "", fmt.Errorf("call STS with token: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("STS refused the token for cluster %q: HTTP %d", clusterName, resp.StatusCode)
	}
	recs := s.RequestsFor("GetCallerIdentity")
	last := recs[len(recs)-1]
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.principals[last.AccessKey].ARN, nil
}

func (s *Server) parseEKSToken(token string, now time.Time) (*url.URL, error) {
	enc, ok := strings.CutPrefix(token, "k8s-aws-v1.")
	if !ok {
		return nil, fmt.Errorf("token lacks the k8s-aws-v1. prefix")
	}
	raw, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		return nil, fmt.Errorf("token is not unpadded base64url: %w", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		return nil, fmt.Errorf("token is not a URL: %w", err)
	}
	if err := s.checkTokenHost(u); err != nil {
		return nil, err
	}
	return u, checkTokenQuery(u.Query(), now)
}

func (s *Server) checkTokenHost(u *url.URL) error {
	own, _ := url.Parse(s.URL)
	host := u.Host
	regional := strings.HasPrefix(host, "sts.") && strings.HasSuffix(host, ".amazonaws.com")
	if u.Scheme != "https" || (host != own.Host && !regional) {
		return fmt.Errorf("token URL %s://%s is not an STS endpoint", u.Scheme, host)
	}
	if u.Path != "/" && u.Path != "" {
		return fmt.Errorf("token URL path %q is not /", u.Path)
	}
	return nil
}

func checkTokenQuery(q url.Values, now time.Time) error {
	for k := range q {
		if !allowedTokenParams[strings.ToLower(k)] {
			return fmt.Errorf("token has disallowed query parameter %q", k)
		}
	}
	if q.Get("Action") != "GetCallerIdentity" {
		return fmt.Errorf("token action %q is not GetCallerIdentity", q.Get("Action"))
	}
	if !contains(strings.Split(q.Get("X-Amz-SignedHeaders"), ";"), "x-k8s-aws-id") {
		return fmt.Errorf("x-k8s-aws-id is not a signed header")
	}
	exp, err := strconv.Atoi(q.Get("X-Amz-Expires"))
	if err != nil || exp <= 0 || exp > 60 {
		return fmt.Errorf("X-Amz-Expires %q must be 1..60", q.Get("X-Amz-Expires"))
	}
	signed, err := time.Parse(amzDateFormat, q.Get("X-Amz-Date"))
	if err != nil {
		return fmt.Errorf("X-Amz-Date %q: %w", q.Get("X-Amz-Date"), err)
	}
	if now.Sub(signed) > presignWindow {
		return fmt.Errorf("token signed at %s is older than 15 minutes", signed.Format(time.RFC3339))
	}
	if signed.Sub(now) > maxSkew {
		return fmt.Errorf("token signed at %s is in the future", signed.Format(time.RFC3339))
	}
	return nil
}
