package tlsconf

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultReloadInterval is how often certificate files are read again by
// default. A rotated certificate is served from the first handshake after
// that; open connections keep the one they started with.
const DefaultReloadInterval = 5 * time.Second

// source holds a certificate with its key and a CA pool read from files,
// and reads the files again, at most once every interval, when a handshake
// asks for them: new contents that parse replace the old; contents that do
// not (a rotation half written, a key that does not match its certificate)
// are logged and the old ones kept until the files are right. Safe for
// concurrent use.
type source struct {
	certFile, keyFile, caFile string // each may be empty
	interval                  time.Duration
	now                       func() time.Time
	logger                    *slog.Logger

	mu                     sync.Mutex
	checked                time.Time
	certRaw, keyRaw, caRaw []byte
	cert                   *tls.Certificate // nil without certFile
	pool                   *x509.CertPool   // nil without caFile
	broken                 bool             // the last read failed: log only changes
}

// newSource reads the files once; an error says which file is wrong.
func newSource(certFile, keyFile, caFile string, interval time.Duration, now func() time.Time, logger *slog.Logger) (*source, error) {
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("a certificate file and a key file go together: give both or neither")
	}
	s := &source{certFile: certFile, keyFile: keyFile, caFile: caFile, interval: interval, now: now, logger: logger}
	if _, err := s.load(); err != nil {
		return nil, err
	}
	s.checked = now()
	return s, nil
}

// current returns the certificate and the CA pool, reading the files again
// first if the interval has passed since they were last read.
func (s *source) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now := s.now(); s.interval > 0 && now.Sub(s.checked) >= s.interval {
		s.checked = now
		changed, err := s.load()
		switch {
		case err != nil && !s.broken:
			s.broken = true
			s.logger.Error("cannot reload TLS files; serving the previous certificate until they are right", "error", err)
		case err == nil && changed:
			s.broken = false
			s.logger.Info("TLS files changed; new connections use them", "cert_file", s.certFile, "client_ca_file", s.caFile)
		case err == nil:
			s.broken = false
		}
	}
	return s.cert, s.pool
}

// load reads the files and, if any changed and all parse, takes them.
// s.mu is held (or s is not shared yet).
func (s *source) load() (changed bool, err error) {
	certRaw, keyRaw, caRaw, err := readAll(s.certFile, s.keyFile, s.caFile)
	if err != nil {
		return false, err
	}
	if s.cert != nil || s.pool != nil {
		if bytes.Equal(certRaw, s.certRaw) && bytes.Equal(keyRaw, s.keyRaw) && bytes.Equal(caRaw, s.caRaw) {
			return false, nil
		}
	}
	var cert *tls.Certificate
	if s.certFile != "" {
		c, err := tls.X509KeyPair(certRaw, keyRaw)
		if err != nil {
			return false, fmt.Errorf("cannot use certificate %s with key %s: %w", s.certFile, s.keyFile, err)
		}
		cert = &c
	}
	var pool *x509.CertPool
	if s.caFile != "" {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caRaw) {
			return false, fmt.Errorf("CA file %s holds no PEM certificate", s.caFile)
		}
	}
	s.certRaw, s.keyRaw, s.caRaw, s.cert, s.pool = certRaw, keyRaw, caRaw, cert, pool
	return true, nil
}

func readAll(files ...string) (a, b, c []byte, err error) {
	out := make([][]byte, len(files))
	for i, f := range files {
		if f == "" {
			continue
		}
		if out[i], err = os.ReadFile(f); err != nil {
			return nil, nil, nil, fmt.Errorf("cannot read TLS file: %w", err)
		}
	}
	return out[0], out[1], out[2], nil
}

// ParseVersion turns "1.0" to "1.3" (also "TLS1.2", "TLSv1.2"; empty is
// 1.2) into a tls.Version* constant.
func ParseVersion(v string) (uint16, error) {
	switch v {
	case "", "1.2", "TLS1.2", "TLSv1.2":
		return tls.VersionTLS12, nil
	case "1.3", "TLS1.3", "TLSv1.3":
		return tls.VersionTLS13, nil
	case "1.1", "TLS1.1", "TLSv1.1":
		return tls.VersionTLS11, nil
	case "1.0", "1", "TLS1.0", "TLSv1.0":
		return tls.VersionTLS10, nil
	}
	return 0, fmt.Errorf("TLS version %q is not one of 1.0, 1.1, 1.2, 1.3", v)
}
