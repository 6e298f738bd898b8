// Package authtest writes auth files for tests: tokens, users and
// certificate subjects with their scopes, in the --auth-file format, with
// the secrets kept for the test to send.
package authtest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// Entry is one credential of a File.
type Entry struct {
	// Token (a bearer token), User and Password (basic auth) or Subject
	// (a client certificate's): one kind per entry.
	Token          string
	User, Password string
	Subject        string
	// Tenants default to ["*"].
	Tenants []string
	Scopes  []string
}

// Write writes entries as an auth file (mode 0600) into a temporary
// folder of t and returns its path. Passwords are hashed with bcrypt's
// lowest cost, to keep tests fast.
func Write(t testing.TB, entries ...Entry) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "auth.yaml")
	Rewrite(t, path, entries...)
	return path
}

// Rewrite replaces the auth file at path with entries, atomically.
func Rewrite(t testing.TB, path string, entries ...Entry) {
	t.Helper()
	var tokens, users, certs strings.Builder
	for _, e := range entries {
		tenants := e.Tenants
		if len(tenants) == 0 {
			tenants = []string{"*"}
		}
		tail := fmt.Sprintf("    tenants: %s\n    scopes: [%s]\n", quoteList(tenants), strings.Join(e.Scopes, ", "))
		switch {
		case e.Token != "":
			fmt.Fprintf(&tokens, "  - sha256: %s\n%s", HashToken(e.Token), tail)
		case e.User != "":
			h, err := bcrypt.GenerateFromPassword([]byte(e.Password), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&users, "  - name: %q\n    bcrypt: %q\n%s", e.User, h, tail)
		default:
			fmt.Fprintf(&certs, "  - subject: %q\n%s", e.Subject, tail)
		}
	}
	content := "tokens:\n" + tokens.String() + "users:\n" + users.String() + "certs:\n" + certs.String()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func quoteList(s []string) string {
	q := make([]string, len(s))
	for i, x := range s {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// HashToken returns the hex SHA-256 of tok, as the auth file holds it.
func HashToken(tok string) string {
	s := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(s[:])
}

// Basic returns the Authorization value of basic auth.
func Basic(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

// Bearer returns the Authorization value of a bearer token.
func Bearer(tok string) string { return "Bearer " + tok }
