package badger

import (
	"context"
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if readStore.s != nil {
		readStore.s.Shutdown(context.Background())
	}
	if readStore.dir != "" {
		os.RemoveAll(readStore.dir)
	}
	os.Exit(code)
}
