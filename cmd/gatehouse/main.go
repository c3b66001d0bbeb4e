// Command gatehouse onboards customers' identity providers: it serves the
// setup portal, the staff queue, the SCIM 2.0 server and SAML sign-in, and
// has commands for operators. Run `gatehouse help` for the list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

// command is one subcommand; name may have two words ("staff add").
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout io.Writer) error
}

// commandList returns every command in the order `gatehouse help` lists
// them. A package variable would form an initialization cycle, because
// each command's usage (newFlags) reads the summaries from this list.
func commandList() []command {
	return []command{
		{"serve", "serve HTTP: setup portal, staff queue, SCIM and SAML", runServe},
		{"migrate", "apply pending database migrations and exit", runMigrate},
		{"staff add", "create a staff account and print a one-time set-password link", runStaffAdd},
		{"tenant create", "create an active tenant directly", runTenantCreate},
		{"tenant saml", "replace a tenant's SAML connection from new IdP metadata (audited)", runTenantSAML},
		{"token issue", "issue a SCIM token for a tenant and print it once", runTokenIssue},
		{"metadata check", "validate IdP metadata files as the setup form would", runMetadataCheckCommand},
		{"keys generate", "print a new random master key (base64 of 32 bytes)", runKeysGenerate},
		{"keys rotate", "re-wrap token deliveries and the SAML key under the current master key", runKeysRotate},
		{"keys reset-sp", "replace a SAML service provider key that no master key can open", runKeysResetSP},
		{"dev-welcome", "print how to sign in to a development instance (used by make run)", runDevWelcome},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run dispatches args to a command and returns the exit code: 0 on
// success or help, 2 for usage errors (no command at all among them), 1
// for any other failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "gatehouse: no command given; run `gatehouse help` for the list")
		return 2
	}
	if args[0] == "help" || isHelpFlag(args[0]) {
		usage(stdout)
		return 0
	}
	cmd, rest, ok := findCommand(args)
	if !ok {
		return runGroup(args, stdout, stderr)
	}
	err := cmd.run(ctx, rest, stdout)
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "gatehouse %s: %v\n", cmd.name, err)
		return 2
	}
	fmt.Fprintf(stderr, "gatehouse %s: %s\n", cmd.name, oneLine(err))
	return 1
}

func findCommand(args []string) (command, []string, bool) {
	for _, c := range commandList() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c, args[len(words):], true
		}
	}
	return command{}, nil, false
}

// runGroup handles a command line that names no whole command. For the
// first word of several commands ("staff", "keys") with --help, it lists
// them and returns 0. Anything else is a usage error.
func runGroup(args []string, stdout, stderr io.Writer) int {
	var group []command
	for _, c := range commandList() {
		if first, _, _ := strings.Cut(c.name, " "); first == args[0] && first != c.name {
			group = append(group, c)
		}
	}
	if len(group) == 0 {
		fmt.Fprintf(stderr, "gatehouse: unknown command %q; run `gatehouse help` for the list\n", strings.Join(args, " "))
		return 2
	}
	if len(args) == 2 && isHelpFlag(args[1]) {
		fmt.Fprintf(stdout, "Usage: gatehouse %s SUBCOMMAND [flags]\n\nSubcommands:\n", args[0])
		for _, c := range group {
			fmt.Fprintf(stdout, "  %-16s %s\n", c.name, c.summary)
		}
		return 0
	}
	names := make([]string, len(group))
	for i, c := range group {
		names[i] = c.name
	}
	if len(args) == 1 {
		fmt.Fprintf(stderr, "gatehouse: %q needs a subcommand: %s\n", args[0], strings.Join(names, ", "))
	} else {
		fmt.Fprintf(stderr, "gatehouse: unknown command %q; the %s commands are %s\n", strings.Join(args, " "), args[0], strings.Join(names, ", "))
	}
	return 2
}

func isHelpFlag(arg string) bool {
	return arg == "-h" || arg == "-help" || arg == "--help"
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "Usage: gatehouse COMMAND [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range commandList() {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run `gatehouse COMMAND --help` for a command's flags. Settings come from the")
	fmt.Fprintln(w, "environment: DATABASE_URL, GATEHOUSE_ADDR, GATEHOUSE_BASE_URL,")
	fmt.Fprintln(w, "GATEHOUSE_MASTER_KEY (or GATEHOUSE_MASTER_KEY_FILE), GATEHOUSE_OLD_MASTER_KEYS,")
	fmt.Fprintln(w, "GATEHOUSE_TRUSTED_PROXIES, SMTP_URL, MAIL_FROM and GATEHOUSE_ENV. The README")
	fmt.Fprintln(w, "describes each.")
}

// errUsage marks errors in how a command was called.
var errUsage = errors.New("usage")

func usageError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// newFlags returns a flag set that prints its usage to stdout on --help and
// returns errors instead of exiting. The usage has the synopsis, what the
// command does (its summary in the command list) and the flags.
func newFlags(name, synopsis string, stdout io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintln(stdout, strings.TrimSpace("Usage: gatehouse "+name+" "+synopsis))
		if summary := summaryOf(name); summary != "" {
			fmt.Fprintf(stdout, "\n%s.\n", strings.ToUpper(summary[:1])+summary[1:])
		}
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintln(stdout, "\nFlags:")
			fs.PrintDefaults()
		}
	}
	return fs
}

// summaryOf returns the summary of the command called name.
func summaryOf(name string) string {
	for _, c := range commandList() {
		if c.name == name {
			return c.summary
		}
	}
	return ""
}

// parseFlags parses args, turning a bad flag into a usage error. It prints
// the usage, with every flag, only for --help; a bad flag gets one line.
func parseFlags(fs *flag.FlagSet, args []string) error {
	usage, output := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(output)
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return err
	}
	if err != nil {
		return usageError("%v", err)
	}
	return nil
}

func oneLine(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "; ")
}
