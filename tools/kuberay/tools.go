//go:build tools

// Package tools pins KubeRay's operator (main.go at its module root) for `go mod tidy`.
package tools

import _ "github.com/ray-project/kuberay/ray-operator"
