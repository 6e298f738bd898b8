package badger

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"

	"github.com/scrytrace/scry/storage"
)

// positionKey holds how far into a log the store holds every span: in the
// scale-out topology, the sequence of the last JetStream message of the
// store's partition whose spans are committed (collector/ingester).
var positionKey = []byte{prefixMeta, 'p', 'o', 's', 'i', 't', 'i', 'o', 'n'}

// Position returns the log position recorded by SetPosition, or 0 when none
// was. It is safe to call concurrently with writes.
func (s *Store) Position() (uint64, error) {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return 0, storage.ErrClosed
	}
	var pos uint64
	err := s.db.View(func(txn *kvTxn) error {
		item, err := txn.Get(positionKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("log position of %d bytes, not 8", len(v))
			}
			pos = binary.BigEndian.Uint64(v)
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("cannot read the log position: %w", err)
	}
	return pos, nil
}

// SetPosition records pos as the log position, durably (unless NoSync) when
// it returns. Call it after the writes of every message up to pos have
// returned: a crash between the two makes the log be read again from the
// older position, which idempotent writes make harmless. It takes the
// default tenant's key space whatever the context's tenant.
func (s *Store) SetPosition(pos uint64) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	if err := s.disk.check(); err != nil {
		return err
	}
	if s.readOnly {
		return fmt.Errorf("cannot record the log position: the store was opened read-only on a full disk: %w", storage.ErrNoSpace)
	}
	if err := s.db.Update(func(txn *kvTxn) error {
		return txn.Set(positionKey, binary.BigEndian.AppendUint64(nil, pos))
	}); err != nil {
		return fmt.Errorf("cannot record the log position: %w", err)
	}
	return nil
}
