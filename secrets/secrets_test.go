package secrets

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestTokenNeverPrints(t *testing.T) {
	t.Parallel()
	tok := NewToken()
	if !LooksLikeToken(tok.Reveal()) {
		t.Fatalf("NewToken has the wrong shape: length %d", len(tok.Reveal()))
	}

	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("issued", "token", tok)
	printed := fmt.Sprintf("%v %s %+v %#v", tok, tok, tok, tok) + logged.String()
	if strings.Contains(printed, tok.Reveal()[len(TokenPrefix):]) {
		t.Errorf("formatted token contains the plaintext: %s", printed)
	}
}

func TestTokenHashIsStable(t *testing.T) {
	t.Parallel()
	tok := NewToken()
	if !Equal(tok.Hash(), Hash(tok.Reveal())) {
		t.Error("Hash of the same token differs")
	}
	if Equal(tok.Hash(), NewToken().Hash()) {
		t.Error("two new tokens have the same hash")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	key, err := ParseMasterKey(GenerateMasterKey())
	if err != nil {
		t.Fatal(err)
	}
	ring := NewKeyring(key)
	sealed, err := ring.Seal([]byte("plaintext"), []byte("delivery-1"))
	if err != nil {
		t.Fatal(err)
	}

	got, err := ring.Open(sealed, []byte("delivery-1"))
	if err != nil || string(got) != "plaintext" {
		t.Fatalf("Open = %q, %v; want plaintext", got, err)
	}
	if _, err := ring.Open(sealed, []byte("delivery-2")); err == nil {
		t.Error("Open with another aad succeeded")
	}
}

func TestRewrapMovesToNewKey(t *testing.T) {
	t.Parallel()
	oldKey, _ := ParseMasterKey(GenerateMasterKey())
	newKey, _ := ParseMasterKey(GenerateMasterKey())
	sealed, err := NewKeyring(oldKey).Seal([]byte("plaintext"), nil)
	if err != nil {
		t.Fatal(err)
	}

	ring := NewKeyring(newKey, oldKey)
	moved, err := ring.Rewrap(sealed)
	if err != nil {
		t.Fatal(err)
	}
	if moved.KeyID != newKey.ID() {
		t.Errorf("KeyID = %s, want %s", moved.KeyID, newKey.ID())
	}
	if got, err := NewKeyring(newKey).Open(moved, nil); err != nil || string(got) != "plaintext" {
		t.Errorf("Open with the new key alone = %q, %v", got, err)
	}
	if _, err := NewKeyring(newKey).Open(sealed, nil); err == nil {
		t.Error("the new key alone opened a record sealed under the old key")
	}
}

func TestParseMasterKeyRejectsBadInput(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "not base64!", "c2hvcnQ="} {
		if _, err := ParseMasterKey(in); err == nil {
			t.Errorf("ParseMasterKey(%q) succeeded", in)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	t.Parallel()
	hash, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !CheckPassword(hash, "correct horse battery") {
		t.Error("CheckPassword rejected the right password")
	}
	if CheckPassword(hash, "wrong horse battery") {
		t.Error("CheckPassword accepted a wrong password")
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("HashPassword accepted a short password")
	}
}
