//go:build ignore

// gen regenerates storage.pb.go and storage_grpc.pb.go from storage.proto.
// Run it with `go generate` in this folder (see ../README.md). It needs
// protoc, protoc-gen-go and protoc-gen-go-grpc on PATH.
//
// storage.proto imports OTLP's trace.proto. Rather than a copy of the OTLP
// .proto files, gen hands protoc the descriptors compiled into the Go module
// go.opentelemetry.io/proto/otlp that go.mod selects, so the generated code
// always matches the OTLP types it is linked with.
package main

import (
	"log"
	"os"
	"os/exec"
	"path/filepath"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

func main() {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) { // dependencies first
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := 0; i < imports.Len(); i++ {
			add(imports.Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	add(tracepb.File_opentelemetry_proto_trace_v1_trace_proto)
	b, err := proto.Marshal(set)
	if err != nil {
		log.Fatalf("cannot encode the otlp descriptors: %v", err)
	}
	dir, err := os.MkdirTemp("", "scry-protoc")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	otlp := filepath.Join(dir, "otlp.binpb")
	if err := os.WriteFile(otlp, b, 0o644); err != nil {
		log.Fatal(err)
	}
	cmd := exec.Command("protoc",
		"--proto_path=.",
		"--descriptor_set_in="+otlp,
		"--go_out=.", "--go_opt=paths=source_relative",
		"--go-grpc_out=.", "--go-grpc_opt=paths=source_relative",
		"storage.proto")
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		log.Fatalf("protoc: %v", err)
	}
}
