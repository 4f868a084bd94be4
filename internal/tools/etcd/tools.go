//go:build tools

// Package etcd pins the etcd server used by the real-cluster tests
// (internal/testenv/kubecluster); Debian's etcd-server is too old for
// Kubernetes 1.34. .ci/tools builds it with
//
//	go -C internal/tools/etcd build -trimpath -o DIR/etcd go.etcd.io/etcd/server/v3
package etcd

import _ "go.etcd.io/etcd/server/v3"
