package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// ClientConfig is the TLS of a connection Scry makes. It is on when
// Enabled or any file or the server name is set.
type ClientConfig struct {
	Enabled bool
	// CAFile holds the PEM CAs the server's certificate must be signed by;
	// empty: the system's.
	CAFile string
	// CertFile and KeyFile are the client certificate for servers that
	// require one (mutual TLS); re-read when they change.
	CertFile, KeyFile string
	// ServerName is the name the server's certificate must hold; empty:
	// the host dialled.
	ServerName string
	// MinVersion is the oldest TLS version spoken ("1.2" when empty).
	MinVersion string
}

// On reports whether the connection speaks TLS.
func (c ClientConfig) On() bool {
	return c.Enabled || c.CAFile != "" || c.CertFile != "" || c.KeyFile != "" || c.ServerName != ""
}

// Validate reports what is wrong with c, if anything; it reads no file.
func (c ClientConfig) Validate() error {
	var errs []error
	if (c.CertFile == "") != (c.KeyFile == "") {
		errs = append(errs, errors.New("a client certificate file and its key file go together: give both or neither"))
	}
	if _, err := ParseVersion(c.MinVersion); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// TLSConfig reads the files and returns the client tls.Config, or nil when
// c is not On. The client certificate is read again, at most every
// DefaultReloadInterval, when a server asks for it.
func (c ClientConfig) TLSConfig(logger *slog.Logger) (*tls.Config, error) {
	if !c.On() {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	minVer, _ := ParseVersion(c.MinVersion)
	cfg := &tls.Config{MinVersion: minVer, ServerName: c.ServerName}
	if c.CAFile != "" {
		raw, _, _, err := readAll(c.CAFile, "", "")
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(raw) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", c.CAFile)
		}
	}
	if c.CertFile != "" {
		src, err := newSource(c.CertFile, c.KeyFile, "", DefaultReloadInterval, time.Now, logger)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			cert, _ := src.current()
			return cert, nil
		}
	}
	return cfg, nil
}

// DialOption returns the gRPC option for c's TLS, or nil when c is not On
// (the dialler's plain text default then stands).
func (c ClientConfig) DialOption(logger *slog.Logger) (grpc.DialOption, error) {
	cfg, err := c.TLSConfig(logger)
	if err != nil || cfg == nil {
		return nil, err
	}
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg)), nil
}
