// KMS operations (awsJson1.1, X-Amz-Target TrentService.<Op>) for the
// attestation signing key: asymmetric ECC_NIST_P256 keys that really sign
// (ECDSA with a key the fake generates), aliases, and key policies that are
// enforced. Enforcement is the point: a test that a deploy role cannot sign
// must fail here the way it fails in AWS, with AccessDeniedException.
//
// Simplification, stated: the fake does not evaluate IAM identity policies.
// A key policy statement for the account root ("arn:aws:iam::ACCOUNT:root")
// therefore grants the account's IAM users (the administrators of tests) and
// no role; a role gets only what a statement naming its ARN grants, which is
// exactly what ship's generated key policy relies on.
package fakeaws

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"strings"
	"time"
)

func init() {
	serviceProtocol["kms"] = awsJSON11
	register("kms", "CreateKey", kmsCreateKey)
	register("kms", "DescribeKey", kmsDescribeKey)
	register("kms", "CreateAlias", kmsCreateAlias)
	register("kms", "ListAliases", kmsListAliases)
	register("kms", "GetKeyPolicy", kmsGetKeyPolicy)
	register("kms", "PutKeyPolicy", kmsPutKeyPolicy)
	register("kms", "GetPublicKey", kmsGetPublicKey)
	register("kms", "Sign", kmsSign)
}

// KMSKey is one key the fake holds.
type KMSKey struct {
	ID, ARN, Description string
	KeySpec, KeyUsage    string
	Policy               string
	Created              time.Time
	private              *ecdsa.PrivateKey
}

type kmsState struct {
	keys    map[string]*KMSKey // by key ID
	aliases map[string]string  // alias name -> key ID
}

func (s *Server) kms() *kmsState {
	b := s.Bucket("kms")
	st, ok := b["state"].(*kmsState)
	if !ok {
		st = &kmsState{keys: map[string]*KMSKey{}, aliases: map[string]string{}}
		b["state"] = st
	}
	return st
}

// KMSKeys returns a copy of every key, for assertions.
func (s *Server) KMSKeys() []KMSKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []KMSKey
	for _, k := range s.kms().keys {
		out = append(out, *k)
	}
	return out
}

func kmsErr(status int, code, format string, args ...any) *APIError {
	return apiErr(status, code, format, args...)
}

// resolveKey finds a key by ID, key ARN, alias name or alias ARN.
func (s *Server) resolveKey(id string) (*KMSKey, *APIError) {
	st := s.kms()
	if id == "" {
		return nil, kmsErr(400, "ValidationException", "1 validation error detected: Value null at 'keyId' failed to satisfy constraint: Member must not be null")
	}
	if i := strings.Index(id, ":alias/"); i >= 0 {
		id = id[i+1:]
	}
	if strings.HasPrefix(id, "alias/") {
		kid, ok := st.aliases[id]
		if !ok {
			return nil, kmsErr(400, "NotFoundException", "Alias %s is not found.", s.aliasARN(id))
		}
		id = kid
	}
	if i := strings.Index(id, ":key/"); i >= 0 {
		id = id[i+len(":key/"):]
	}
	k, ok := st.keys[id]
	if !ok {
		return nil, kmsErr(400, "NotFoundException", "Key '%s' does not exist", s.keyARN(id))
	}
	return k, nil
}

func (s *Server) keyARN(id string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:key/%s", s.Region, s.Account, id)
}

func (s *Server) aliasARN(name string) string {
	return fmt.Sprintf("arn:aws:kms:%s:%s:%s", s.Region, s.Account, name)
}

