// The argv (after the binary name) of each component, from a Config. These are the flags the test
// control plane has been proven with (FACTS: apply, server-side apply, dry-run, diff, rollouts, RBAC):
// one list here keeps preview's containers from quietly running a different control plane.
package controlplane

import (
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
func (c Config) KwokArgs() []string {
	return []string{
		"--kubeconfig=" + c.Path(AdminKubeconfigFile),
		"--manage-all-nodes=true",
		"--enable-crds=Stage",
		"--cidr=" + KwokPodCIDR,
		"--node-ip=" + KwokNodeIP,
	}
}

func (c Config) verbosity() string { return "--v=" + strconv.Itoa(c.Verbosity) }
