package storage

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pollux-gateway/pollux/config"
)

// Status is a credential's persisted state. The actors' transient
// "refreshing" state is never stored: a restart reloads the last durable one.
type Status string

// The statuses a credential row may hold; the schema's CHECK lists the same.
const (
	StatusActive      Status = "active"
	StatusCooling     Status = "cooling"
	StatusNeedsReauth Status = "needs_reauth"
	StatusIneligible  Status = "ineligible"
	StatusBanned      Status = "banned"
	StatusDisabled    Status = "disabled"
)

// Valid reports whether s is one of the statuses the schema accepts.
func (s Status) Valid() bool {
	switch s {
	case StatusActive, StatusCooling, StatusNeedsReauth, StatusIneligible, StatusBanned, StatusDisabled:
		return true
	}
	return false
}

// AllModels is the Cooldown.Model that cools the whole credential.
const AllModels = "*"

// Cooldown keeps a credential off one model (or AllModels) until a time.
type Cooldown struct {
	Model   string    `json:"model"`
	Until   time.Time `json:"until"`   // stored at millisecond precision
	Backoff int       `json:"backoff"` // the backoff step reached, so the next one grows
	Reason  string    `json:"reason"`  // a short code, safe to log
}

// Credential is one stored OAuth identity with its cooldowns.
type Credential struct {
	ID       int64
	Provider string
	Sub      string
	Email    string
	// Account is the Code Assist project id for geminicli and the ChatGPT
	// account id for codex; it is part of the identity.
	Account string
	Tier    string

	AccessToken  config.Secret
	RefreshToken config.Secret
	Expiry       time.Time
	// Extra is the provider's own JSON object; empty is stored as {}.
	Extra json.RawMessage

	Status       Status
	StatusReason string
	StatusSince  time.Time

	CreatedAt time.Time
	UpdatedAt time.Time

	Cooldowns []Cooldown // sorted by Model; nil when there are none
}

