// Portable makes a kubeconfig self-contained for a container: the container
// sees none of the host's files, none of its credential helpers and none of
// its loopback services. It guards against the failures that would follow
// inside the container: a file path that does not exist there, a plugin
// binary that is not installed there, a proxy on the host's loopback, and
// (not a failure, worse) TLS verification turned off.
package kubeconfig

import (
	"bytes"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"net/url"
	"path"
)

// Portable returns a copy whose file references (certificate-authority,
// client-certificate, client-key, tokenFile) are inlined through read.
// It refuses, with what to do instead: a file reference when read is nil or
// fails, exec and auth-provider plugins, insecure-skip-tls-verify, and a
// proxy-url on the host's loopback.
func (c *Config) Portable(read func(path string) ([]byte, error)) (*Config, error) {
	if err := c.refusePlugins(); err != nil {
		return nil, err
	}
	if c.cluster.InsecureSkipTLSVerify {
		return nil, fmt.Errorf("%w: cluster %q sets insecure-skip-tls-verify, which would send your credentials to whatever answers at %s; "+
			"remove it and set certificate-authority-data to the cluster's CA (kind, minikube, k3d and Docker Desktop write it for you)",
			ErrNotPortable, c.clusterName, c.Server())
	}
	if p := c.cluster.ProxyURL; p != "" && isLoopbackHost(hostOfURL(p)) {
		return nil, fmt.Errorf("%w: cluster %q goes through the proxy %s on this machine, which the container cannot reach; "+
			"remove proxy-url or use a proxy reachable from containers", ErrNotPortable, c.clusterName, redactURL(p))
	}
	out := c.clone()
	if err := out.inlineCluster(read); err != nil {
		return nil, err
	}
	if err := out.inlineUser(read); err != nil {
		return nil, err
	}
	out.cluster.LocationOfOrigin, out.user.LocationOfOrigin, out.context.LocationOfOrigin = "", "", ""
	out.cluster.Extensions, out.user.Extensions, out.context.Extensions = nil, nil, nil
	return out, nil
}

func (c *Config) refusePlugins() error {
	if e := c.user.Exec; e != nil {
		return fmt.Errorf("%w: user %q gets credentials by running %q, which the kubectl container does not have; %s",
			ErrNotPortable, c.userName, e.Command, execHint(e.Command))
	}
	if p := c.user.AuthProvider; p != nil {
		return fmt.Errorf("%w: user %q uses the %q auth-provider plugin, which the kubectl container does not have; "+
			"use a kubeconfig with a token or client certificate (e.g. a ServiceAccount token from kubectl create token)",
			ErrNotPortable, c.userName, p.Name)
	}
	return nil
}

func hostOfURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// execHint says what to use instead of a credential plugin.
func execHint(command string) string {
	generic := "use a kubeconfig with a token or client certificate (e.g. a ServiceAccount token from kubectl create token)"
	switch path.Base(command) {
	case "aws", "aws-iam-authenticator":
		return "for EKS pass --cluster <name> so the module mints the token itself with your AWS credentials, or " + generic
	}
	return generic
}

func (c *Config) clone() *Config {
	out := *c
	out.context = *c.context.DeepCopy()
	out.cluster = *c.cluster.DeepCopy()
	out.user = *c.user.DeepCopy()
	return &out
}

func (c *Config) inlineCluster(read func(string) ([]byte, error)) error {
	cl := &c.cluster
	if len(cl.CertificateAuthorityData) == 0 && cl.CertificateAuthority != "" {
		data, err := readRef(read, "cluster", c.clusterName, "certificate-authority", cl.CertificateAuthority)
		if err != nil {
			return err
		}
		cl.CertificateAuthorityData = data
	}
	cl.CertificateAuthority = "" // the data, when present, overrides the path anyway
	return requirePEM(cl.CertificateAuthorityData, "cluster", c.clusterName, "certificate-authority")
}

func (c *Config) inlineUser(read func(string) ([]byte, error)) error {
	u := &c.user
	if err := inline(read, &u.ClientCertificateData, &u.ClientCertificate, "user", c.userName, "client-certificate"); err != nil {
		return err
	}
	if err := inline(read, &u.ClientKeyData, &u.ClientKey, "user", c.userName, "client-key"); err != nil {
		return err
	}
	if u.TokenFile != "" {
		// client-go prefers the file's content over token, so do we.
		data, err := readRef(read, "user", c.userName, "tokenFile", u.TokenFile)
		if err != nil {
			return err
		}
		u.Token, u.TokenFile = string(bytes.TrimSpace(data)), ""
		if u.Token == "" {
			return fmt.Errorf("%w: user %q: tokenFile is empty; write the token into it or set token instead", ErrNotPortable, c.userName)
		}
	}
	if err := requirePEM(u.ClientCertificateData, "user", c.userName, "client-certificate"); err != nil {
		return err
	}
	if err := requirePEM(u.ClientKeyData, "user", c.userName, "client-key"); err != nil {
		return err
	}
	return requireKeyPair(u.ClientCertificateData, u.ClientKeyData, c.userName)
}

// requireKeyPair catches a client certificate without its key (or the other way round) and a key of another
// certificate here: kubectl would refuse them inside the container, where the proxy then never listens and the
// deploy waits for it to time out. Neither the message nor the error it wraps holds key material.
func requireKeyPair(cert, key []byte, user string) error {
	switch {
	case len(cert) == 0 && len(key) == 0:
		return nil
	case len(key) == 0:
		return fmt.Errorf("%w: user %q: client-certificate without client-key; give both, or neither", ErrNotPortable, user)
	case len(cert) == 0:
		return fmt.Errorf("%w: user %q: client-key without client-certificate; give both, or neither", ErrNotPortable, user)
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fmt.Errorf("%w: user %q: client-certificate and client-key are not a key pair (%v); take both from the same kubeconfig: kubectl config view --minify --flatten",
			ErrNotPortable, user, err)
	}
	return nil
}

func inline(read func(string) ([]byte, error), data *[]byte, path *string, kind, name, field string) error {
	if len(*data) == 0 && *path != "" {
		b, err := readRef(read, kind, name, field, *path)
		if err != nil {
			return err
		}
		*data = b
	}
	*path = ""
	return nil
}

func readRef(read func(string) ([]byte, error), kind, name, field, path string) ([]byte, error) {
	if read == nil {
		return nil, fmt.Errorf("%w: %s %q: %s refers to the file %s, which the container cannot see; "+
			"inline it with: kubectl config view --minify --flatten --context <context>", ErrNotPortable, kind, name, field, path)
	}
	data, err := read(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %s %q: cannot read %s file %s: %w; "+
			"fix the path or inline it with: kubectl config view --minify --flatten", ErrNotPortable, kind, name, field, path, err)
	}
	return data, nil
}

// requirePEM catches a path that pointed at the wrong file before kubectl
// fails with a less helpful message inside the container.
func requirePEM(data []byte, kind, name, field string) error {
	if len(data) == 0 {
		return nil
	}
	if block, _ := pem.Decode(data); block == nil {
		return fmt.Errorf("%w: %s %q: %s does not contain PEM data; point it at the PEM file your cluster tool wrote",
			ErrNotPortable, kind, name, field)
	}
	return nil
}
