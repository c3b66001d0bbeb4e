package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// MasterKey is a 32-byte AES-256 key that wraps per-message data keys.
type MasterKey struct {
	id  string
	key []byte
}

// ParseMasterKey decodes a master key from standard or URL-safe base64 of 32 bytes.
func ParseMasterKey(encoded string) (MasterKey, error) {
	encoded = strings.TrimSpace(encoded)
	var raw []byte
	var err error
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		raw, err = enc.DecodeString(encoded)
		if err == nil {
			break
		}
	}
	if err != nil {
		return MasterKey{}, errors.New("master key is not valid base64")
	}
	if len(raw) != 32 {
		return MasterKey{}, fmt.Errorf("master key is %d bytes, want 32", len(raw))
	}
	return NewMasterKey(raw), nil
}

// NewMasterKey wraps raw key bytes. Its ID is derived from the key, so the
// same key always has the same ID and the ID reveals nothing useful.
func NewMasterKey(raw []byte) MasterKey {
	sum := sha256.Sum256(append([]byte("gatehouse key id\x00"), raw...))
	return MasterKey{id: hex.EncodeToString(sum[:4]), key: append([]byte(nil), raw...)}
}

// GenerateMasterKey returns base64 of 32 random bytes, for a new key.
func GenerateMasterKey() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// ID names the key in sealed records.
func (k MasterKey) ID() string { return k.id }

func (k MasterKey) String() string       { return "master key " + k.id }
func (k MasterKey) LogValue() slog.Value { return slog.StringValue(k.String()) }

// Keyring holds the current master key, which seals, and older keys, which
// still open what they sealed.
type Keyring struct {
	current MasterKey
	byID    map[string]MasterKey
}

// NewKeyring returns a keyring that seals with current and opens with
// current and every key in old.
func NewKeyring(current MasterKey, old ...MasterKey) *Keyring {
	r := &Keyring{current: current, byID: map[string]MasterKey{current.id: current}}
	for _, k := range old {
		r.byID[k.id] = k
	}
	return r
}

// CurrentID returns the ID of the key that seals.
func (r *Keyring) CurrentID() string { return r.current.id }

// Sealed is plaintext encrypted under a random data key with AES-256-GCM,
// the data key itself encrypted under a master key.
type Sealed struct {
	KeyID      string
	DataKey    []byte // nonce followed by the wrapped data key
	Ciphertext []byte // nonce followed by the sealed plaintext
}

// ErrUnknownKey means a sealed record names a master key that the keyring lacks.
var ErrUnknownKey = errors.New("sealed with an unknown master key")

// Seal encrypts plaintext. aad binds the ciphertext to its context (for
// example a delivery ID), so it cannot be moved to another record.
func (r *Keyring) Seal(plaintext, aad []byte) (Sealed, error) {
	dataKey := make([]byte, 32)
	rand.Read(dataKey)

	ciphertext, err := gcmSeal(dataKey, plaintext, aad)
	if err != nil {
		return Sealed{}, err
	}
	wrapped, err := gcmSeal(r.current.key, dataKey, []byte(r.current.id))
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{KeyID: r.current.id, DataKey: wrapped, Ciphertext: ciphertext}, nil
}

// Open decrypts what Seal produced with the same aad.
func (r *Keyring) Open(s Sealed, aad []byte) ([]byte, error) {
	master, ok := r.byID[s.KeyID]
	if !ok {
		return nil, fmt.Errorf("open sealed data: %w (key %s)", ErrUnknownKey, s.KeyID)
	}
	dataKey, err := gcmOpen(master.key, s.DataKey, []byte(master.id))
	if err != nil {
		return nil, fmt.Errorf("unwrap data key: %w", err)
	}
	plaintext, err := gcmOpen(dataKey, s.Ciphertext, aad)
	if err != nil {
		return nil, fmt.Errorf("open sealed data: %w", err)
	}
	return plaintext, nil
}

// Rewrap moves a sealed record to the current master key without touching
// the ciphertext.
func (r *Keyring) Rewrap(s Sealed) (Sealed, error) {
	master, ok := r.byID[s.KeyID]
	if !ok {
		return Sealed{}, fmt.Errorf("rewrap: %w (key %s)", ErrUnknownKey, s.KeyID)
	}
	dataKey, err := gcmOpen(master.key, s.DataKey, []byte(master.id))
	if err != nil {
		return Sealed{}, fmt.Errorf("unwrap data key: %w", err)
	}
	wrapped, err := gcmSeal(r.current.key, dataKey, []byte(r.current.id))
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{KeyID: r.current.id, DataKey: wrapped, Ciphertext: s.Ciphertext}, nil
}

func gcmSeal(key, plaintext, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return aead.Seal(nonce, nonce, plaintext, aad), nil
}

func gcmOpen(key, sealed, aad []byte) ([]byte, error) {
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("sealed data is too short")
	}
	nonce, ciphertext := sealed[:aead.NonceSize()], sealed[aead.NonceSize():]
	return aead.Open(nil, nonce, ciphertext, aad)
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("create cipher: %w", err)
	}
	return cipher.NewGCM(block)
}
