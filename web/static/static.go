// Package static embeds the CSS, scripts and images that gatehouse's pages
// load from /static/. Pages use no inline script, so the Content Security
// Policy can forbid it.
package static

import "embed"

// FS contains the static files.
//
//go:embed *.css *.js *.svg
var FS embed.FS
