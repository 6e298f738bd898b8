package natstest

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/scrytrace/scry/internal/testbin"
	"github.com/scrytrace/scry/internal/testkit"
)

func TestMain(m *testing.M) {
	code := m.Run()
	testbin.Cleanup()
	os.Exit(code)
}

func connect(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// createStream creates a stream, trying again while a just-formed cluster
// is too busy to answer within the API timeout.
func createStream(t *testing.T, js jetstream.JetStream, cfg jetstream.StreamConfig) {
	t.Helper()
	testkit.EventuallyNoError(t, time.Minute, "stream "+cfg.Name+" to be created", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, cfg)
		return err
	})
}

// publish publishes n messages, each acknowledged (retried while the
// cluster elects a leader).
func publish(t *testing.T, js jetstream.JetStream, n int, what string) {
	t.Helper()
	for i := range n {
		testkit.EventuallyNoError(t, 30*time.Second, what, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_, err := js.Publish(ctx, "t.x", []byte(fmt.Sprint(i)), jetstream.WithMsgID(what+fmt.Sprint(i)))
			return err
		})
	}
}

// TestClusterSurvivesKillAndCut: an R3 stream keeps acknowledging with a
// node killed, the node comes back with its store and catches up; a node
// cut off its routes cannot acknowledge while the others can, and can
// again once healed.
func TestClusterSurvivesKillAndCut(t *testing.T) {
	c := Start(t, Options{Nodes: 3})
	js := connect(t, c.URL(0))
	ctx := context.Background()
	createStream(t, js, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}, Replicas: 3, Storage: jetstream.FileStorage})
	publish(t, js, 100, "before the kill")
	c.Kill(2)
	publish(t, js, 100, "with n2 killed")
	c.Restart(2)
	c.WaitReady(t, time.Minute) // /healthz: n2's replica is current again
	s, err := js.Stream(ctx, "T")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().State.Msgs; got != 200 {
		t.Errorf("stream holds %d messages, want 200", got)
	}

	cutJS := connect(t, c.URL(1))
	c.Cut(1)
	testkit.EventuallyWithin(t, 30*time.Second, "n1, cut off, to stop acknowledging", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := cutJS.Publish(ctx, "t.x", []byte("cut"))
		return err != nil
	})
	publish(t, js, 50, "with n1 cut off") // n0 and n2 are a quorum
	c.Heal(1)
	publish(t, cutJS, 10, "through n1 once healed")
	c.WaitReady(t, time.Minute)
}

// TestSingleNode: one node runs JetStream without a cluster.
func TestSingleNode(t *testing.T) {
	c := Start(t, Options{Nodes: 1})
	js := connect(t, c.URLs()[0])
	createStream(t, js, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	publish(t, js, 10, "one node")
}
