package badger

import (
	"context"
	"fmt"
	"sort"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/storage"
)

// Each tenant's data is a key space of its own in the one Badger database
// (kv.go, FORMAT.md "Tenants"), kept by a Store of its own that shares the
// engine (database, life, disk, upkeep) with the default tenant's Store,
// the one New returns. Calls on that Store for another tenant (the tenant
// on their context) go to the tenant's Store, created the first time the
// tenant is used and, after a restart, when the database is opened.

// space returns the Store that keeps the tenant on ctx: s itself for the
// default tenant (and when s is already a tenant's). A tenant's Store is
// made on first use; the name is checked first, so a name that is not valid
// makes no key and no state. The caller does not hold life.
func (s *Store) space(ctx context.Context) (*Store, error) {
	t := storage.TenantFrom(ctx)
	if t == "" || s.tenant != "" {
		return s, nil
	}
	s.spacesMu.RLock() // every call for a tenant passes here
	sp := s.spaces[t]
	s.spacesMu.RUnlock()
	if sp != nil {
		return sp, nil
	}
	if err := storage.ValidateTenant(t); err != nil {
		return nil, err
	}
	if err := s.enter(ctx); err != nil {
		return nil, err
	}
	defer s.life.RUnlock()
	s.spacesMu.Lock()
	defer s.spacesMu.Unlock()
	if sp := s.spaces[t]; sp != nil {
		return sp, nil
	}
	// A tenant never seen has an empty key space: loading it reads a few
	// keys and writes none.
	sp = s.newSpace(t)
	if err := sp.loadSpace(); err != nil {
		return nil, fmt.Errorf("cannot open the store of tenant %q: %w", t, err)
	}
	s.spaces[t] = sp
	return sp, nil
}

// newSpace returns a Store for tenant sharing s's engine, not yet loaded.
func (s *Store) newSpace(tenant string) *Store {
	return &Store{engine: s.engine, cfg: s.cfg, width: s.width, tenant: tenant,
		db: kvDB{e: s.engine, ns: tenantSpace(tenant)}}
}

// loadTenants finds the tenants with data in the database and loads their
// Stores, so that their upkeep (retention above all) runs whether or not
// they are used after a restart. Each tenant costs one seek.
func (s *Store) loadTenants() error {
	s.spacesMu.Lock()
	defer s.spacesMu.Unlock()
	s.spaces = map[string]*Store{}
	var names []string
	err := s.bdb.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: false, Prefix: []byte{prefixTenant}})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			k := it.Item().Key()
			if len(k) < 2 || len(k) < 2+int(k[1]) {
				return fmt.Errorf("damaged tenant key %x", k)
			}
			name := string(k[2 : 2+int(k[1])])
			if err := storage.ValidateTenant(name); err != nil {
				return fmt.Errorf("damaged tenant key %x: %w", k, err)
			}
			names = append(names, name)
			// Past every key of this tenant: its prefix then 0xff...
			// sorts after them all, as no key byte after the prefix
			// compares above a longer run of 0xff.
			past := append(tenantSpace(name), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
			it.Seek(past)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot list tenants: %w", err)
	}
	for _, name := range names {
		sp := s.newSpace(name)
		if err := sp.loadSpace(); err != nil {
			return fmt.Errorf("cannot open the store of tenant %q: %w", name, err)
		}
		s.spaces[name] = sp
	}
	return nil
}

// allSpaces returns the default tenant's Store and every tenant's, the
// default first then by tenant name.
func (s *Store) allSpaces() []*Store {
	s.spacesMu.RLock()
	out := make([]*Store, 0, 1+len(s.spaces))
	for _, sp := range s.spaces {
		out = append(out, sp)
	}
	s.spacesMu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].tenant < out[j].tenant })
	return append([]*Store{s}, out...)
}

// Tenants returns the names of the tenants other than the default one whose
// data the store holds or has been asked for since it opened, sorted.
func (s *Store) Tenants() []string {
	var out []string
	for _, sp := range s.allSpaces()[1:] {
		out = append(out, sp.tenant)
	}
	return out
}
