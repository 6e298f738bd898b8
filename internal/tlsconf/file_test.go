package tlsconf_test

import (
	"bytes"
	"os"
	"sync"
)

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// syncBuffer is a bytes.Buffer safe for concurrent use, for logs written
// by a server's goroutines and read by the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
