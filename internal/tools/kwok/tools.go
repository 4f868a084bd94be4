//go:build tools

// Package kwok pins kwok, which plays the kubelet for the Node of the
// real-cluster tests (internal/testenv/kubecluster). It lives in a module of
// its own because its dependencies conflict with k8s.io/kubernetes v1.34.
// .ci/tools builds it with
//
//	go -C internal/tools/kwok build -trimpath -o DIR/kwok sigs.k8s.io/kwok/cmd/kwok
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
