package remote

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"

	"google.golang.org/grpc/metadata"

	"github.com/scrytrace/scry/model"
)

// This file is the Client's partitioned mode (Config.Router): the stores
// behind the Client each hold some partitions of the data, several hold the
// same partition, and a call asks, for each partition, one address that
// holds it — naming the partition in the call's metadata, since one
// address may serve several partitions from separate stores.

// PartitionHeader is the gRPC metadata key naming the partition a call
// reads (decimal); the Server of a partitioned store requires it.
const PartitionHeader = "x-scry-partition"

// A Router says which addresses hold which partition, call by call. It must
// be safe for concurrent use.
type Router interface {
	// Route returns, for each partition of parts (every partition when
	// parts is nil), the addresses that can answer for it now, best
	// first; a partition with no address is in the result with none.
	Route(parts []int) []Route
	// PartitionOf returns the partition that holds a trace.
	PartitionOf(id model.TraceID) int
}

// Route is one partition and the addresses that hold it, best first.
type Route struct {
	Partition int
	Addrs     []string
}

// routedTargets turns the router's routes for parts into targets: one per
// partition, its best address first and the others as alternates. Called
// with c.mu held for writing: it dials addresses not seen before.
func (c *Client) routedTargets(parts []int) []target {
	routes := c.cfg.Router.Route(parts)
	out := make([]target, 0, len(routes))
	for _, r := range routes {
		t := target{partition: r.Partition, name: "partition " + strconv.Itoa(r.Partition)}
		for _, addr := range r.Addrs {
			b, err := c.routedBackend(addr)
			if err != nil {
				c.logger.Error("cannot set up a connection to a partition's owner", "partition", r.Partition, "addr", addr, "err", err)
				continue
			}
			if t.b == nil {
				t.b, t.name = b, fmt.Sprintf("%s (partition %d)", addr, r.Partition)
			} else {
				t.alts = append(t.alts, b)
			}
		}
		if t.b == nil {
			t.err, t.missing = fmt.Errorf("no ready owner of partition %d", r.Partition), true
		}
		out = append(out, t)
	}
	return out
}

// routedBackend returns the connection to addr, set up on first use (no
// I/O: gRPC connects on the first call). Called with c.mu held for writing.
func (c *Client) routedBackend(addr string) (*backend, error) {
	if b, ok := c.routed[addr]; ok {
		return b, nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("owner address %q is not host:port: %w", addr, err)
	}
	b, err := c.dial(&endpoint{spec: addr, host: host, port: port, fixed: true}, addr)
	if err != nil {
		return nil, err
	}
	if c.routed == nil {
		c.routed = map[string]*backend{}
	}
	c.routed[addr] = b
	return b, nil
}

// partitionsOf returns the partitions of ids, each once, for a routed
// Client; nil (every partition) otherwise.
func (c *Client) partitionsOf(ids ...model.TraceID) []int {
	if c.cfg.Router == nil {
		return nil
	}
	parts := make([]int, 0, 1)
	for _, id := range ids {
		if p := c.cfg.Router.PartitionOf(id); !slices.Contains(parts, p) {
			parts = append(parts, p)
		}
	}
	return parts
}

// withPartition names the target's partition in the call's metadata.
func withPartition(ctx context.Context, t target) context.Context {
	if t.partition < 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, PartitionHeader, strconv.Itoa(t.partition))
}
