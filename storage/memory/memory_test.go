package memory_test

import (
	"testing"

	"github.com/scrytrace/scry/storage"
	"github.com/scrytrace/scry/storage/memory"
	"github.com/scrytrace/scry/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Store { return memory.New() })
}

func TestConformanceTenants(t *testing.T) {
	storagetest.RunTenants(t, func(t *testing.T) storage.Store { return memory.New() })
}
