// Loading a signing key that the user keeps (with-registry, no AWS): the
// encrypted PEM that `cosign generate-key-pair` writes, so the same key works
// with cosign and with ship, or an unencrypted PKCS#8 EC key. The format is
// go-securesystemslib's "encrypted": JSON {kdf: scrypt, cipher:
// nacl/secretbox, ciphertext} around the PKCS#8 DER. Only the scrypt cost
// parameters that library writes are accepted: a crafted file with a huge N
// would otherwise make loading it take minutes and gigabytes.
package signing

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// PEM block types of cosign's private keys (newer cosign writes SIGSTORE).
const (
	SigstorePrivateKeyPEMType = "ENCRYPTED SIGSTORE PRIVATE KEY"
	CosignPrivateKeyPEMType   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// ErrWrongPassword means the key file decoded but the password does not open it.
var ErrWrongPassword = errors.New("the password does not decrypt this key (wrong password, or COSIGN_PASSWORD not the one used by cosign generate-key-pair)")

type encryptedKey struct {
	KDF struct {
		Name   string `json:"name"`
		Params struct {
			N int `json:"N"`
			R int `json:"r"`
			P int `json:"p"`
		} `json:"params"`
		Salt []byte `json:"salt"`
	} `json:"kdf"`
	Cipher struct {
		Name  string `json:"name"`
		Nonce []byte `json:"nonce"`
	} `json:"cipher"`
	Ciphertext []byte `json:"ciphertext"`
}

// scryptCosts are the N values go-securesystemslib writes (legacy,
// standard, OWASP), always with r=8, p=1.
var scryptCosts = map[int]bool{1 << 15: true, 1 << 16: true, 1 << 17: true}

// LoadPrivateKey reads a cosign-format encrypted key with its password, or an
// unencrypted "PRIVATE KEY" (PKCS#8) or "EC PRIVATE KEY" PEM (password ignored).
// The key must be ECDSA P-256.
func LoadPrivateKey(pemData, password []byte) (*KeySigner, error) {
	block, _ := pem.Decode(pemData)
	if block == nil {
		return nil, errors.New("signing key: no PEM block found; pass the cosign.key file that cosign generate-key-pair wrote, or a PKCS#8 EC P-256 PEM")
	}
	var der []byte
	switch block.Type {
	case SigstorePrivateKeyPEMType, CosignPrivateKeyPEMType:
		var err error
		if der, err = decryptKey(block.Bytes, password); err != nil {
			return nil, fmt.Errorf("signing key (%s): %w", block.Type, err)
		}
	case "PRIVATE KEY", "EC PRIVATE KEY":
		der = block.Bytes
	default:
		return nil, fmt.Errorf("signing key: PEM block %q is not a private key this accepts (%s, %s, PRIVATE KEY or EC PRIVATE KEY)",
			block.Type, SigstorePrivateKeyPEMType, CosignPrivateKeyPEMType)
	}
	key, err := parsePrivateKeyDER(block.Type, der)
	if err != nil {
		return nil, err
	}
	if _, err := requireP256(&key.PublicKey); err != nil {
		return nil, fmt.Errorf("signing key: %w", err)
	}
	return &KeySigner{key: key, desc: "key " + KeyHint(&key.PublicKey)}, nil
}

func decryptKey(data, password []byte) ([]byte, error) {
	var k encryptedKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("not the JSON cosign encrypts keys into: %w", err)
	}
	p := k.KDF.Params
	if k.KDF.Name != "scrypt" || k.Cipher.Name != "nacl/secretbox" {
		return nil, fmt.Errorf("kdf %q with cipher %q: only scrypt with nacl/secretbox (cosign's format) is supported", k.KDF.Name, k.Cipher.Name)
	}
	if !scryptCosts[p.N] || p.R != 8 || p.P != 1 {
		return nil, fmt.Errorf("scrypt parameters N=%d r=%d p=%d are not ones cosign writes (N 32768, 65536 or 131072, r 8, p 1)", p.N, p.R, p.P)
	}
	if len(k.Cipher.Nonce) != 24 || len(k.KDF.Salt) == 0 {
		return nil, errors.New("the nonce must be 24 bytes and the salt non-empty")
	}
	boxKey, err := scrypt.Key(password, k.KDF.Salt, p.N, p.R, p.P, 32)
	if err != nil {
		return nil, fmt.Errorf("derive the key from the password: %w", err)
	}
	var nonce [24]byte
	var key [32]byte
	copy(nonce[:], k.Cipher.Nonce)
	copy(key[:], boxKey)
	der, ok := secretbox.Open(nil, k.Ciphertext, &nonce, &key)
	if !ok {
		return nil, ErrWrongPassword
	}
	return der, nil
}

func parsePrivateKeyDER(pemType string, der []byte) (*ecdsa.PrivateKey, error) {
	if pemType == "EC PRIVATE KEY" {
		k, err := x509.ParseECPrivateKey(der)
		if err != nil {
			return nil, fmt.Errorf("signing key (EC PRIVATE KEY): %w", err)
		}
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("signing key (%s): PKCS#8: %w", pemType, err)
	}
	ec, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("signing key is %T, want an ECDSA P-256 key (cosign generate-key-pair's default)", k)
	}
	return ec, nil
}
