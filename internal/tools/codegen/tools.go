//go:build tools

// Package codegen pins Dagger's code generator so the module's SDK code can be
// regenerated offline, from the module proxy, at exactly the engine's version.
package codegen

import _ "github.com/dagger/dagger/cmd/codegen"
