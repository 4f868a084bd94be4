//go:build tools

// Package kubernetes pins the Kubernetes control-plane binaries used by the
// real-cluster tests (internal/testenv/kubecluster). .ci/tools builds them:
//
//	go -C internal/tools/kubernetes build -trimpath -o DIR \
//	    k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
//	    k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl
package kubernetes

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
