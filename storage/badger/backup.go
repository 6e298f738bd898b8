package badger

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/scrytrace/scry/storage"
)

// Backup writes a copy of the whole store, every tenant's key space, as it
// was when Backup began, to w in Badger's backup format (Restore reads
// it). Writes and reads go on meanwhile: the copy is a snapshot, as
// consistent as the store after a crash at that moment, so its log
// position (Position) is at least the one read just before Backup. It
// returns w's error, if any, as soon as a write to w fails.
func (s *Store) Backup(w io.Writer) error {
	s.life.RLock()
	defer s.life.RUnlock()
	if s.closed {
		return storage.ErrClosed
	}
	st := s.bdb.NewStream()
	st.LogPrefix = "scry backup"
	// Two goroutines read the tables: the store shares its two cores with
	// the writes it keeps taking.
	st.NumGo = 2
	fw := &frameWriter{w: w}
	if _, err := io.WriteString(w, backupMagic); err != nil {
		return fmt.Errorf("cannot back up the store in %s: %w", s.cfg.Dir, err)
	}
	if _, err := st.Backup(fw, 0); err != nil {
		return fmt.Errorf("cannot back up the store in %s: %w", s.cfg.Dir, err)
	}
	if err := fw.end(); err != nil {
		return fmt.Errorf("cannot back up the store in %s: %w", s.cfg.Dir, err)
	}
	return nil
}

// A backup is backupMagic, then Badger's backup stream in frames of a
// 4-byte big-endian length and that many bytes, then a frame of length 0:
// a copy cut short anywhere lacks the last frame, which Badger's own
// format (read until EOF) would not notice.
const backupMagic = "scry-store-backup-1\n"

type frameWriter struct{ w io.Writer }

func (f *frameWriter) Write(p []byte) (int, error) {
	for rest := p; len(rest) > 0; {
		n := min(len(rest), 1<<30)
		if _, err := f.w.Write(binary.BigEndian.AppendUint32(nil, uint32(n))); err != nil {
			return 0, err
		}
		if _, err := f.w.Write(rest[:n]); err != nil {
			return 0, err
		}
		rest = rest[n:]
	}
	return len(p), nil
}

func (f *frameWriter) end() error {
	_, err := f.w.Write([]byte{0, 0, 0, 0})
	return err
}

// frameReader reads the frames frameWriter wrote, failing with
// io.ErrUnexpectedEOF if they end before the last one.
type frameReader struct {
	r    *bufio.Reader
	left uint32
	done bool
}

func (f *frameReader) Read(p []byte) (int, error) {
	for f.left == 0 {
		if f.done {
			return 0, io.EOF
		}
		var h [4]byte
		if _, err := io.ReadFull(f.r, h[:]); err != nil {
			return 0, cutShort(err)
		}
		f.left = binary.BigEndian.Uint32(h[:])
		f.done = f.left == 0
	}
	n, err := f.r.Read(p[:min(len(p), int(f.left))])
	f.left -= uint32(n)
	if err != nil && n == 0 {
		return 0, cutShort(err)
	}
	return n, nil
}

func cutShort(err error) error {
	if errors.Is(err, io.EOF) {
		return fmt.Errorf("the backup ends before its last frame: %w", io.ErrUnexpectedEOF)
	}
	return err
}

// Restore fills cfg.Dir, which must not hold a store, from a copy Backup
// wrote; a Store then opens it as it was when the copy was made. The copy
// is loaded into a folder beside cfg.Dir and renamed into place when it is
// whole, so that a crash midway never leaves a partial store to open. A
// damaged or truncated copy is an error, and Restore removes what it
// wrote.
func Restore(cfg Config, r io.Reader, log *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("invalid badger store config: %w", err)
	}
	if hasStore(cfg.Dir) {
		return fmt.Errorf("cannot restore into %s: it holds a store already", cfg.Dir)
	}
	if ents, err := os.ReadDir(cfg.Dir); err == nil && len(ents) > 0 {
		return fmt.Errorf("cannot restore into %s: the folder is not empty", cfg.Dir)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	tmp := filepath.Clean(cfg.Dir) + ".restoring"
	if err := os.RemoveAll(tmp); err != nil { // what a crash midway left
		return fmt.Errorf("cannot restore into %s: %w", cfg.Dir, err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("cannot restore into %s: %w", cfg.Dir, err)
	}
	tcfg := cfg
	tcfg.Dir = tmp
	if err := load(tcfg, r, log); err != nil {
		return errors.Join(fmt.Errorf("cannot restore into %s: %w", cfg.Dir, err), os.RemoveAll(tmp))
	}
	_ = os.Remove(cfg.Dir) // empty, if it exists
	if err := os.Rename(tmp, cfg.Dir); err != nil {
		return errors.Join(fmt.Errorf("cannot restore into %s: %w", cfg.Dir, err), os.RemoveAll(tmp))
	}
	return syncDir(filepath.Dir(filepath.Clean(cfg.Dir)))
}

// load writes the copy r into a new Badger database in cfg.Dir.
func load(cfg Config, r io.Reader, log *slog.Logger) error {
	br := bufio.NewReaderSize(r, 1<<20)
	magic := make([]byte, len(backupMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != backupMagic {
		return errors.New("not a Scry store backup")
	}
	db, err := openBadger(badgerOptions(cfg, log))
	if err != nil {
		return err
	}
	if err := db.Load(&frameReader{r: br}, 64); err != nil {
		db.Close()
		return err
	}
	return db.Close()
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// HasStore reports whether dir holds a store (or another Badger database).
func HasStore(dir string) bool { return hasStore(dir) }
