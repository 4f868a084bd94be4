// The argv (after the binary name) of each component, from a Config. These are the flags the test
// control plane has been proven with (FACTS: apply, server-side apply, dry-run, diff, rollouts, RBAC):
// one list here keeps preview's containers from quietly running a different control plane.
package controlplane

import (
	"net"
	"strconv"
)

// Fixed settings of every control plane made here.
const (
	// ServiceAccountIssuer is the issuer of service-account tokens.
	ServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"
	// KwokPodCIDR is where kwok takes fake pod IPs from; KwokNodeIP is the fake nodes' address.
	KwokPodCIDR = "10.244.0.1/16"
	KwokNodeIP  = "127.0.0.1"
)

// EtcdArgs runs a single-member etcd without fsync: the data is thrown away with the cluster, and fsync
// is what makes etcd slow on a shared disk.
func (c Config) EtcdArgs() []string {
	return []string{
		"--name=" + c.Name,
		"--data-dir=" + c.EtcdDataDir,
		"--listen-client-urls=" + c.EtcdListenClientURL,
		"--advertise-client-urls=" + c.EtcdClientURL,
		"--listen-peer-urls=" + c.EtcdPeerURL,
		"--initial-advertise-peer-urls=" + c.EtcdPeerURL,
		"--initial-cluster=" + c.Name + "=" + c.EtcdPeerURL,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
}

// APIServerArgs runs kube-apiserver envtest-style: client-cert authentication against the client CA,
// real RBAC, no endpoint reconciler (one apiserver, nothing routes to it through the kubernetes
// Service), and no ServiceAccount admission (no token controller is needed for pods to be created).
// It reaches a Node's kubelet (pods/log) at its InternalIP, kwok's KwokNodeIP (the default tries the
// Hostname first, a Node name nothing resolves), and verifies it with the kubelet CA: kwok asks for no
// client cert, so none is given.
func (c Config) APIServerArgs() []string {
	args := []string{"--etcd-servers=" + c.EtcdClientURL}
	if c.CertDir != "" {
		args = append(args, "--cert-dir="+c.CertDir)
	}
	return append(args,
		"--tls-cert-file="+c.Path(ServingCertFile),
		"--tls-private-key-file="+c.Path(ServingKeyFile),
		"--client-ca-file="+c.Path(ClientCAFile),
		"--service-account-key-file="+c.Path(ServiceAccountPubFile),
		"--service-account-signing-key-file="+c.Path(ServiceAccountKeyFile),
		"--service-account-issuer="+ServiceAccountIssuer,
		"--authorization-mode=RBAC",
		"--service-cluster-ip-range="+c.ServiceCIDR,
		"--endpoint-reconciler-type=none",
		"--disable-admission-plugins=ServiceAccount",
		"--allow-privileged=true",
		"--bind-address="+c.BindAddress,
		"--advertise-address="+c.AdvertiseAddress,
		"--secure-port="+strconv.Itoa(c.SecurePort),
		"--profiling=false",
		"--kubelet-preferred-address-types=InternalIP",
		"--kubelet-certificate-authority="+c.Path(KubeletCAFile),
		c.verbosity(),
	)
}

// ControllerManagerArgs runs the controllers (see controllerArgs) signing with the service-account key.
func (c Config) ControllerManagerArgs() []string {
	return append(c.controllerArgs(),
		"--service-account-private-key-file="+c.Path(ServiceAccountKeyFile),
		"--root-ca-file="+c.Path(ServingCAFile),
		"--use-service-account-credentials=false",
		c.verbosity(),
	)
}

// SchedulerArgs runs the scheduler (see controllerArgs).
func (c Config) SchedulerArgs() []string {
	return append(c.controllerArgs(), c.verbosity())
}

// controllerArgs are the controller-manager's and the scheduler's common flags: admin credentials, no
// leader election (there is one of each) and no serving port (nothing scrapes it; one fewer to collide).
func (c Config) controllerArgs() []string {
	return []string{
		"--kubeconfig=" + c.Path(AdminKubeconfigFile),
		"--leader-elect=false",
		"--secure-port=0",
	}
}

// KwokArgs runs kwok as the kubelet of every Node, with its stages taken from Stage objects (create
// StageCRD and Stages before it starts; see kwok.go). kwok also reads $HOME/.kwok/kwok.yaml: run it
// with a HOME that has none.
//
// With a KubeletPort, kwok also serves the kubelet API there, on KwokNodeIP only, with the kubelet
// cert, and takes pod logs from Logs and ClusterLogs objects (create LogsCRDs first). --node-port puts
// the port into each Node's daemonEndpoints, where the apiserver looks for it.
func (c Config) KwokArgs() []string {
	crds := "Stage"
	if c.KubeletPort != 0 {
		crds += ",Logs,ClusterLogs"
	}
	args := []string{
		"--kubeconfig=" + c.Path(AdminKubeconfigFile),
		"--manage-all-nodes=true",
		"--enable-crds=" + crds,
		"--cidr=" + KwokPodCIDR,
		"--node-ip=" + KwokNodeIP,
	}
	if c.KubeletPort == 0 {
		return args
	}
	port := strconv.Itoa(c.KubeletPort)
	return append(args,
		"--node-port="+port,
		"--server-address="+net.JoinHostPort(KwokNodeIP, port),
		"--tls-cert-file="+c.Path(KubeletCertFile),
		"--tls-private-key-file="+c.Path(KubeletKeyFile),
	)
}

func (c Config) verbosity() string { return "--v=" + strconv.Itoa(c.Verbosity) }
