// Package deploytest checks what deploy/ ships, with no cluster and no
// container engine: it renders every kustomize overlay (with kustomize's own
// library) and the Helm chart in each mode (with Helm's own engine), decodes
// every object strictly into the Kubernetes API types, and checks what a
// cluster would otherwise only reveal at run time: probes, resources and
// security settings on every container, Services whose ports reach a
// container, flags that the Scry binaries really have, addresses and files
// that exist where the arguments point, and Dockerfiles that are well formed.
// It then runs the processes that the production, sidecar and scale-out
// overlays describe (the scale-out one with real nats-servers, the version
// go.mod pins), with their own arguments, on loopback addresses, and checks
// that traces sent by an app come back whole.
//
// The package has only tests; Helm and kustomize are test-only dependencies.
package deploytest
