package main

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/berth-dev/berth/internal/errdefs"
)

type apiNetwork struct {
	Name       string
	ID         string `json:"Id"`
	Created    time.Time
	Driver     string
	Scope      string
	EnableIPv6 bool
	Internal   bool
	Labels     map[string]string
	IPAM       struct {
		Config []struct{ Subnet, Gateway string }
	}
}

type networkRow struct{ ID, Name, Driver, Scope, IPv6, Internal, Labels, CreatedAt string }

func (c *cli) networkCmd() *cobra.Command {
	n := &cobra.Command{Use: "network", Short: "Manage networks"}
	n.AddCommand(c.networkCreateCmd(), c.networkLsCmd(), c.networkInspectCmd(), c.networkRmCmd(), c.networkPruneCmd(),
		c.networkConnectCmd(), c.networkDisconnectCmd())
	return n
}

func (c *cli) networkCreateCmd() *cobra.Command {
	var driver string
	var subnets, gateways, labels, opts []string
	var ipv6, internal bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(gateways) > len(subnets) {
				return errors.New("every --gateway needs a --subnet")
			}
			var cfg []map[string]string
			for i, s := range subnets {
				e := map[string]string{"Subnet": s}
				if i < len(gateways) {
					e["Gateway"] = gateways[i]
				}
				cfg = append(cfg, e)
			}
			req := map[string]any{"Name": args[0], "Driver": driver, "Internal": internal, "EnableIPv6": ipv6,
				"Labels": kvMap(labels), "Options": kvMap(opts), "CheckDuplicate": true}
			if len(cfg) > 0 {
				req["IPAM"] = map[string]any{"Driver": "default", "Config": cfg}
			}
			var out struct {
				ID string `json:"Id"`
			}
			if err := c.api.postJSON(cmd.Context(), "/networks/create", nil, req, &out); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), out.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVarP(&driver, "driver", "d", "bridge", "driver to manage the network")
	f.StringArrayVar(&subnets, "subnet", nil, "subnet in CIDR format that represents a network segment")
	f.StringArrayVar(&gateways, "gateway", nil, "IPv4 or IPv6 gateway for the master subnet")
	f.StringArrayVar(&labels, "label", nil, "set metadata on a network")
	f.StringArrayVarP(&opts, "opt", "o", nil, "set driver specific options")
	f.BoolVar(&ipv6, "ipv6", false, "enable IPv6 networking")
	f.BoolVar(&internal, "internal", false, "restrict external access to the network")
	return cmd
}

func (c *cli) networkLsCmd() *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filter []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			q := url.Values{}
			if f := filterJSON(filter); f != "" {
				q.Set("filters", f)
			}
			var list []apiNetwork
			if err := c.api.getJSON(cmd.Context(), "/networks", q, &list); err != nil {
				return err
			}
			var rows []networkRow
			for _, n := range list {
				id := n.ID
				if !noTrunc {
					id = shortID(id)
				}
				if quiet {
					fmt.Fprintln(cmd.OutOrStdout(), id)
					continue
				}
				var l []string
				for k, v := range n.Labels {
					l = append(l, k+"="+v)
				}
				rows = append(rows, networkRow{ID: id, Name: n.Name, Driver: n.Driver, Scope: n.Scope, IPv6: fmt.Sprint(n.EnableIPv6),
					Internal: fmt.Sprint(n.Internal), Labels: strings.Join(l, ","), CreatedAt: n.Created.Format("2006-01-02 15:04:05.999999999 -0700 MST")})
			}
			if quiet {
				return nil
			}
			return writeList(cmd.OutOrStdout(), format, "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}", rows, map[string]string{"ID": "NETWORK ID"})
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate the output")
	cmd.Flags().StringVar(&format, "format", "", "format output: table, json, or a Go template")
	cmd.Flags().StringArrayVarP(&filter, "filter", "f", nil, "provide filter values (e.g. driver=bridge)")
	return cmd
}

func (c *cli) networkInspectCmd() *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.inspect(cmd, args, format, "/networks/%s")
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "format output using a Go template or json")
	return cmd
}

func (c *cli) networkRmCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var errs []error
			for _, n := range args {
				resp, err := c.api.do(cmd.Context(), "DELETE", "/networks/"+url.PathEscape(n), nil, nil, nil)
				if err != nil {
					if !(force && errdefs.IsNotFound(err)) {
						errs = append(errs, err)
					}
					continue
				}
				resp.Body.Close()
				fmt.Fprintln(cmd.OutOrStdout(), n)
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not error if the network does not exist")
	return cmd
}

func (c *cli) networkPruneCmd() *cobra.Command {
	var force bool
	var filter []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_ = force
			q := url.Values{}
			if f := filterJSON(filter); f != "" {
				q.Set("filters", f)
			}
			var rep struct{ NetworksDeleted []string }
			if err := c.api.postJSON(cmd.Context(), "/networks/prune", q, nil, &rep); err != nil {
				return err
			}
			if len(rep.NetworksDeleted) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted Networks:")
				for _, n := range rep.NetworksDeleted {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filter, "filter", nil, "provide filter values (e.g. until=<timestamp>)")
	return cmd
}

func (c *cli) networkConnectCmd() *cobra.Command {
	var aliases []string
	var ip, ip6 string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			ep := map[string]any{"Aliases": aliases}
			if ip != "" || ip6 != "" {
				ep["IPAMConfig"] = map[string]string{"IPv4Address": ip, "IPv6Address": ip6}
			}
			return c.api.postJSON(cmd.Context(), "/networks/"+url.PathEscape(args[0])+"/connect", nil,
				map[string]any{"Container": args[1], "EndpointConfig": ep}, nil)
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "add network-scoped alias for the container")
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	cmd.Flags().StringVar(&ip6, "ip6", "", "IPv6 address (e.g., 2001:db8::33)")
	return cmd
}

func (c *cli) networkDisconnectCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return c.api.postJSON(cmd.Context(), "/networks/"+url.PathEscape(args[0])+"/disconnect", nil,
				map[string]any{"Container": args[1], "Force": force}, nil)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "force the container to disconnect from a network")
	return cmd
}
