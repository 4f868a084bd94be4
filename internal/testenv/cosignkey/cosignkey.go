// Package cosignkey writes a private key the way `cosign generate-key-pair` does, for tests that need a key
// file both cosign and ship read: go-securesystemslib's "encrypted" JSON (scrypt, nacl/secretbox) around the
// PKCS#8 DER, in a PEM block. ship itself only reads such keys (internal/signing); the sigstorecheck module
// proves the format against go-securesystemslib.
package cosignkey

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"testing"

	"golang.org/x/crypto/nacl/secretbox"
	"golang.org/x/crypto/scrypt"
)

// Encrypt returns k encrypted with password at scrypt cost n (cosign writes 32768), in a PEM block of
// pemType (cosign writes "ENCRYPTED SIGSTORE PRIVATE KEY").
func Encrypt(t testing.TB, k *ecdsa.PrivateKey, password []byte, pemType string, n int) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	salt, nonce := make([]byte, 32), [24]byte{}
	_, _ = rand.Read(salt)
	_, _ = rand.Read(nonce[:])
	boxKey, err := scrypt.Key(password, salt, n, 8, 1, 32)
	if err != nil {
		t.Fatal(err)
	}
	var key [32]byte
	copy(key[:], boxKey)
	doc := map[string]any{
		"kdf":        map[string]any{"name": "scrypt", "params": map[string]int{"N": n, "r": 8, "p": 1}, "salt": salt},
		"cipher":     map[string]any{"name": "nacl/secretbox", "nonce": nonce[:]},
		"ciphertext": secretbox.Seal(nil, der, &nonce, &key),
	}
	data, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: data})
}
