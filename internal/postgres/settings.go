package postgres

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
)

// SecretKey returns the signing key kept in the database, generating it on
// first use. Every process that shares the database shares the key, so a
// link signed by one is accepted by all; SECRET_KEY overrides it.
func (db *DB) SecretKey(ctx context.Context) (string, error) {
	buf := make([]byte, 32)
	if _, err := rand.Read(buf); err != nil {
		return "", fmt.Errorf("secret entropy: %w", err)
	}
	_, err := db.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('secret_key', $1) ON CONFLICT DO NOTHING`,
		base64.RawStdEncoding.EncodeToString(buf))
	if err != nil {
		return "", fmt.Errorf("store secret key: %w", err)
	}
	var key string
	if err := db.GetContext(ctx, &key, `SELECT value FROM settings WHERE key = 'secret_key'`); err != nil {
		return "", fmt.Errorf("read secret key: %w", err)
	}
	return key, nil
}
