package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/pgtest"
)

func TestTokenIssueUnknownTenant(t *testing.T) {
	t.Parallel()
	_, databaseURL := pgtest.NewWithURL(t)

	code, stderr := runCommandExit(t, map[string]string{"DATABASE_URL": databaseURL}, "token", "issue", "--tenant", "nope")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := `gatehouse token issue: no tenant has the slug "nope"; check it on the staff Tenants page`
	if strings.TrimSpace(stderr) != want {
		t.Errorf("stderr %q, want %q", stderr, want)
	}
}

// runCommandExit is runCommand for a command expected to fail: it returns
// the exit code and the standard error instead of failing the test.
func runCommandExit(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestCommandChildProcess$")
	cmd.Env = append(os.Environ(), commandArgsVariable+"="+string(encoded))
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exitErr *exec.ExitError
	if err != nil && !errors.As(err, &exitErr) {
		t.Fatalf("run gatehouse %s: %v", strings.Join(args, " "), err)
	}
	return cmd.ProcessState.ExitCode(), stderr.String()
}
