package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

func (c *cli) loginCmd() *cobra.Command {
	var user, password string
	var passwordStdin bool
	cmd := &cobra.Command{
		Use:   "login [OPTIONS] [SERVER]",
		Short: "Log in to a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(args[0], "https://"), "http://"), "/")
			}
			if passwordStdin {
				if password != "" {
					return errors.New("--password and --password-stdin are mutually exclusive")
				}
				b, err := io.ReadAll(os.Stdin)
				if err != nil {
					return err
				}
				password = strings.TrimRight(string(b), "\r\n")
			}
			in := bufio.NewReader(os.Stdin)
			if user == "" {
				fmt.Fprint(cmd.OutOrStdout(), "Username: ")
				l, _ := in.ReadString('\n')
				user = strings.TrimSpace(l)
			}
			if password == "" {
				fmt.Fprint(cmd.OutOrStdout(), "Password: ")
				if term.IsTerminal(int(os.Stdin.Fd())) {
					b, err := term.ReadPassword(int(os.Stdin.Fd()))
					fmt.Fprintln(cmd.OutOrStdout())
					if err != nil {
						return err
					}
					password = string(b)
				} else {
					l, _ := in.ReadString('\n')
					password = strings.TrimRight(l, "\r\n")
				}
			}
			if user == "" || password == "" {
				return errors.New("username and password are required")
			}
			var resp struct{ Status, IdentityToken string }
			err := c.api.postJSON(cmd.Context(), "/auth", nil, map[string]string{"username": user, "password": password, "serveraddress": server}, &resp)
			if err != nil {
				return err
			}
			cfg, err := loadDockerConfig(c.config)
			if err != nil {
				return err
			}
			e := authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":" + password))}
			if resp.IdentityToken != "" {
				e = authEntry{Auth: base64.StdEncoding.EncodeToString([]byte(user + ":")), IdentityToken: resp.IdentityToken}
			}
			cfg.auth[authKey(server)] = e
			if err := cfg.save(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "Login Succeeded")
			return nil
		},
	}
	cmd.Flags().StringVarP(&user, "username", "u", "", "username")
	cmd.Flags().StringVarP(&password, "password", "p", "", "password")
	cmd.Flags().BoolVar(&passwordStdin, "password-stdin", false, "take the password from stdin")
	return cmd
}

func (c *cli) logoutCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "logout [SERVER]",
		Short: "Log out from a registry",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(args[0], "https://"), "http://"), "/")
			}
			cfg, err := loadDockerConfig(c.config)
			if err != nil {
				return err
			}
			key := authKey(server)
			if _, ok := cfg.auth[key]; !ok {
				fmt.Fprintf(cmd.OutOrStdout(), "Not logged in to %s\n", key)
				return nil
			}
			delete(cfg.auth, key)
			fmt.Fprintf(cmd.OutOrStdout(), "Removing login credentials for %s\n", key)
			return cfg.save()
		},
	}
}
