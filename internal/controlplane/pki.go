// The control plane's certificates, made fresh for every cluster: a serving CA and the apiserver's
// serving cert (SANs from the Config), a client CA with the admin's and any user's client certs, the
// service-account key pair, and a kubelet CA with kwok's kubelet serving cert (a CA of its own, so a
// kubelet cert can never pass for the apiserver). They are PEM bytes, not files, so the test harness
// can write them to a directory and preview can mount them in containers: the same bytes either way.
// Keys are ECDSA P-256; certificates live a day and start a few minutes in the past, so a container
// whose clock is slightly behind the module's still accepts them, and a leaked one is soon worthless.
package controlplane

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Validity window of every certificate.
const (
	CertValidity   = 24 * time.Hour
	ClockSkewGrace = 5 * time.Minute
)

// AdminGroup is the group of the admin client cert: Kubernetes' superuser group.
const AdminGroup = "system:masters"

// Names of PKI.Files, relative to Config.PKIDir.
const (
	ServingCAFile         = "serving-ca.crt"
	ServingCertFile       = "apiserver.crt"
	ServingKeyFile        = "apiserver.key"
	ClientCAFile          = "client-ca.crt"
	ServiceAccountKeyFile = "sa.key"
	ServiceAccountPubFile = "sa.pub"
	AdminKubeconfigFile   = "admin.kubeconfig"
	KubeletCAFile         = "kubelet-ca.crt"
	KubeletCertFile       = "kubelet.crt" // only with a Config.KubeletPort
	KubeletKeyFile        = "kubelet.key" // only with a Config.KubeletPort
)

// PKI is one control plane's certificates and keys, in PEM.
type PKI struct {
	ServingCA         []byte // the CA clients trust for the apiserver (a kubeconfig's certificate-authority-data)
	ServingCert       []byte
	ServingKey        []byte
	ClientCA          []byte // the CA the apiserver trusts for client certs
	AdminCert         []byte // CN=<Name>-admin, O=system:masters
	AdminKey          []byte
	ServiceAccountKey []byte // signs service-account tokens (the controller-manager, the apiserver)
	ServiceAccountPub []byte // verifies them (the apiserver)
	AdminKubeconfig   []byte // the admin cert, the serving CA and Config.Server, all inline
	KubeletCA         []byte // the CA the apiserver trusts for kubelets
	KubeletCert       []byte // kwok's kubelet serving cert, for KwokNodeIP; nil without a Config.KubeletPort
	KubeletKey        []byte

	cfg      Config
	clientCA *authority
}

// NewPKI makes the certificates of the control plane cfg describes.
func NewPKI(cfg Config) (*PKI, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	servingCA, err := newAuthority(cfg.Name + "-serving-ca")
	if err != nil {
		return nil, fmt.Errorf("controlplane: serving CA: %w", err)
	}
	serving, err := servingCA.issue(leaf{commonName: "kube-apiserver", server: true, dnsNames: cfg.DNSNames, ips: cfg.IPs})
	if err != nil {
		return nil, fmt.Errorf("controlplane: apiserver serving cert: %w", err)
	}
	clientCA, err := newAuthority(cfg.Name + "-client-ca")
	if err != nil {
		return nil, fmt.Errorf("controlplane: client CA: %w", err)
	}
	p := &PKI{ServingCA: servingCA.certPEM, ServingCert: serving.cert, ServingKey: serving.key, ClientCA: clientCA.certPEM, cfg: cfg, clientCA: clientCA}
	if p.AdminCert, p.AdminKey, err = p.ClientCert(cfg.Name+"-admin", AdminGroup); err != nil {
		return nil, err
	}
	if p.ServiceAccountKey, p.ServiceAccountPub, err = newServiceAccountKey(); err != nil {
		return nil, fmt.Errorf("controlplane: service-account key: %w", err)
	}
	p.AdminKubeconfig = renderKubeconfig(cfg.Name, cfg.Server, p.ServingCA, cfg.Name+"-admin", p.AdminCert, p.AdminKey)
	if err := p.makeKubelet(); err != nil {
		return nil, fmt.Errorf("controlplane: kubelet certificates: %w", err)
	}
	return p, nil
}

