// Server state and the identities it knows. Kept in one place so handlers in
// any file (including *_extra.go) see one consistent account.
package fakeaws

import (
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"math/big"
	"strings"
	"time"
)

// Principal is an identity that can sign requests.
type Principal struct {
	AccessKeyID  string
	secret       string
	SessionToken string
	ARN          string
	UserID       string
	Account      string
	Expiry       time.Time // zero for long-term keys
	RoleARN      string    // for assumed roles: the IAM role ARN
}

// String never shows the secret or session token.
func (p *Principal) String() string { return p.ARN + " (" + p.AccessKeyID + ")" }

// Role is an IAM role.
type Role struct {
	Name, Path, ARN, RoleID string
	TrustPolicy             string // JSON, decoded
	Description             string
	MaxSessionDuration      int
	Created                 time.Time
	InlinePolicies          map[string]string // name -> JSON
}

// OIDCProvider is an IAM OpenID Connect provider.
type OIDCProvider struct {
	ARN, URL    string // URL without scheme, as IAM stores it
	ClientIDs   []string
	Thumbprints []string
	Created     time.Time
}

type state struct {
	seq           int
	principals    map[string]*Principal
	roles         map[string]*Role
	providers     map[string]*OIDCProvider // by ARN
	issuerKeys    map[string]map[string]*rsa.PublicKey
	repositories  map[string]*Repository
	clusters      map[string]*Cluster
	accessEntries map[string]map[string]*AccessEntry // cluster -> principal ARN
	buckets       map[string]map[string]any
}

func newState() *state {
	return &state{principals: map[string]*Principal{}, roles: map[string]*Role{},
		providers: map[string]*OIDCProvider{}, issuerKeys: map[string]map[string]*rsa.PublicKey{},
		repositories: map[string]*Repository{}, clusters: map[string]*Cluster{},
		accessEntries: map[string]map[string]*AccessEntry{}, buckets: map[string]map[string]any{}}
}

// AddUser registers long-term IAM user keys and returns the user's ARN.
func (s *Server) AddUser(akid, secret string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := "user-" + strings.ToLower(akid[len(akid)-4:])
	p := &Principal{AccessKeyID: akid, secret: secret, Account: s.Account,
		ARN: fmt.Sprintf("arn:aws:iam::%s:user/%s", s.Account, name), UserID: "AIDA" + randomID(16)}
	s.state.principals[akid] = p
	return p.ARN
}

func (s *Server) issueSession(role *Role, session string, d time.Duration) *Principal {
	if s.lifetime > 0 {
		d = s.lifetime
	}
	p := &Principal{AccessKeyID: "ASIA" + randomID(16), secret: randomToken(40),
		SessionToken: "FQoGZXIvYXdzE" + randomToken(120), Account: s.Account, RoleARN: role.ARN,
		ARN:    fmt.Sprintf("arn:aws:sts::%s:assumed-role/%s/%s", s.Account, role.Name, session),
		UserID: role.RoleID + ":" + session, Expiry: s.now().Add(d).Truncate(time.Second)}
	s.state.principals[p.AccessKeyID] = p
	return p
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
const tokenAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func randomFrom(alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		k, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			panic(err) // crypto/rand does not fail on supported platforms
		}
		b[i] = alphabet[k.Int64()]
	}
	return string(b)
}

func randomID(n int) string    { return randomFrom(idAlphabet, n) }
func randomToken(n int) string { return randomFrom(tokenAlphabet, n) }