// Credential reads one credential and its cooldowns. A missing id gives an
// error wrapping ErrNotFound.
func (db *DB) Credential(ctx context.Context, id int64) (Credential, error) {
	var c Credential
	err := inTx(ctx, db.reader, func(tx *sql.Tx) error {
		var err error
		c, err = db.scanCredential(tx.StmtContext(ctx, db.stmts.credentialByID).QueryRowContext(ctx, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		rows, err := tx.StmtContext(ctx, db.stmts.cooldownsByID).QueryContext(ctx, id)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			_, cd, err := scanCooldown(rows)
			if err != nil {
				return err
			}
			c.Cooldowns = append(c.Cooldowns, cd)
		}
		return rows.Err()
	})
	if err != nil {
		return Credential{}, fmt.Errorf("storage: credential %d: %w", id, err)
	}
	return c, nil
}

// Credentials reads every credential of provider ("" for all), ordered by
// id, with their cooldowns. It runs two queries in one read snapshot however
// many rows there are.
func (db *DB) Credentials(ctx context.Context, provider string) ([]Credential, error) {
	credQuery := `SELECT ` + credentialColumns + ` FROM credentials ORDER BY id`
	cdQuery := `SELECT ` + cooldownColumns + ` FROM cooldowns ORDER BY credential_id, model`
	var args []any
	if provider != "" {
		credQuery = `SELECT ` + credentialColumns + ` FROM credentials WHERE provider = ? ORDER BY id`
		cdQuery = `SELECT cd.credential_id, cd.model, cd.until_ms, cd.backoff, cd.reason
			FROM cooldowns cd JOIN credentials c ON c.id = cd.credential_id
			WHERE c.provider = ? ORDER BY cd.credential_id, cd.model`
		args = []any{provider}
	}

	var creds []Credential
	err := inTx(ctx, db.reader, func(tx *sql.Tx) error {
		var err error
		creds, err = db.queryCredentials(ctx, tx, credQuery, args)
		if err != nil {
			return err
		}
		return attachCooldowns(ctx, tx, cdQuery, args, creds)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: credentials: %w", err)
	}
	return creds, nil
}

// CredentialPage reads up to limit credentials of provider whose ids are
// above after, ordered by id, with their cooldowns, in one read snapshot.
// Start-up loads a pool page by page: two queries per page instead of a
// point read per credential. NOT INDEXED keeps both on id ranges: with the
// provider index SQLite sorted all of a provider's rows for every page.
func (db *DB) CredentialPage(ctx context.Context, provider string, after int64, limit int) ([]Credential, error) {
	var creds []Credential
	err := inTx(ctx, db.reader, func(tx *sql.Tx) error {
		var err error
		creds, err = db.queryCredentials(ctx, tx,
			`SELECT `+credentialColumns+` FROM credentials NOT INDEXED WHERE provider = ? AND id > ? ORDER BY id LIMIT ?`,
			[]any{provider, after, limit})
		if err != nil || len(creds) == 0 {
			return err
		}
		return attachCooldowns(ctx, tx, `SELECT cd.credential_id, cd.model, cd.until_ms, cd.backoff, cd.reason
			FROM cooldowns cd JOIN credentials c NOT INDEXED ON c.id = cd.credential_id
			WHERE c.provider = ? AND cd.credential_id > ? AND cd.credential_id <= ?
			ORDER BY cd.credential_id, cd.model`,
			[]any{provider, after, creds[len(creds)-1].ID}, creds)
	})
	if err != nil {
		return nil, fmt.Errorf("storage: credentials of %s after %d: %w", provider, after, err)
	}
	return creds, nil
}

// CredentialIDs lists the ids of provider's credentials, ascending.
func (db *DB) CredentialIDs(ctx context.Context, provider string) ([]int64, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT id FROM credentials WHERE provider = ? ORDER BY id`, provider)
	if err != nil {
		return nil, fmt.Errorf("storage: credential ids: %w", err)
	}
	defer func() { _ = rows.Close() }()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("storage: credential ids: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: credential ids: %w", err)
	}
	return ids, nil
}

func (db *DB) queryCredentials(ctx context.Context, tx *sql.Tx, query string, args []any) ([]Credential, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var creds []Credential
	for rows.Next() {
		c, err := db.scanCredential(rows)
		if err != nil {
			return nil, err
		}
		creds = append(creds, c)
	}
	return creds, rows.Err()
}

// attachCooldowns walks the cooldown rows alongside creds; both are ordered
// by credential id, so it is one merge pass.
func attachCooldowns(ctx context.Context, tx *sql.Tx, query string, args []any, creds []Credential) error {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		id, cd, err := scanCooldown(rows)
		if err != nil {
			return err
		}
		for i < len(creds) && creds[i].ID < id {
			i++
		}
		if i < len(creds) && creds[i].ID == id {
			creds[i].Cooldowns = append(creds[i].Cooldowns, cd)
		}
	}
	return rows.Err()
}

// FindByRefreshToken looks a credential of provider up by its refresh token,
// comparing SHA-256 digests so the token itself is never a query key. An
// empty token finds nothing.
func (db *DB) FindByRefreshToken(ctx context.Context, provider string, refreshToken config.Secret) (int64, bool, error) {
	if refreshToken.IsZero() {
		return 0, false, nil
	}
	id, ok, err := queryID(db.stmts.findByRefresh.QueryRowContext(ctx, provider, tokenHash(refreshToken)))
	if err != nil {
		return 0, false, fmt.Errorf("storage: find by refresh token: %w", err)
	}
	return id, ok, nil
}

// FindByIdentity looks a credential up by its unique (provider, sub, account).
func (db *DB) FindByIdentity(ctx context.Context, provider, sub, account string) (int64, bool, error) {
	id, ok, err := queryID(db.stmts.findByIdentity.QueryRowContext(ctx, provider, sub, account))
	if err != nil {
		return 0, false, fmt.Errorf("storage: find by identity: %w", err)
	}
	return id, ok, nil
}

func queryID(row *sql.Row) (int64, bool, error) {
	var id int64
	err := row.Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

// InsertCredential stores a new credential and its Cooldowns and returns its
// id (c.ID is ignored). Zero CreatedAt, UpdatedAt and StatusSince become now,
// an empty Status becomes active. A credential with the same (provider, sub,
// account) gives an error wrapping ErrDuplicate.
func (tx *Tx) InsertCredential(ctx context.Context, c Credential) (int64, error) {
	now := tx.db.now()
	for _, t := range []*time.Time{&c.CreatedAt, &c.UpdatedAt, &c.StatusSince} {
		if t.IsZero() {
			*t = now
		}
	}
	if c.Status == "" {
		c.Status = StatusActive
	}
	extra, err := checkCredential(c)
	if err != nil {
		return 0, fmt.Errorf("storage: insert credential: %w", err)
	}
	res, err := tx.tx.StmtContext(ctx, tx.db.stmts.insertCredential).ExecContext(ctx,
		c.Provider, c.Sub, c.Email, c.Account, c.Tier,
		tx.db.sealer.seal(colAccess, c.AccessToken.Reveal()), tx.db.sealer.seal(colRefresh, c.RefreshToken.Reveal()), tokenHash(c.RefreshToken),
		toMS(c.Expiry), extra, string(c.Status), c.StatusReason,
		toMS(c.StatusSince), toMS(c.CreatedAt), toMS(c.UpdatedAt))
	if isUniqueViolation(err) {
		return 0, fmt.Errorf("storage: insert %s credential: %w", c.Provider, ErrDuplicate)
	}
	if err != nil {
		return 0, fmt.Errorf("storage: insert credential: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, fmt.Errorf("storage: insert credential: %w", err)
	}
	if err := tx.insertCooldowns(ctx, id, c.Cooldowns); err != nil {
		return 0, fmt.Errorf("storage: insert credential %d: %w", id, err)
	}
	return id, nil
}

// UpsertCredential inserts c as InsertCredential does, or, when its
// (provider, sub, account) already exists, updates that row's email, tier,
// tokens, expiry and extra and makes it active again (status reason cleared,
// status since now). An update keeps the stored cooldowns and ignores
// c.Cooldowns. inserted reports which of the two happened.
func (tx *Tx) UpsertCredential(ctx context.Context, c Credential) (id int64, inserted bool, err error) {
	id, found, err := queryID(tx.tx.StmtContext(ctx, tx.db.stmts.identityInTx).
		QueryRowContext(ctx, c.Provider, c.Sub, c.Account))
	if err != nil {
		return 0, false, fmt.Errorf("storage: upsert credential: %w", err)
	}
	if !found {
		id, err := tx.InsertCredential(ctx, c)
		return id, err == nil, err
	}
	extra, err := checkCredential(Credential{Provider: c.Provider, Status: StatusActive, Extra: c.Extra})
	if err != nil {
		return 0, false, fmt.Errorf("storage: upsert credential %d: %w", id, err)
	}
	now := toMS(tx.db.now())
	if _, err := tx.tx.StmtContext(ctx, tx.db.stmts.upsertUpdate).ExecContext(ctx,
		c.Email, c.Tier, tx.db.sealer.seal(colAccess, c.AccessToken.Reveal()), tx.db.sealer.seal(colRefresh, c.RefreshToken.Reveal()), tokenHash(c.RefreshToken),
		toMS(c.Expiry), extra, now, now, id); err != nil {
		return 0, false, fmt.Errorf("storage: upsert credential %d: %w", id, err)
	}
	return id, false, nil
}

// SaveTokens stores a credential's new tokens and expiry. A missing id gives
// an error wrapping ErrNotFound.
func (tx *Tx) SaveTokens(ctx context.Context, id int64, access, refresh config.Secret, expiry time.Time) error {
	res, err := tx.tx.StmtContext(ctx, tx.db.stmts.updateTokens).ExecContext(ctx,
		tx.db.sealer.seal(colAccess, access.Reveal()), tx.db.sealer.seal(colRefresh, refresh.Reveal()), tokenHash(refresh), toMS(expiry), toMS(tx.db.now()), id)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("storage: save tokens of credential %d: %w", id, err)
	}
	return tx.ClearRefreshMark(ctx, id)
}

// SaveState stores a credential's status, its reason and when it was
// entered (now if since is zero). A missing id gives an error wrapping
// ErrNotFound.
func (tx *Tx) SaveState(ctx context.Context, id int64, status Status, reason string, since time.Time) error {
	if !status.Valid() {
		return fmt.Errorf("storage: save state of credential %d: invalid status %q", id, status)
	}
	now := tx.db.now()
	if since.IsZero() {
		since = now
	}
	res, err := tx.tx.StmtContext(ctx, tx.db.stmts.updateState).ExecContext(ctx,
		string(status), reason, toMS(since), toMS(now), id)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("storage: save state of credential %d: %w", id, err)
	}
	return nil
}

// ReplaceCooldowns makes cds the complete set of a credential's cooldowns;
// an empty cds clears them. A missing id gives an error wrapping ErrNotFound.
func (tx *Tx) ReplaceCooldowns(ctx context.Context, id int64, cds []Cooldown) error {
	_, found, err := queryID(tx.tx.StmtContext(ctx, tx.db.stmts.existsInTx).QueryRowContext(ctx, id))
	if err == nil && !found {
		err = ErrNotFound
	}
	if err == nil {
		_, err = tx.tx.StmtContext(ctx, tx.db.stmts.deleteCooldowns).ExecContext(ctx, id)
	}
	if err == nil {
		err = tx.insertCooldowns(ctx, id, cds)
	}
	if err != nil {
		return fmt.Errorf("storage: replace cooldowns of credential %d: %w", id, err)
	}
	return nil
}

func (tx *Tx) insertCooldowns(ctx context.Context, id int64, cds []Cooldown) error {
	if len(cds) == 0 {
		return nil
	}
	st := tx.tx.StmtContext(ctx, tx.db.stmts.insertCooldown)
	for _, cd := range cds {
		if cd.Model == "" {
			return errors.New("cooldown with empty model")
		}
		if _, err := st.ExecContext(ctx, id, cd.Model, toMS(cd.Until), cd.Backoff, cd.Reason); err != nil {
			return fmt.Errorf("cooldown %q: %w", cd.Model, err)
		}
	}
	return nil
}

// DeleteCredential removes a credential; its cooldowns go with it and its
// usage rows stay, detached. A missing id gives an error wrapping
// ErrNotFound.
func (tx *Tx) DeleteCredential(ctx context.Context, id int64) error {
	res, err := tx.tx.StmtContext(ctx, tx.db.stmts.deleteCredential).ExecContext(ctx, id)
	if err := oneRow(res, err); err != nil {
		return fmt.Errorf("storage: delete credential %d: %w", id, err)
	}
	return nil
}

// oneRow turns the result of an UPDATE or DELETE by id into ErrNotFound when
// it touched nothing.
func oneRow(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// checkCredential validates what the schema cannot express and returns the
// extra column's value.
func checkCredential(c Credential) (string, error) {
	if c.Provider == "" {
		return "", errors.New("empty provider")
	}
	if !c.Status.Valid() {
		return "", fmt.Errorf("invalid status %q", c.Status)
	}
	if len(c.Extra) == 0 {
		return "{}", nil
	}
	if !json.Valid(c.Extra) {
		return "", errors.New("extra is not valid JSON")
	}
	return string(c.Extra), nil
}

// The token columns of credentials, as the sealer's additional data.
const (
	colAccess  = "credentials.access_token"
	colRefresh = "credentials.refresh_token"
)

// tokenHash is the refresh_token_sha256 column's value.
func tokenHash(s config.Secret) []byte {
	h := sha256.Sum256([]byte(s.Reveal()))
	return h[:]
}

// rowScanner is what *sql.Row and *sql.Rows have in common.
type rowScanner interface {
	Scan(dest ...any) error
}

func (db *DB) scanCredential(r rowScanner) (Credential, error) {
	var (
		c                                   Credential
		extra                               []byte
		expiry, since, createdMS, updatedMS int64
		access, refresh                     string
	)
	if err := r.Scan(&c.ID, &c.Provider, &c.Sub, &c.Email, &c.Account, &c.Tier,
		&access, &refresh, &expiry, &extra, &c.Status, &c.StatusReason,
		&since, &createdMS, &updatedMS); err != nil {
		return Credential{}, err
	}
	if access, err := db.sealer.open(colAccess, access); err == nil {
		c.AccessToken = config.Secret(access)
	} else {
		return Credential{}, err
	}
	if refresh, err := db.sealer.open(colRefresh, refresh); err == nil {
		c.RefreshToken = config.Secret(refresh)
	} else {
		return Credential{}, err
	}
	c.Expiry = fromMS(expiry)
	c.Extra = json.RawMessage(extra)
	c.StatusSince = fromMS(since)
	c.CreatedAt = fromMS(createdMS)
	c.UpdatedAt = fromMS(updatedMS)
	return c, nil
}

func scanCooldown(r rowScanner) (int64, Cooldown, error) {
	var (
		id    int64
		cd    Cooldown
		until int64
	)
	if err := r.Scan(&id, &cd.Model, &until, &cd.Backoff, &cd.Reason); err != nil {
		return 0, Cooldown{}, err
	}
	cd.Until = fromMS(until)
	return id, cd, nil
}
