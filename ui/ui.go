package ui

import (
	"bytes"
	"compress/gzip"
	"embed"
	"html"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed all:dist
var distFS embed.FS

//go:embed placeholder/index.html
var placeholderHTML []byte

// ContentSecurityPolicy is sent with every answer of Handler. Scripts, styles,
// fonts, images and requests may come only from the server itself (images
// also from data: URLs for inline icons); nothing may frame the app.
const ContentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; " +
	"base-uri 'self'; form-action 'self'; frame-ancestors 'none'"

// baseMarker is the <base> tag of the built index.html; Handler replaces its
// href with the base path.
const baseMarker = `<base href="/">`

// Built reports whether the binary embeds the built app (as opposed to the
// placeholder page).
func Built() bool {
	_, err := fs.Stat(distFS, "dist/index.html")
	return err == nil
}

// file is one embedded file, ready to serve.
type file struct {
	body  []byte
	gz    []byte // gzip-compressed body, when that is smaller
	ctype string
	cache string
}

// handler serves the app. It is immutable after construction and safe for
// concurrent use.
type handler struct {
	base  string           // "" or "/prefix"
	index file             // index.html with the base path written in
	files map[string]*file // by path under dist, without leading "/"
}

// Handler returns the HTTP handler of the web app served under basePath ("" or
// "/" for the root, else a prefix such as "/scry" that starts with "/" and
// does not end with one, as query.Config.BasePath). It expects to see request
// paths with the prefix, as query.NewHandler passes them. Files under assets/
// have content hashes in their names and are cached for a year; index.html is
// never cached.
func Handler(basePath string) http.Handler {
	h := &handler{base: strings.TrimSuffix(basePath, "/"), files: make(map[string]*file)}
	index := placeholderHTML
	if Built() {
		index, _ = distFS.ReadFile("dist/index.html")
		_ = fs.WalkDir(distFS, "dist", func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			name := strings.TrimPrefix(p, "dist/")
			if name == "index.html" || strings.HasPrefix(path.Base(name), ".") {
				return nil
			}
			body, err := distFS.ReadFile(p)
			if err != nil {
				return err
			}
			cache := "public, max-age=3600"
			if strings.HasPrefix(name, "assets/") {
				cache = "public, max-age=31536000, immutable"
			}
			h.files[name] = newFile(body, contentType(name), cache)
			return nil
		})
	}
	href := html.EscapeString(h.base + "/")
	index = bytes.Replace(index, []byte(baseMarker), []byte(`<base href="`+href+`">`), 1)
	h.index = *newFile(index, "text/html; charset=utf-8", "no-cache")
	return h
}

func newFile(body []byte, ctype, cache string) *file {
	f := &file{body: body, ctype: ctype, cache: cache}
	if len(body) > 1024 && !strings.HasPrefix(ctype, "image/png") {
		var buf bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
		_, _ = zw.Write(body)
		_ = zw.Close()
		if buf.Len() < len(body) {
			f.gz = buf.Bytes()
		}
	}
	return f
}

func contentType(name string) string {
	ext := path.Ext(name)
	switch ext {
	case ".js", ".mjs":
		return "text/javascript; charset=utf-8"
	case ".css":
		return "text/css; charset=utf-8"
	case ".svg":
		return "image/svg+xml"
	case ".json", ".map":
		return "application/json"
	}
	if t := mime.TypeByExtension(ext); t != "" {
		return t
	}
	return "application/octet-stream"
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", ContentSecurityPolicy)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hd.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	p := r.URL.Path
	if h.base != "" {
		if p != h.base && !strings.HasPrefix(p, h.base+"/") {
			http.NotFound(w, r)
			return
		}
		p = strings.TrimPrefix(p, h.base)
	}
	p = strings.TrimPrefix(p, "/")
	if f, ok := h.files[p]; ok {
		h.serve(w, r, f)
		return
	}
	// A missing file (a name with an extension, or anything under
	// assets/) is a 404, and so is anything under debug/ (pprof's paths,
	// served on the admin port only); every other path is a route of the
	// app.
	if p != "" && (strings.HasPrefix(p, "assets/") || p == "debug" || strings.HasPrefix(p, "debug/") || strings.Contains(path.Base(p), ".")) {
		http.NotFound(w, r)
		return
	}
	h.serve(w, r, &h.index)
}

func (h *handler) serve(w http.ResponseWriter, r *http.Request, f *file) {
	hd := w.Header()
	hd.Set("Content-Type", f.ctype)
	hd.Set("Cache-Control", f.cache)
	body := f.body
	if f.gz != nil {
		hd.Add("Vary", "Accept-Encoding")
		if acceptsGzip(r) {
			hd.Set("Content-Encoding", "gzip")
			body = f.gz
		}
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, params, _ := strings.Cut(part, ";")
		if !strings.EqualFold(strings.TrimSpace(enc), "gzip") {
			continue
		}
		q, found := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q=")
		if !found {
			return true
		}
		v, err := strconv.ParseFloat(q, 64)
		return err == nil && v > 0
	}
	return false
}
