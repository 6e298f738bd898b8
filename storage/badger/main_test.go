package badger

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if readStore.s != nil {
		readStore.s.Close()
	}
	if readStore.dir != "" {
		os.RemoveAll(readStore.dir)
	}
	os.Exit(code)
}
