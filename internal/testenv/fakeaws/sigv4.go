// SigV4 verification. It re-signs a copy of each request with the SDK's own
// signer and the secret registered for the presented access key, so a fake
// that "accepts anything" can never hide a wrong key, a missing session token,
// an unsigned header or a tampered body.
package fakeaws

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	amzDateFormat = "20060102T150405Z"
	maxSkew       = 15 * time.Minute
	// presignWindow is how long STS honours a presigned GetCallerIdentity,
	// whatever X-Amz-Expires says; EKS relies on it (tokens last 15 min).
	presignWindow = 15 * time.Minute
)

// sigInfo is what a request's signature claims.
type sigInfo struct {
	akid, date, region, service string
	signedHeaders               string
	signature                   string
	amzDate                     string
	sessionToken                string
	presigned                   bool
	expires                     string
}

// parseSignature extracts SigV4 data from the Authorization header or, for a
// presigned URL, from the query. ok is false for an unsigned request.
func parseSignature(r *http.Request) (sigInfo, bool, *APIError) {
	q := r.URL.Query()
	if cred := q.Get("X-Amz-Credential"); cred != "" {
		si := sigInfo{presigned: true, signedHeaders: q.Get("X-Amz-SignedHeaders"),
			signature: q.Get("X-Amz-Signature"), amzDate: q.Get("X-Amz-Date"),
			sessionToken: q.Get("X-Amz-Security-Token"), expires: q.Get("X-Amz-Expires")}
		if q.Get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" {
			return si, true, apiErr(400, "IncompleteSignature", "unsupported X-Amz-Algorithm")
		}
		return si, true, splitScope(&si, cred)
	}
	auth := r.Header.Get("Authorization")
	if auth == "" {
		return sigInfo{}, false, nil
	}
	rest, found := strings.CutPrefix(auth, "AWS4-HMAC-SHA256 ")
	if !found {
		return sigInfo{}, true, apiErr(400, "IncompleteSignature", "unsupported authorization scheme")
	}
	si := sigInfo{amzDate: r.Header.Get("X-Amz-Date"), sessionToken: r.Header.Get("X-Amz-Security-Token")}
	var cred string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			si.signedHeaders = v
		case "Signature":
			si.signature = v
		}
	}
	return si, true, splitScope(&si, cred)
}

func splitScope(si *sigInfo, cred string) *APIError {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return apiErr(400, "IncompleteSignature", "credential scope must be AKID/date/region/service/aws4_request")
	}
	si.akid, si.date, si.region, si.service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

// verify authenticates a signed request and returns the calling principal.
func (s *Server) verify(r *http.Request, body []byte, si sigInfo) (*Principal, *APIError) {
	p, ok := s.state.principals[si.akid]
	if !ok {
		return nil, apiErr(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	if subtle.ConstantTimeCompare([]byte(p.SessionToken), []byte(si.sessionToken)) != 1 {
		return nil, apiErr(403, "InvalidClientTokenId", "The security token included in the request is invalid.")
	}
	now := s.now()
	if !p.Expiry.IsZero() && now.After(p.Expiry) {
		return nil, apiErr(403, "ExpiredToken", "The security token included in the request is expired")
	}
	signedAt, err := time.Parse(amzDateFormat, si.amzDate)
	if err != nil || signedAt.Format("20060102") != si.date {
		return nil, apiErr(400, "IncompleteSignature", "X-Amz-Date is missing or disagrees with the credential scope")
	}
	if e := checkTime(now, signedAt, si); e != nil {
		return nil, e
	}
	want, e := s.resign(r, body, si, p, signedAt)
	if e != nil {
		return nil, e
	}
	if !hmac.Equal([]byte(want), []byte(si.signature)) {
		return nil, apiErr(403, "SignatureDoesNotMatch",
			"The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.")
	}
	return p, nil
}

func checkTime(now, signedAt time.Time, si sigInfo) *APIError {
	if si.presigned {
		exp, err := strconv.Atoi(si.expires)
		if err != nil || exp < 1 || exp > 604800 {
			return apiErr(400, "AuthorizationQueryParametersError", "X-Amz-Expires must be between 1 and 604800 seconds")
		}
		if now.After(signedAt.Add(presignWindow)) || signedAt.After(now.Add(maxSkew)) {
			return apiErr(403, "SignatureDoesNotMatch", "Signature expired: %s is now earlier than %s", signedAt.Add(presignWindow).Format(amzDateFormat), now.UTC().Format(amzDateFormat))
		}
		return nil
	}
	if d := now.Sub(signedAt); d > maxSkew || d < -maxSkew {
		return apiErr(403, "SignatureDoesNotMatch", "Signature expired: %s is now earlier than %s", signedAt.Format(amzDateFormat), now.Add(-maxSkew).UTC().Format(amzDateFormat))
	}
	return nil
}

// resign computes the signature the request should carry.
func (s *Server) resign(r *http.Request, body []byte, si sigInfo, p *Principal, at time.Time) (string, *APIError) {
	hash, e := payloadHash(r, body)
	if e != nil {
		return "", e
	}
	u := url.URL{Scheme: "https", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath}
	q := r.URL.Query()
	q.Del("X-Amz-Signature")
	u.RawQuery = q.Encode()
	cp, err := http.NewRequestWithContext(context.Background(), r.Method, u.String(), nil)
	if err != nil {
		return "", apiErr(400, "InvalidRequest", "cannot rebuild request: %v", err)
	}
	cp.Host = r.Host
	for _, h := range strings.Split(si.signedHeaders, ";") {
		switch h {
		case "host":
		case "content-length":
			cp.ContentLength = r.ContentLength
		default:
			if vals := r.Header.Values(h); len(vals) > 0 {
				cp.Header[http.CanonicalHeaderKey(h)] = vals
			}
		}
	}
	creds := aws.Credentials{AccessKeyID: p.AccessKeyID, SecretAccessKey: p.secret, SessionToken: p.SessionToken}
	signer := v4.NewSigner()
	if si.presigned {
		signed, _, err := signer.PresignHTTP(context.Background(), creds, cp, hash, si.service, si.region, at)
		if err != nil {
			return "", apiErr(400, "InvalidRequest", "presign: %v", err)
		}
		su, _ := url.Parse(signed)
		if su.Query().Get("X-Amz-SignedHeaders") != si.signedHeaders {
			return "", nil
		}
		return su.Query().Get("X-Amz-Signature"), nil
	}
	if err := signer.SignHTTP(context.Background(), creds, cp, hash, si.service, si.region, at); err != nil {
		return "", apiErr(400, "InvalidRequest", "sign: %v", err)
	}
	got, _, _ := parseSignature(cp)
	if got.signedHeaders != si.signedHeaders {
		return "", nil // a header was signed that we cannot reproduce
	}
	return got.signature, nil
}

func payloadHash(r *http.Request, body []byte) (string, *APIError) {
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	claimed := r.Header.Get("X-Amz-Content-Sha256")
	if claimed == "" || claimed == "UNSIGNED-PAYLOAD" {
		if claimed == "" {
			return actual, nil
		}
		return claimed, nil
	}
	if claimed != actual {
		return "", apiErr(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header does not match what was computed.")
	}
	return claimed, nil
}