// makeKubelet makes the kubelet CA the apiserver trusts and, if kwok serves the kubelet API, its cert.
func (p *PKI) makeKubelet() error {
	ca, err := newAuthority(p.cfg.Name + "-kubelet-ca")
	if err != nil {
		return err
	}
	p.KubeletCA = ca.certPEM
	if p.cfg.KubeletPort == 0 {
		return nil
	}
	kp, err := ca.issue(leaf{commonName: "kwok-kubelet", server: true, ips: []net.IP{net.ParseIP(KwokNodeIP)}})
	if err != nil {
		return err
	}
	p.KubeletCert, p.KubeletKey = kp.cert, kp.key
	return nil
}

// ClientCert issues a client certificate from the client CA: the apiserver authenticates it as user
// with groups. RBAC applies: the user can do nothing until bound to a role.
func (p *PKI) ClientCert(user string, groups ...string) (certPEM, keyPEM []byte, err error) {
	kp, err := p.clientCA.issue(leaf{commonName: user, orgs: groups})
	if err != nil {
		return nil, nil, fmt.Errorf("controlplane: client cert for %q: %w", user, err)
	}
	return kp.cert, kp.key, nil
}

// UserKubeconfig is a self-contained kubeconfig for a new client cert of user and groups, against
// Config.Server.
func (p *PKI) UserKubeconfig(user string, groups ...string) ([]byte, error) {
	cert, key, err := p.ClientCert(user, groups...)
	if err != nil {
		return nil, err
	}
	return renderKubeconfig(p.cfg.Name, p.cfg.Server, p.ServingCA, user, cert, key), nil
}

// Files are the files the components read, by name relative to Config.PKIDir: what to mount there.
// Every one of them is named by some component's flags, and no flag names another.
func (p *PKI) Files() map[string][]byte {
	files := map[string][]byte{
		ServingCAFile:         p.ServingCA,
		ServingCertFile:       p.ServingCert,
		ServingKeyFile:        p.ServingKey,
		ClientCAFile:          p.ClientCA,
		ServiceAccountKeyFile: p.ServiceAccountKey,
		ServiceAccountPubFile: p.ServiceAccountPub,
		AdminKubeconfigFile:   p.AdminKubeconfig,
		KubeletCAFile:         p.KubeletCA,
	}
	if p.KubeletCert != nil {
		files[KubeletCertFile], files[KubeletKeyFile] = p.KubeletCert, p.KubeletKey
	}
	return files
}

// WriteDir writes Files into dir (created if missing), readable by the owner only: they hold keys.
func (p *PKI) WriteDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("controlplane: creating the PKI directory: %w", err)
	}
	for name, data := range p.Files() {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			return fmt.Errorf("controlplane: writing %s: %w", name, err)
		}
	}
	return nil
}

// authority is a throwaway certificate authority.
type authority struct {
	cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
}

// leaf describes a certificate to issue: a server cert gets the SANs, a client cert CN and O.
type leaf struct {
	commonName string
	orgs       []string
	server     bool
	dnsNames   []string
	ips        []net.IP
}

// keyPair is a PEM certificate and its PEM private key.
type keyPair struct{ cert, key []byte }

func newAuthority(name string) (*authority, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl, err := template(pkix.Name{CommonName: name})
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = true
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &authority{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der)}, nil
}

func (a *authority) issue(l leaf) (keyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return keyPair{}, err
	}
	tmpl, err := template(pkix.Name{CommonName: l.commonName, Organization: l.orgs})
	if err != nil {
		return keyPair{}, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if l.server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.DNSNames, tmpl.IPAddresses = l.dnsNames, l.ips
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.cert, key.Public(), a.key)
	if err != nil {
		return keyPair{}, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return keyPair{}, err
	}
	return keyPair{cert: pemBlock("CERTIFICATE", der), key: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// template is a certificate valid from ClockSkewGrace ago for CertValidity, with a random serial.
func template(subject pkix.Name) (*x509.Certificate, error) {
	sn, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: sn,
		Subject:      subject,
		NotBefore:    now.Add(-ClockSkewGrace),
		NotAfter:     now.Add(CertValidity),
	}, nil
}

// newServiceAccountKey returns a PEM private key and its PEM public key.
func newServiceAccountKey() (privPEM, pubPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	privDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, err
	}
	return pemBlock("PRIVATE KEY", privDER), pemBlock("PUBLIC KEY", pubDER), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
