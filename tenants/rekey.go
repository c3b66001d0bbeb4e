package tenants

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/gatehouse-dev/gatehouse/database"
	"github.com/gatehouse-dev/gatehouse/secrets"
)

// rewrapBatch is how many deliveries one transaction of RewrapDeliveries
// moves, so a large table never sits under one long lock.
const rewrapBatch = 100

// RewrapDeliveries moves every sealed delivery to the keyring's current
// master key and returns how many it moved. Only the wrapped data key
// changes; the ciphertext stays as it is. Each batch commits on its own
// and skips rows that a concurrent reveal holds, so gatehouse keeps
// serving while it runs. Run it again if KeyUsage still lists an old key.
// Old keys must stay in the keyring until KeyUsage shows none in use.
// The store must be on a pool, not a transaction.
func (s *Store) RewrapDeliveries(ctx context.Context, ring *secrets.Keyring) (int, error) {
	db, ok := s.db.(*sqlx.DB)
	if !ok {
		return 0, fmt.Errorf("rewrap deliveries: needs a store on a connection pool")
	}
	total := 0
	for {
		var moved int
		err := database.WithTx(ctx, db, func(tx *sqlx.Tx) error {
			var err error
			moved, err = rewrapOneBatch(ctx, tx, ring)
			if err != nil || moved == 0 {
				return err
			}
			return s.WithTx(tx).Audit(ctx, AuditEvent{
				Actor: "operator", Action: "keys.rewrap",
				Detail: map[string]any{"deliveries": moved, "key_id": ring.CurrentID()},
			})
		})
		if err != nil {
			return total, err
		}
		if moved == 0 {
			return total, nil
		}
		total += moved
	}
}

func rewrapOneBatch(ctx context.Context, tx *sqlx.Tx, ring *secrets.Keyring) (int, error) {
	var rows []struct {
		ID      string `db:"id"`
		KeyID   string `db:"key_id"`
		DataKey []byte `db:"data_key"`
	}
	err := sqlx.SelectContext(ctx, tx, &rows, `
		SELECT id, key_id, data_key FROM token_deliveries
		WHERE ciphertext IS NOT NULL AND key_id <> $1
		ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED`, ring.CurrentID(), rewrapBatch)
	if err != nil {
		return 0, fmt.Errorf("find deliveries to rewrap: %w", database.Translate(err))
	}
	for _, row := range rows {
		moved, err := ring.Rewrap(secrets.Sealed{KeyID: row.KeyID, DataKey: row.DataKey})
		if err != nil {
			return 0, fmt.Errorf("rewrap delivery %s: %w", row.ID, err)
		}
		_, err = tx.ExecContext(ctx, `UPDATE token_deliveries SET key_id = $2, data_key = $3 WHERE id = $1`,
			row.ID, moved.KeyID, moved.DataKey)
		if err != nil {
			return 0, fmt.Errorf("store rewrapped delivery: %w", database.Translate(err))
		}
	}
	return len(rows), nil
}

// KeyUsage counts the sealed records (token deliveries and the SAML SP
// key) under each master key ID. A key that no longer appears can be
// removed from the configuration.
func (s *Store) KeyUsage(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		KeyID string `db:"key_id"`
		N     int    `db:"n"`
	}
	err := sqlx.SelectContext(ctx, s.db, &rows, `
		SELECT key_id, count(*) AS n FROM (
			SELECT key_id FROM token_deliveries WHERE ciphertext IS NOT NULL
			UNION ALL
			SELECT key_id FROM saml_sp_keys
		) sealed GROUP BY key_id`)
	if err != nil {
		return nil, fmt.Errorf("count deliveries by key: %w", database.Translate(err))
	}
	out := make(map[string]int, len(rows))
	for _, row := range rows {
		out[row.KeyID] = row.N
	}
	return out, nil
}

// RewrapSPKey moves the SAML service provider's sealed private key to the
// keyring's current master key. It reports whether it moved the key: false
// when there is no SP key yet or it is already under the current key.
func (s *Store) RewrapSPKey(ctx context.Context, ring *secrets.Keyring) (bool, error) {
	var row struct {
		KeyID   string `db:"key_id"`
		DataKey []byte `db:"data_key"`
	}
	err := sqlx.GetContext(ctx, s.db, &row, `SELECT key_id, data_key FROM saml_sp_keys WHERE id = 1`)
	if database.IsNotFound(database.Translate(err)) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("get SP key: %w", database.Translate(err))
	}
	if row.KeyID == ring.CurrentID() {
		return false, nil
	}

	moved, err := ring.Rewrap(secrets.Sealed{KeyID: row.KeyID, DataKey: row.DataKey})
	if err != nil {
		return false, fmt.Errorf("rewrap SP key: %w", err)
	}
	// The key_id condition makes a concurrent rewrap of the same key a no-op.
	_, err = s.db.ExecContext(ctx, `UPDATE saml_sp_keys SET key_id = $2, data_key = $3 WHERE id = 1 AND key_id = $1`,
		row.KeyID, moved.KeyID, moved.DataKey)
	if err != nil {
		return false, fmt.Errorf("store rewrapped SP key: %w", database.Translate(err))
	}
	return true, nil
}
