// Package sigstorecheck proves that the bundles internal/signing writes are
// what the standard Sigstore tooling reads, and the reverse, using sigstore-go
// v1.3.0 itself. It is its own module so that sigstore-go (hundreds of
// packages) never enters ship's module graph or its compile: ship's library
// stays stdlib-only, and this check is what keeps it honest.
package sigstorecheck
