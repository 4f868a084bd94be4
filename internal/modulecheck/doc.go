// Package modulecheck holds tests that read the Dagger module's root source (doc comments and pragmas) the way
// Dagger's codegen does, since no engine runs here to show `dagger functions`. Package main cannot be tested
// directly: its generated client panics at init without an engine session.
package modulecheck
