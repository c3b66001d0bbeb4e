// Package secrets creates and checks SCIM bearer tokens and link secrets,
// hashes passwords, and seals plaintext with envelope encryption under the
// master key. It is the only package that touches key material.
package secrets

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"log/slog"
	"strings"
)

// TokenPrefix starts every SCIM bearer token, so secret scanners can
// recognize a leaked one.
const TokenPrefix = "gh_scim_"

const redacted = "[REDACTED]"

// Token is a SCIM bearer token in plaintext. It prints as a placeholder;
// call Reveal for the value.
type Token string

// NewToken returns a token made of TokenPrefix and 32 random bytes in
// unpadded base64url.
func NewToken() Token {
	return Token(TokenPrefix + randomString(32))
}

// Reveal returns the plaintext, for the one place that must show or send it.
func (t Token) Reveal() string { return string(t) }

// Hash returns the SHA-256 of the token, the only form that is stored.
func (t Token) Hash() []byte { return Hash(string(t)) }

// Hint returns the prefix and the last four characters, enough for a
// person to tell tokens apart without revealing them.
func (t Token) Hint() string {
	s := string(t)
	if len(s) < len(TokenPrefix)+8 {
		return TokenPrefix + "…"
	}
	return TokenPrefix + "…" + s[len(s)-4:]
}

// LooksLikeToken reports whether s has the shape of a gatehouse token.
func LooksLikeToken(s string) bool {
	return strings.HasPrefix(s, TokenPrefix) && len(s) == len(TokenPrefix)+43
}

func (Token) String() string               { return redacted }
func (Token) GoString() string             { return redacted }
func (Token) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// LinkSecret is the secret part of an emailed link (verification, status,
// reveal, set password). Only its hash is stored.
type LinkSecret string

// NewLinkSecret returns 32 random bytes in unpadded base64url.
func NewLinkSecret() LinkSecret { return LinkSecret(randomString(32)) }

// Reveal returns the plaintext, for building the link.
func (s LinkSecret) Reveal() string { return string(s) }

// Hash returns the SHA-256 of the secret.
func (s LinkSecret) Hash() []byte { return Hash(string(s)) }

func (LinkSecret) String() string               { return redacted }
func (LinkSecret) GoString() string             { return redacted }
func (LinkSecret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (LinkSecret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// Hash returns the SHA-256 of s.
func Hash(s string) []byte {
	sum := sha256.Sum256([]byte(s))
	return sum[:]
}

// Equal compares two hashes in constant time.
func Equal(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}

func randomString(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error on supported platforms.
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
