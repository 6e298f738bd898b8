package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/scrytrace/scry/model/jaegerthrift"
)

// packet is one UDP datagram waiting to be decoded.
type packet struct {
	data      []byte
	compact   bool
	transport string
}

// udpListener is one UDP socket and its reader.
type udpListener struct {
	conn      *net.UDPConn
	transport string
	compact   bool
}

// listenUDP binds addr and sizes its receive buffer.
func (a *Agent) listenUDP(ctx context.Context, addr, transport string, compact bool) (*udpListener, error) {
	var lc net.ListenConfig
	pc, err := lc.ListenPacket(ctx, "udp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen for %s on %s: %w", transport, addr, err)
	}
	conn := pc.(*net.UDPConn)
	if want := a.cfg.UDPBufferBytes; want > 0 {
		got, err := setReadBuffer(conn, want)
		switch {
		case err != nil:
			a.logger.Warn("cannot set the UDP receive buffer", "transport", transport, "want_bytes", want, "err", err)
		case got > 0 && got < want:
			a.logger.Warn("the kernel gave a smaller UDP receive buffer than asked; bursts may be dropped by the kernel (raise net.core.rmem_max)",
				"transport", transport, "want_bytes", want, "got_bytes", got)
		}
	}
	a.logger.Info("udp intake listening", "transport", transport, "addr", conn.LocalAddr().String())
	return &udpListener{conn: conn, transport: transport, compact: compact}, nil
}

// readUDP copies datagrams off the socket into the decoders' queue until the
// socket is closed. It never waits for anything but the socket: a packet
// that does not fit the queue is dropped.
func (a *Agent) readUDP(l *udpListener) {
	buf := make([]byte, 1<<16) // larger than MaxPacketBytes, so oversized packets show
	received := a.m.packets.WithLabelValues(l.transport)
	for {
		n, err := l.conn.Read(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			a.throttled.warn("udp read failed", "transport", l.transport, "err", err)
			time.Sleep(10 * time.Millisecond) // do not spin on a lasting error
			continue
		}
		received.Inc()
		if n > MaxPacketBytes {
			a.m.packetsDropped.WithLabelValues(l.transport, packetOversized).Inc()
			continue
		}
		if a.udpQueued.Add(int64(n)) > int64(a.cfg.UDPQueueBytes) {
			a.udpQueued.Add(-int64(n))
			a.m.packetsDropped.WithLabelValues(l.transport, packetQueueFull).Inc()
			continue
		}
		p := packet{data: append([]byte(nil), buf[:n]...), compact: l.compact, transport: l.transport}
		select {
		case a.packets <- p:
		default:
			a.udpQueued.Add(-int64(n))
			a.m.packetsDropped.WithLabelValues(l.transport, packetQueueFull).Inc()
		}
	}
}

// decodeUDP decodes queued packets into the buffer until the queue is
// closed.
func (a *Agent) decodeUDP() {
	for p := range a.packets {
		a.udpQueued.Add(-int64(len(p.data)))
		a.takePacket(p)
	}
}

// takePacket decodes one packet and puts its spans in the buffer, counting
// what it drops.
func (a *Agent) takePacket(p packet) {
	b, err := jaegerthrift.DecodeEmitBatch(p.data, p.compact)
	if err != nil {
		a.m.packetsDropped.WithLabelValues(p.transport, packetMalformed).Inc()
		a.logger.Debug("dropped a malformed udp packet", "transport", p.transport, "bytes", len(p.data), "err", err)
		return
	}
	spans, rejected := jaegerthrift.SpansFromBatch(b)
	a.m.received.WithLabelValues(p.transport).Add(float64(len(spans) + len(rejected)))
	if len(rejected) > 0 {
		a.dropped(dropInvalid, len(rejected))
		a.logger.Debug("dropped udp spans with invalid ids", "transport", p.transport, "spans", len(rejected), "first", rejected[0])
	}
	if len(spans) == 0 {
		return
	}
	if !a.buf.tryAdd(&chunk{spans: spans, bytes: spansSize(spans)}) {
		a.dropped(dropBufferFull, len(spans))
		a.m.packetsDropped.WithLabelValues(p.transport, packetBufferFull).Inc()
		a.throttled.warn("buffer is full; dropping udp spans (collectors slow or away?)", "transport", p.transport)
	}
}
