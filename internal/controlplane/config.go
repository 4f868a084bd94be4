// Package controlplane is the one definition of an ephemeral Kubernetes control plane: etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler and kwok, their certificates and their flags.
// The test harness (internal/testenv/kubecluster) runs it as local processes on loopback; the module's
// preview runs it as Dagger services from the upstream images. Both build their argv and their PKI here,
// so the cluster a test proves things on is the cluster a user previews on, and neither can drift.
//
// This file holds the versions, the images and the Config that says where each piece listens and
// where its files are, with the two layouts in use: Loopback (tests) and Service (preview).
package controlplane

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
)

// Versions of the components. The test harness builds binaries of these versions (.ci/tools); the
// images below are the same versions, so tests and preview run the same code.
const (
	KubernetesVersion = "v1.34.2"
	EtcdVersion       = "v3.6.4"
	KwokVersion       = "v0.7.0"
)

// Upstream images of the versions above: the defaults of preview's image parameters.
const (
	EtcdImage              = "registry.k8s.io/etcd:3.6.4-0"
	APIServerImage         = "registry.k8s.io/kube-apiserver:" + KubernetesVersion
	ControllerManagerImage = "registry.k8s.io/kube-controller-manager:" + KubernetesVersion
	SchedulerImage         = "registry.k8s.io/kube-scheduler:" + KubernetesVersion
	KwokImage              = "registry.k8s.io/kwok/kwok:" + KwokVersion
)

// The Service layout: the hostnames the components reach each other by (Dagger service bindings),
// their ports, and the fixed paths the PKI files and etcd's data are mounted at.
const (
	EtcdHost        = "etcd"
	APIServerHost   = "kube-apiserver"
	EtcdClientPort  = 2379
	EtcdPeerPort    = 2380
	APIServerPort   = 6443
	ServicePKIDir   = "/etc/kubernetes/pki"
	ServiceEtcdData = "/var/lib/etcd"
	ServiceName     = "preview" // etcd's member name and the kubeconfigs' cluster and context name
)

// Settings both layouts share.
const (
	serviceCIDR      = "10.0.0.0/24"
	serviceClusterIP = "10.0.0.1" // the first address of serviceCIDR: the `kubernetes` Service's ClusterIP
	defaultVerbosity = 1
	loopbackAddress  = "127.0.0.1"
	allInterfaces    = "0.0.0.0"
)

// inClusterNames are the names in-cluster clients use for the apiserver; every serving cert carries them.
var inClusterNames = []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}

// Config says where each component listens, how the others reach it, and where the files are. Build it
// with Loopback or Service and adjust; Validate says what is wrong with a hand-made one.
type Config struct {
	// Name is etcd's member name and the cluster and context name in the kubeconfigs.
	Name string

	EtcdDataDir         string // etcd's data directory
	EtcdListenClientURL string // where etcd listens for clients
	EtcdClientURL       string // where clients reach etcd: advertised by etcd, --etcd-servers of the apiserver
	EtcdPeerURL         string // listened on and advertised; a single member has no peers, so loopback serves

	BindAddress      string // the apiserver's --bind-address
	AdvertiseAddress string // the apiserver's --advertise-address; must be an IP (see Service)
	SecurePort       int    // the apiserver's port
	CertDir          string // the apiserver's --cert-dir (unused with our serving cert); empty leaves it out
	ServiceCIDR      string // --service-cluster-ip-range

	// Server is the URL the controller-manager, the scheduler, kwok and the admin kubeconfig use.
	Server string
	// DNSNames and IPs are the serving certificate's SANs; Server's host must be one of them.
	DNSNames []string
	IPs      []net.IP

	PKIDir    string // the directory holding the files of PKI.Files, as the processes see it
	Verbosity int    // klog --v of the Kubernetes components

	// KubeletPort is where kwok serves the kubelet API of its Nodes (pod logs) on KwokNodeIP, with a
	// cert of the kubelet CA. 0 means it serves none: in preview the apiserver could not reach it (kwok's
	// container binds the apiserver's service, so the apiserver cannot bind kwok's), and `kubectl logs`
	// fails there as it always has.
	KubeletPort int
}

// Ports are the loopback ports of a test control plane, each free when picked.
type Ports struct {
	EtcdClient, EtcdPeer, APIServer int
	Kubelet                         int // kwok's kubelet API; 0 leaves it off
}

// Loopback is the test harness's layout: every process on 127.0.0.1 at the given free ports, files
// under dir. The serving cert deliberately lacks "localhost": tests prove a client must use 127.0.0.1
// (or tls-server-name), i.e. that verification is on.
func Loopback(dir string, ports Ports) Config {
	etcdURL := "http://" + net.JoinHostPort(loopbackAddress, strconv.Itoa(ports.EtcdClient))
	return Config{
		Name:                "kubecluster",
		EtcdDataDir:         filepath.Join(dir, "etcd-data"),
		EtcdListenClientURL: etcdURL,
		EtcdClientURL:       etcdURL,
		EtcdPeerURL:         "http://" + net.JoinHostPort(loopbackAddress, strconv.Itoa(ports.EtcdPeer)),
		BindAddress:         loopbackAddress,
		AdvertiseAddress:    loopbackAddress,
		SecurePort:          ports.APIServer,
		CertDir:             filepath.Join(dir, "apiserver-certs"),
		ServiceCIDR:         serviceCIDR,
		Server:              "https://" + net.JoinHostPort(loopbackAddress, strconv.Itoa(ports.APIServer)),
		DNSNames:            append(append([]string(nil), inClusterNames...), "kube-apiserver.test"),
		IPs:                 []net.IP{net.ParseIP(loopbackAddress), net.ParseIP(serviceClusterIP)},
		PKIDir:              filepath.Join(dir, "pki"),
		Verbosity:           defaultVerbosity,
		KubeletPort:         ports.Kubelet,
	}
}

