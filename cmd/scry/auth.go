package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/scrytrace/scry/internal/auth"
)

// authCommand is `scry auth`, the helpers for writing an --auth-file.
func authCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "auth",
		Short: "Helpers for the --auth-file: print the hash of a token or a password",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-token",
		Short: "Read a token on stdin and print its hex SHA-256, for tokens[].sha256 in the --auth-file",
		Long: "Read a token on stdin (surrounding white space is ignored, as in a token file) and print its hex SHA-256,\n" +
			"for tokens[].sha256 in the --auth-file. For example:\n\n" +
			"  TOKEN=$(openssl rand -hex 32)\n  printf %s \"$TOKEN\" | scry auth hash-token",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			tok, err := readSecret(cmd, "token: ", strings.TrimSpace)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), auth.HashToken(tok))
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use:   "hash-password",
		Short: "Read a password on stdin and print its bcrypt hash, for users[].bcrypt in the --auth-file",
		Long: "Read a password on stdin (asked for without echo on a terminal; the line's end is not part of it) and print\n" +
			"its bcrypt hash (cost 10), for users[].bcrypt in the --auth-file. htpasswd -nbB user password prints the same kind.",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pw, err := readSecret(cmd, "password: ", func(s string) string { return strings.TrimSuffix(strings.TrimSuffix(s, "\n"), "\r") })
			if err != nil {
				return err
			}
			h, err := auth.HashPassword([]byte(pw))
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), h)
			return nil
		},
	})
	return cmd
}

// readSecret reads one secret from stdin: without echo after prompt when
// stdin is a terminal, else the whole input; trim cleans it up.
func readSecret(cmd *cobra.Command, prompt string, trim func(string) string) (string, error) {
	in := cmd.InOrStdin()
	var s string
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), prompt)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("cannot read from the terminal: %w", err)
		}
		s = string(b)
	} else {
		b, err := io.ReadAll(bufio.NewReader(io.LimitReader(in, 1<<16)))
		if err != nil {
			return "", fmt.Errorf("cannot read stdin: %w", err)
		}
		s = string(b)
	}
	s = trim(s)
	if s == "" {
		return "", errors.New("nothing on stdin: pipe the secret in, e.g. printf %s \"$TOKEN\" | scry auth hash-token")
	}
	return s, nil
}
