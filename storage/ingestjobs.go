package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/pollux-gateway/pollux/config"
)

// IngestJob is one resource:add job as stored: its items carry the
// submitted seed until their verdict is known.
type IngestJob struct {
	ID       string
	Provider string
	Total    int
	Started  time.Time
	Finished time.Time // zero while running
	Items    []IngestItem
}

// IngestItem is one submitted token of a job.
type IngestItem struct {
	Index        int
	RefreshToken config.Secret // zero once the verdict is known
	AccessToken  config.Secret
	Account      string
	// Verdict is the verdict's JSON, empty while pending.
	Verdict string
}

// SaveIngestJob inserts a job and its items.
func (tx *Tx) SaveIngestJob(ctx context.Context, j IngestJob) error {
	if _, err := tx.tx.ExecContext(ctx, `INSERT INTO ingest_jobs (id, provider, total, started_ms, finished_ms)
		VALUES (?, ?, ?, ?, ?)`, j.ID, j.Provider, j.Total, toMS(j.Started), toMS(j.Finished)); err != nil {
		return fmt.Errorf("storage: save ingest job: %w", err)
	}
	for _, it := range j.Items {
		if _, err := tx.tx.ExecContext(ctx, `INSERT INTO ingest_items (job_id, idx, refresh_token, access_token, account, verdict)
			VALUES (?, ?, ?, ?, ?, ?)`, j.ID, it.Index, tx.db.sealer.seal("ingest_items.refresh_token", it.RefreshToken.Reveal()),
			tx.db.sealer.seal("ingest_items.access_token", it.AccessToken.Reveal()), it.Account, it.Verdict); err != nil {
			return fmt.Errorf("storage: save ingest item: %w", err)
		}
	}
	return nil
}

// SaveIngestVerdict records an item's verdict and forgets its tokens.
func (tx *Tx) SaveIngestVerdict(ctx context.Context, jobID string, index int, verdict string) error {
	if _, err := tx.tx.ExecContext(ctx, `UPDATE ingest_items SET verdict = ?, refresh_token = '', access_token = ''
		WHERE job_id = ? AND idx = ?`, verdict, jobID, index); err != nil {
		return fmt.Errorf("storage: save ingest verdict: %w", err)
	}
	return nil
}

// FinishIngestJob marks a job finished.
func (tx *Tx) FinishIngestJob(ctx context.Context, jobID string, at time.Time) error {
	if _, err := tx.tx.ExecContext(ctx, `UPDATE ingest_jobs SET finished_ms = ? WHERE id = ?`, toMS(at), jobID); err != nil {
		return fmt.Errorf("storage: finish ingest job: %w", err)
	}
	return nil
}

// DeleteIngestJob forgets a job and its items.
func (tx *Tx) DeleteIngestJob(ctx context.Context, jobID string) error {
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM ingest_items WHERE job_id = ?`, jobID); err != nil {
		return fmt.Errorf("storage: delete ingest job: %w", err)
	}
	if _, err := tx.tx.ExecContext(ctx, `DELETE FROM ingest_jobs WHERE id = ?`, jobID); err != nil {
		return fmt.Errorf("storage: delete ingest job: %w", err)
	}
	return nil
}

// IngestJobs reads a provider's jobs, oldest first, with their items.
func (db *DB) IngestJobs(ctx context.Context, provider string) ([]IngestJob, error) {
	rows, err := db.reader.QueryContext(ctx, `SELECT id, total, started_ms, finished_ms FROM ingest_jobs
		WHERE provider = ? ORDER BY started_ms, id`, provider)
	if err != nil {
		return nil, fmt.Errorf("storage: ingest jobs: %w", err)
	}
	var jobs []IngestJob
	for rows.Next() {
		j := IngestJob{Provider: provider}
		var started, finished int64
		if err := rows.Scan(&j.ID, &j.Total, &started, &finished); err != nil {
			rows.Close()
			return nil, fmt.Errorf("storage: ingest jobs: %w", err)
		}
		j.Started, j.Finished = fromMS(started), fromMS(finished)
		jobs = append(jobs, j)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("storage: ingest jobs: %w", err)
	}
	for i := range jobs {
		items, err := db.reader.QueryContext(ctx, `SELECT idx, refresh_token, access_token, account, verdict
			FROM ingest_items WHERE job_id = ? ORDER BY idx`, jobs[i].ID)
		if err != nil {
			return nil, fmt.Errorf("storage: ingest items: %w", err)
		}
		for items.Next() {
			var it IngestItem
			var rt, at string
			if err := items.Scan(&it.Index, &rt, &at, &it.Account, &it.Verdict); err != nil {
				items.Close()
				return nil, fmt.Errorf("storage: ingest items: %w", err)
			}
			if rt, err = db.sealer.open("ingest_items.refresh_token", rt); err == nil {
				at, err = db.sealer.open("ingest_items.access_token", at)
			}
			if err != nil {
				items.Close()
				return nil, fmt.Errorf("storage: ingest items: %w", err)
			}
			it.RefreshToken, it.AccessToken = config.Secret(rt), config.Secret(at)
			jobs[i].Items = append(jobs[i].Items, it)
		}
		items.Close()
		if err := items.Err(); err != nil {
			return nil, fmt.Errorf("storage: ingest items: %w", err)
		}
	}
	return jobs, nil
}
