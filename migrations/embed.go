// Package migrations embeds gatehouse's SQL migrations, numbered goose files
// that each run in one transaction.
package migrations

import "embed"

// FS contains the migration files.
//
//go:embed *.sql
var FS embed.FS
