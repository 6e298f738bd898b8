package spool

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
)

// ReplayStats says what Replay read back.
type ReplayStats struct {
	Segments int   // segment files read
	Records  int   // records handed to the callback
	Bytes    int64 // payload bytes handed to the callback
	// Damaged counts segments that ended early: a torn last record (the
	// process stopped while writing it), a checksum that does not match, or
	// a file that is not a spool segment. What follows the damage is
	// skipped.
	Damaged int
}

// Replay reads back the records of the segments found at Open, oldest
// first, and calls fn with each: its tenant ("" for none, and for every
// record of a version 1 segment) and payload. fn owns payload; ref is released with
// Release once the record is no longer needed (a record fn saw but did not
// release stays on disk). When fn returns an error or ctx ends, Replay stops
// and returns it; the records not yet read stay on disk for the next Open.
// A segment is deleted once read to its end and every record of it
// released. Call Replay at most once, after Open.
func (s *Spool) Replay(ctx context.Context, fn func(tenant string, payload []byte, ref *Ref) error) (ReplayStats, error) {
	var st ReplayStats
	s.mu.Lock()
	segs := append([]*segment(nil), s.old...)
	s.mu.Unlock()
	for _, seg := range segs {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		st.Segments++
		damaged, err := s.replaySegment(ctx, seg, &st, fn)
		if err != nil {
			return st, err
		}
		if damaged != nil {
			st.Damaged++
			s.logger.Warn("spool segment is damaged; what follows the damage is skipped", "path", seg.path, "err", damaged)
		}
		s.mu.Lock()
		seg.readDone = true
		s.maybeRemove(seg)
		s.mu.Unlock()
	}
	return st, nil
}

// replaySegment reads one segment. It returns damaged for a segment that
// ends early, and err when fn or ctx stopped the replay.
func (s *Spool) replaySegment(ctx context.Context, seg *segment, st *ReplayStats, fn func(string, []byte, *Ref) error) (damaged, err error) {
	f, err := os.Open(seg.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return fmt.Errorf("cannot open: %w", err), nil
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 64<<10)
	var hdr [headerLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return fmt.Errorf("cannot read segment header: %w", err), nil
	}
	var v1 bool // records without a tenant
	switch string(hdr[:]) {
	case magic:
	case magicV1:
		v1 = true
	default:
		return fmt.Errorf("not a spool segment (header %q)", hdr[:]), nil
	}
	left := seg.size - headerLen
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		var rh [recHeaderLen]byte
		n, err := io.ReadFull(r, rh[:])
		if err == io.EOF {
			return nil, nil
		}
		if err != nil {
			return fmt.Errorf("torn record header (%d bytes): %w", n, err), nil
		}
		left -= recHeaderLen
		size := int64(binary.LittleEndian.Uint32(rh[0:4]))
		sum := binary.LittleEndian.Uint32(rh[4:8])
		if size > left {
			return fmt.Errorf("record of %d bytes is longer than the %d bytes left in the file", size, left), nil
		}
		body := make([]byte, size)
		if _, err := io.ReadFull(r, body); err != nil {
			return fmt.Errorf("torn record: %w", err), nil
		}
		left -= size
		if crc32.Checksum(body, castagnoli) != sum {
			return fmt.Errorf("record checksum mismatch"), nil
		}
		var tenant string
		payload := body
		if !v1 {
			if len(body) == 0 || int(body[0]) > len(body)-1 {
				return fmt.Errorf("record of %d bytes cannot hold its tenant", len(body)), nil
			}
			tenant, payload = string(body[1:1+int(body[0])]), body[1+int(body[0]):]
		}
		s.mu.Lock()
		seg.pending++
		s.mu.Unlock()
		if err := fn(tenant, payload, &Ref{seg: seg}); err != nil {
			s.mu.Lock()
			seg.pending--
			s.mu.Unlock()
			return nil, err
		}
		st.Records++
		st.Bytes += int64(len(payload))
	}
}
