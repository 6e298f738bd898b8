// Package importrules holds the test that keeps Scry's layers pointing one
// way (DESIGN.md, "Layers point one way"): model imports no other Scry
// package; query speaks only the storage interfaces, never a backend; the
// agent links no store and no UI; the collector does not import query; the
// UI package imports none of the layers.
//
// The rules apply to the code built into the binaries (each package's
// non-test files, followed transitively); tests may import what they need,
// such as a real store. A failure names the import chain that broke the
// rule, file by file. The package has no code of its own: the rules and
// their check are in its test.
package importrules
