package main

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/secrets"
)

func TestLoadConfigNamesTheVariable(t *testing.T) {
	t.Parallel()
	key := secrets.GenerateMasterKey()
	full := map[string]string{
		"DATABASE_URL":         "postgres://u:p@localhost/db",
		"GATEHOUSE_BASE_URL":   "https://sso.example.com",
		"GATEHOUSE_MASTER_KEY": key,
	}
	tests := []struct {
		name   string
		change map[string]string
		want   string
	}{
		{"missing database", map[string]string{"DATABASE_URL": ""}, "DATABASE_URL is required"},
		{"missing base url", map[string]string{"GATEHOUSE_BASE_URL": ""}, "GATEHOUSE_BASE_URL is required"},
		{"base url not absolute", map[string]string{"GATEHOUSE_BASE_URL": "sso.example.com"}, "GATEHOUSE_BASE_URL"},
		{"plain http in production", map[string]string{"GATEHOUSE_BASE_URL": "http://sso.example.com"}, "must use https"},
		{"missing master key", map[string]string{"GATEHOUSE_MASTER_KEY": ""}, "GATEHOUSE_MASTER_KEY is required"},
		{"short master key", map[string]string{"GATEHOUSE_MASTER_KEY": "c2hvcnQ="}, "GATEHOUSE_MASTER_KEY: master key is 5 bytes"},
		{"smtp without sender", map[string]string{"SMTP_URL": "smtp://mail.example.com"}, "MAIL_FROM is required"},
		{"bad address", map[string]string{"GATEHOUSE_ADDR": "8080"}, "GATEHOUSE_ADDR"},
		{"bad env", map[string]string{"GATEHOUSE_ENV": "staging"}, "GATEHOUSE_ENV"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range full {
				env[k] = v
			}
			for k, v := range tt.change {
				env[k] = v
			}
			_, err := loadConfig(func(k string) string { return env[k] }, needDatabase|needServer)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("loadConfig error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigLogValueHidesSecrets(t *testing.T) {
	t.Parallel()
	key := secrets.GenerateMasterKey()
	env := map[string]string{
		"DATABASE_URL":         "postgres://gatehouse:dbsecret@localhost/db",
		"GATEHOUSE_BASE_URL":   "https://sso.example.com",
		"GATEHOUSE_MASTER_KEY": key,
		"SMTP_URL":             "smtp://mailer:smtpsecret@mail.example.com:587",
		"MAIL_FROM":            "sso@example.com",
	}
	cfg, err := loadConfig(func(k string) string { return env[k] }, needDatabase|needServer)
	if err != nil {
		t.Fatal(err)
	}
	printed := cfg.LogValue().String()
	for _, secret := range []string{"dbsecret", "smtpsecret", key} {
		if strings.Contains(printed, secret) {
			t.Errorf("LogValue contains a secret: %s", printed)
		}
	}
}

func TestRunExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want int
	}{
		{[]string{"help"}, 0},
		{nil, 2},
		{[]string{"no-such-command"}, 2},
		{[]string{"staff", "add", "--help"}, 0},
		{[]string{"staff", "add", "--bogus"}, 2},
		{[]string{"tenant", "create", "--slug", "x"}, 2},
		{[]string{"token", "issue"}, 2},
		{[]string{"keys", "generate"}, 0},
	}
	for _, tt := range tests {
		var out, errOut strings.Builder
		if got := run(t.Context(), tt.args, &out, &errOut); got != tt.want {
			t.Errorf("run %v = %d, want %d (stderr %q)", tt.args, got, tt.want, errOut.String())
		}
		if tt.want == 2 && strings.Count(strings.TrimSpace(errOut.String()), "\n") != 0 {
			t.Errorf("run %v printed more than one error line: %q", tt.args, errOut.String())
		}
	}
}
