package httpintake

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Error is an answer other than success: an HTTP status code and a message
// for the client.
type Error struct {
	Code int
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// MediaType returns the media type of a Content-Type header, lower case and
// without parameters, or "" with ok false if it cannot be parsed. An empty
// header is "" with ok true.
func MediaType(header string) (mt string, ok bool) {
	if strings.TrimSpace(header) == "" {
		return "", true
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return "", false
	}
	return mt, true
}

// ReadBody reads the request body, decompressing it when Content-Encoding is
// gzip, and refuses one larger than limit bytes before or after
// decompression (413) without reading or inflating more than limit+1 bytes.
// A corrupt gzip stream or a failed read is 400; another content encoding
// is 415.
func ReadBody(w http.ResponseWriter, req *http.Request, maxBytes int) ([]byte, *Error) {
	limit := int64(maxBytes)
	tooLarge := &Error{http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", limit)}
	if req.ContentLength > limit {
		return nil, tooLarge
	}
	raw := http.MaxBytesReader(w, req.Body, limit)
	var src io.Reader = raw
	var buf bytes.Buffer
	switch ce := strings.ToLower(strings.TrimSpace(req.Header.Get("Content-Encoding"))); ce {
	case "", "identity":
		if req.ContentLength > 0 {
			buf.Grow(int(req.ContentLength))
		}
	case "gzip":
		gz, err := gzip.NewReader(raw)
		if err != nil {
			if isMaxBytes(err) {
				return nil, tooLarge
			}
			return nil, &Error{http.StatusBadRequest, fmt.Sprintf("cannot read gzip body: %v", err)}
		}
		defer gz.Close()
		src = gz
	default:
		return nil, &Error{http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported content encoding %q, use gzip or none", ce)}
	}
	if _, err := buf.ReadFrom(io.LimitReader(src, limit+1)); err != nil {
		if isMaxBytes(err) {
			return nil, tooLarge
		}
		return nil, &Error{http.StatusBadRequest, fmt.Sprintf("cannot read request body: %v", err)}
	}
	if int64(buf.Len()) > limit {
		return nil, tooLarge
	}
	return buf.Bytes(), nil
}

func isMaxBytes(err error) bool {
	var mb *http.MaxBytesError
	return errors.As(err, &mb)
}

// WriteText answers with code and msg as plain text.
func WriteText(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	if msg != "" {
		_, _ = io.WriteString(w, msg+"\n")
	}
}

// RequirePost answers 405 naming POST, and returns false, unless req is a
// POST.
func RequirePost(w http.ResponseWriter, req *http.Request) bool {
	if req.Method == http.MethodPost {
		return true
	}
	w.Header().Set("Allow", http.MethodPost)
	WriteText(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed, use POST", req.Method))
	return false
}