func kmsCreateKey(s *Server, c *Call) (any, error) {
	var in struct {
		KeySpec, KeyUsage, Policy, Description string
		BypassPolicyLockoutSafetyCheck         bool
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if in.KeySpec == "" {
		in.KeySpec = "SYMMETRIC_DEFAULT"
	}
	if in.KeySpec != "ECC_NIST_P256" || in.KeyUsage != "SIGN_VERIFY" {
		return nil, kmsErr(400, "UnsupportedOperationException", "fakeaws KMS creates only ECC_NIST_P256 keys for SIGN_VERIFY, not %s for %q", in.KeySpec, in.KeyUsage)
	}
	id := strings.ToLower(fmt.Sprintf("%s-%s-4%s-8%s-%s", randomID(8), randomID(4), randomID(3), randomID(3), randomID(12)))
	if in.Policy == "" {
		in.Policy = fmt.Sprintf(`{"Version":"2012-10-17","Id":"key-default-1","Statement":[{"Sid":"Enable IAM User Permissions","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::%s:root"},"Action":"kms:*","Resource":"*"}]}`, s.Account)
	}
	if e := s.checkKeyPolicy(c.Caller, in.Policy, in.BypassPolicyLockoutSafetyCheck); e != nil {
		return nil, e
	}
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	k := &KMSKey{ID: id, ARN: s.keyARN(id), Description: in.Description, KeySpec: in.KeySpec, KeyUsage: in.KeyUsage,
		Policy: in.Policy, Created: s.now(), private: priv}
	s.kms().keys[id] = k
	return map[string]any{"KeyMetadata": keyMetadata(s, k)}, nil
}

func keyMetadata(s *Server, k *KMSKey) map[string]any {
	return map[string]any{"KeyId": k.ID, "Arn": k.ARN, "AWSAccountId": s.Account, "CreationDate": k.Created.Unix(),
		"Enabled": true, "KeyState": "Enabled", "KeyUsage": k.KeyUsage, "KeySpec": k.KeySpec, "CustomerMasterKeySpec": k.KeySpec,
		"Origin": "AWS_KMS", "KeyManager": "CUSTOMER", "Description": k.Description, "MultiRegion": false,
		"SigningAlgorithms": []string{"ECDSA_SHA_256"}}
}

func kmsDescribeKey(s *Server, c *Call) (any, error) {
	k, e := s.authorizeKey(c, "kms:DescribeKey")
	if e != nil {
		return nil, e
	}
	return map[string]any{"KeyMetadata": keyMetadata(s, k)}, nil
}

func kmsCreateAlias(s *Server, c *Call) (any, error) {
	name := c.Str("AliasName")
	if !strings.HasPrefix(name, "alias/") || strings.HasPrefix(name, "alias/aws/") || len(name) > 256 {
		return nil, kmsErr(400, "ValidationException", "Alias must start with the prefix \"alias/\" and must not begin with \"alias/aws/\"")
	}
	if _, ok := s.kms().aliases[name]; ok {
		return nil, kmsErr(400, "AlreadyExistsException", "An alias with the name %s already exists", s.aliasARN(name))
	}
	k, e := s.authorizeKeyID(c, c.Str("TargetKeyId"), "kms:CreateAlias")
	if e != nil {
		return nil, e
	}
	s.kms().aliases[name] = k.ID
	return struct{}{}, nil
}

func kmsListAliases(s *Server, c *Call) (any, error) {
	want := ""
	if id := c.Str("KeyId"); id != "" {
		k, e := s.resolveKey(id)
		if e != nil {
			return nil, e
		}
		want = k.ID
	}
	aliases := []map[string]any{}
	for name, kid := range s.kms().aliases {
		if want == "" || kid == want {
			aliases = append(aliases, map[string]any{"AliasName": name, "AliasArn": s.aliasARN(name), "TargetKeyId": kid})
		}
	}
	return map[string]any{"Aliases": aliases, "Truncated": false}, nil
}

func kmsGetKeyPolicy(s *Server, c *Call) (any, error) {
	k, e := s.authorizeKey(c, "kms:GetKeyPolicy")
	if e != nil {
		return nil, e
	}
	if n := c.Str("PolicyName"); n != "" && n != "default" {
		return nil, kmsErr(400, "NotFoundException", "Policy %s does not exist", n)
	}
	return map[string]any{"Policy": k.Policy, "PolicyName": "default"}, nil
}

func kmsPutKeyPolicy(s *Server, c *Call) (any, error) {
	k, e := s.authorizeKey(c, "kms:PutKeyPolicy")
	if e != nil {
		return nil, e
	}
	var in struct {
		Policy                         string
		BypassPolicyLockoutSafetyCheck bool
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if e := s.checkKeyPolicy(c.Caller, in.Policy, in.BypassPolicyLockoutSafetyCheck); e != nil {
		return nil, e
	}
	k.Policy = in.Policy
	return struct{}{}, nil
}

func kmsGetPublicKey(s *Server, c *Call) (any, error) {
	k, e := s.authorizeKey(c, "kms:GetPublicKey")
	if e != nil {
		return nil, e
	}
	der, err := x509.MarshalPKIXPublicKey(&k.private.PublicKey)
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyId": k.ARN, "PublicKey": der, "KeySpec": k.KeySpec, "CustomerMasterKeySpec": k.KeySpec,
		"KeyUsage": k.KeyUsage, "SigningAlgorithms": []string{"ECDSA_SHA_256"}}, nil
}

func kmsSign(s *Server, c *Call) (any, error) {
	k, e := s.authorizeKey(c, "kms:Sign")
	if e != nil {
		return nil, e
	}
	var in struct {
		Message                       []byte
		MessageType, SigningAlgorithm string
	}
	if err := c.Decode(&in); err != nil {
		return nil, err
	}
	if in.SigningAlgorithm != "ECDSA_SHA_256" {
		return nil, kmsErr(400, "InvalidKeyUsageException", "You cannot use the signing algorithm %q with key %s", in.SigningAlgorithm, k.ARN)
	}
	digest := in.Message
	switch in.MessageType {
	case "DIGEST":
		if len(digest) != sha256.Size {
			return nil, kmsErr(400, "ValidationException", "Digest is invalid length for algorithm ECDSA_SHA_256.")
		}
	case "", "RAW":
		if len(in.Message) == 0 || len(in.Message) > 4096 {
			return nil, kmsErr(400, "ValidationException", "Message must be 1 to 4096 bytes")
		}
		sum := sha256.Sum256(in.Message)
		digest = sum[:]
	default:
		return nil, kmsErr(400, "ValidationException", "MessageType %q is not RAW or DIGEST", in.MessageType)
	}
	sig, err := ecdsa.SignASN1(rand.Reader, k.private, digest)
	if err != nil {
		return nil, err
	}
	return map[string]any{"KeyId": k.ARN, "Signature": sig, "SigningAlgorithm": in.SigningAlgorithm}, nil
}

func (s *Server) authorizeKey(c *Call, action string) (*KMSKey, *APIError) {
	return s.authorizeKeyID(c, c.Str("KeyId"), action)
}

func (s *Server) authorizeKeyID(c *Call, id, action string) (*KMSKey, *APIError) {
	k, e := s.resolveKey(id)
	if e != nil {
		return nil, e
	}
	if !s.keyPolicyAllows(k.Policy, c.Caller, action) {
		return nil, kmsErr(400, "AccessDeniedException", "User: %s is not authorized to perform: %s on resource: %s because no resource-based policy allows the %s action",
			callerARN(c.Caller), action, k.ARN, action)
	}
	return k, nil
}

func callerARN(p *Principal) string {
	if p == nil {
		return "anonymous"
	}
	return p.ARN
}
