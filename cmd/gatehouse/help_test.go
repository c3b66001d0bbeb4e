package main

import (
	"strings"
	"testing"
)

func TestCommandHelpSaysWhatItDoes(t *testing.T) {
	t.Parallel()
	for _, c := range commandList() {
		if c.name == "metadata check" || c.name == "keys rotate" {
			continue // These two print a longer usage of their own.
		}
		args := append(strings.Fields(c.name), "--help")
		var out, errOut strings.Builder
		if code := run(t.Context(), args, &out, &errOut); code != 0 {
			t.Errorf("gatehouse %s --help: exit %d, stderr %q", c.name, code, errOut.String())
		}
		want := strings.ToUpper(c.summary[:1]) + c.summary[1:] + "."
		if !strings.Contains(out.String(), want) {
			t.Errorf("gatehouse %s --help printed:\n%s\nwant the line %q", c.name, out.String(), want)
		}
		if strings.Contains(out.String(), " \n") {
			t.Errorf("gatehouse %s --help has a line with trailing space:\n%q", c.name, out.String())
		}
	}
}

func TestCommandGroupHelp(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string
		wantStderr string
	}{
		{name: "group help lists its commands", args: []string{"keys", "--help"}, wantCode: 0,
			wantStdout: "keys generate    print a new random master key"},
		{name: "group alone needs a subcommand", args: []string{"staff"}, wantCode: 2,
			wantStderr: `gatehouse: "staff" needs a subcommand: staff add`},
		{name: "unknown subcommand names the group's commands", args: []string{"tenant", "delete"}, wantCode: 2,
			wantStderr: `gatehouse: unknown command "tenant delete"; the tenant commands are tenant create`},
		{name: "unknown word points to the list", args: []string{"bogus", "--help"}, wantCode: 2,
			wantStderr: "run `gatehouse help` for the list"},
	}
	for _, tt := range tests {
		var out, errOut strings.Builder
		code := run(t.Context(), tt.args, &out, &errOut)
		if code != tt.wantCode {
			t.Errorf("%s: exit %d, want %d", tt.name, code, tt.wantCode)
		}
		if !strings.Contains(out.String(), tt.wantStdout) {
			t.Errorf("%s: stdout %q, want it to contain %q", tt.name, out.String(), tt.wantStdout)
		}
		if !strings.Contains(errOut.String(), tt.wantStderr) {
			t.Errorf("%s: stderr %q, want it to contain %q", tt.name, errOut.String(), tt.wantStderr)
		}
	}
}
