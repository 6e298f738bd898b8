package app_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/scrytrace/scry/internal/admin"
	"github.com/scrytrace/scry/internal/app"
	"github.com/scrytrace/scry/internal/telemetry"
)

// failing is a part that fails after it started, when told to, and whose
// Shutdown waits until the test lets it go on.
type failing struct {
	tel      telemetry.Settings
	fail     chan struct{}
	shutdown chan struct{}
	stopped  bool
}

func (f *failing) Start(context.Context) error {
	go func() {
		<-f.fail
		f.tel.Fail(errors.New("the disk went away"))
	}()
	return nil
}

func (f *failing) Shutdown(context.Context) error {
	<-f.shutdown
	f.stopped = true
	return nil
}

func readyz(t *testing.T, addr string) (int, string) {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// A part that fails after start makes /readyz answer not ready with the
// error, and Run shut every part down and return the error.
func TestRunEndsOnFailure(t *testing.T) {
	tel := telemetry.Settings{Failures: telemetry.NewFailures()}
	adm := admin.New("127.0.0.1:0", nil, prometheus.NewRegistry(), tel)
	f := &failing{tel: tel, fail: make(chan struct{}), shutdown: make(chan struct{})}
	started := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- app.Run(context.Background(), tel, []app.Named{{Name: "admin", Part: adm}, {Name: "failing", Part: f}},
			func() { adm.SetReady(true); close(started) }, 5*time.Second)
	}()
	<-started
	if code, body := readyz(t, adm.Addr().String()); code != http.StatusOK {
		t.Fatalf("/readyz before the failure: %d %q", code, body)
	}
	close(f.fail)
	<-tel.Failures.Failed()
	// The failing part is shut down first (reverse order) and waits: the
	// admin server still answers, not ready, saying why.
	code, body := readyz(t, adm.Addr().String())
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "the disk went away") {
		t.Fatalf("/readyz after the failure: %d %q, want 503 with the error", code, body)
	}
	close(f.shutdown)
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "the disk went away") {
			t.Fatalf("Run returned %v, want the failure", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the failure")
	}
	if !f.stopped {
		t.Fatal("the failing part was not shut down")
	}
}

// Without a failure, Run ends when its context does and returns nil.
func TestRunEndsWithContext(t *testing.T) {
	tel := telemetry.Settings{Failures: telemetry.NewFailures()}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := false
	part := app.Funcs{ShutdownFunc: func(context.Context) error { stopped = true; return nil }}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx, tel, []app.Named{{Name: "p", Part: part}}, cancel, time.Second) }()
	if err := <-done; err != nil || !stopped {
		t.Fatalf("Run = %v, part stopped %v", err, stopped)
	}
}