// Service is preview's layout: one container per component, each reached by the hostname of its service
// binding (EtcdHost, APIServerHost), listening on all interfaces, with PKI.Files mounted at ServicePKIDir.
// The serving cert names the apiserver "kube-apiserver", "localhost" and 127.0.0.1, so it verifies
// from the other services, from a tunnel to the host, and from inside its own container.
//
// The advertise address is 127.0.0.1 because kube-apiserver requires an IP there and a container's IP is
// not known before it starts (left unset, the apiserver would guess one from its routes). It is harmless:
// with --endpoint-reconciler-type=none the apiserver never writes it into the `kubernetes` Service's
// Endpoints, and nothing in a preview reaches the apiserver through that Service (kwok's pods run no code).
func Service() Config {
	etcdPort := strconv.Itoa(EtcdClientPort)
	return Config{
		Name:                ServiceName,
		EtcdDataDir:         ServiceEtcdData,
		EtcdListenClientURL: "http://" + net.JoinHostPort(allInterfaces, etcdPort),
		EtcdClientURL:       "http://" + net.JoinHostPort(EtcdHost, etcdPort),
		EtcdPeerURL:         "http://" + net.JoinHostPort(loopbackAddress, strconv.Itoa(EtcdPeerPort)),
		BindAddress:         allInterfaces,
		AdvertiseAddress:    loopbackAddress,
		SecurePort:          APIServerPort,
		ServiceCIDR:         serviceCIDR,
		Server:              "https://" + net.JoinHostPort(APIServerHost, strconv.Itoa(APIServerPort)),
		DNSNames:            append([]string{APIServerHost, "localhost"}, inClusterNames...),
		IPs:                 []net.IP{net.ParseIP(loopbackAddress), net.ParseIP(serviceClusterIP)},
		PKIDir:              ServicePKIDir,
		Verbosity:           defaultVerbosity,
	}
}

// Path is where the processes find one of PKI.Files (a name such as AdminKubeconfigFile).
func (c Config) Path(file string) string { return filepath.Join(c.PKIDir, file) }

// Validate reports the first setting the components would refuse or that would break TLS.
func (c Config) Validate() error {
	for _, u := range []struct{ flag, value string }{
		{"EtcdListenClientURL", c.EtcdListenClientURL}, {"EtcdClientURL", c.EtcdClientURL},
		{"EtcdPeerURL", c.EtcdPeerURL}, {"Server", c.Server},
	} {
		if parsed, err := url.Parse(u.value); err != nil || parsed.Host == "" {
			return fmt.Errorf("controlplane: %s %q is not an absolute URL", u.flag, u.value)
		}
	}
	if net.ParseIP(c.AdvertiseAddress) == nil {
		return fmt.Errorf("controlplane: AdvertiseAddress %q is not an IP; kube-apiserver takes only an IP there", c.AdvertiseAddress)
	}
	if net.ParseIP(c.BindAddress) == nil {
		return fmt.Errorf("controlplane: BindAddress %q is not an IP", c.BindAddress)
	}
	if c.SecurePort <= 0 || c.SecurePort > 65535 {
		return fmt.Errorf("controlplane: SecurePort %d is not a port", c.SecurePort)
	}
	if c.KubeletPort < 0 || c.KubeletPort > 65535 || c.KubeletPort == c.SecurePort {
		return fmt.Errorf("controlplane: KubeletPort %d is not a port of its own (0 turns kwok's kubelet API off)", c.KubeletPort)
	}
	if _, _, err := net.ParseCIDR(c.ServiceCIDR); err != nil {
		return fmt.Errorf("controlplane: ServiceCIDR: %w", err)
	}
	if c.Name == "" || c.EtcdDataDir == "" || !filepath.IsAbs(c.PKIDir) {
		return errors.New("controlplane: Name, EtcdDataDir and an absolute PKIDir are required")
	}
	return c.serverCovered()
}

// serverCovered checks that the serving cert will verify for Server's host: otherwise the controllers,
// kwok and every kubeconfig made here would fail TLS.
func (c Config) serverCovered() error {
	u, _ := url.Parse(c.Server)
	host := u.Hostname()
	if ip := net.ParseIP(host); ip != nil {
		for _, san := range c.IPs {
			if san.Equal(ip) {
				return nil
			}
		}
	}
	for _, name := range c.DNSNames {
		if name == host {
			return nil
		}
	}
	return fmt.Errorf("controlplane: Server %s: host %q is not among the serving cert's SANs (DNSNames %v, IPs %v); add it", c.Server, host, c.DNSNames, c.IPs)
}
