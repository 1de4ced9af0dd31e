package storage

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// LockSuffix names the lock file next to a database: "data.db" is guarded
// by "data.db.lock".
const LockSuffix = ".lock"

// ErrLocked is wrapped by the error AcquireLock returns when another process
// holds the database.
var ErrLocked = errors.New("storage: database in use")

// LockedError says which database is held and, when the holder wrote it, by
// which process. It wraps ErrLocked.
type LockedError struct {
	// Path is the absolute path of the database file.
	Path string
	// PID is the holder's process id, or 0 when it is not known.
	PID int
}

func (e *LockedError) Error() string {
	holder := "another process (its PID is not known)"
	if e.PID > 0 {
		holder = "another Pollux process, PID " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("database %s is in use by %s. Only one Pollux may use a database at a time: "+
		"stop the other process, or give this one its own basic.database_url", e.Path, holder)
}

func (e *LockedError) Unwrap() error { return ErrLocked }

// Lock is an exclusive hold on one database file, kept for the life of the
// process. It is an OS advisory lock on a sidecar file (flock on Unix), so
// the kernel releases it when the holder exits for any reason, kill -9
// included: a restart never needs manual clean-up.
//
// The lock file holds the holder's PID, for the message a second process
// prints. The database file itself is not locked this way because SQLite
// uses POSIX record locks on it, which flock emulation over NFS would
// confuse.
type Lock struct {
	f    *os.File
	path string
}

// AcquireLock takes the lock of the database at dbPath without waiting. When
// another process holds it, the error is a *LockedError (wrapping
// ErrLocked) naming the file and the holder's PID.
func AcquireLock(dbPath string) (*Lock, error) {
	abs, err := filepath.Abs(dbPath)
	if err != nil {
		return nil, fmt.Errorf("storage: lock: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("storage: lock: create directory: %w", err)
	}
	lockPath := abs + LockSuffix
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("storage: lock: open %s: %w", lockPath, err)
	}
	held, err := tryLock(f)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("storage: lock %s: %w", lockPath, err), f.Close())
	}
	if held {
		pid := readPID(f)
		if cerr := f.Close(); cerr != nil {
			return nil, fmt.Errorf("storage: lock: close %s: %w", lockPath, cerr)
		}
		return nil, &LockedError{Path: abs, PID: pid}
	}
	// The lock is ours; record who holds it. A failure here leaves the lock
	// working, only the other process's message loses the PID.
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f, path: lockPath}, nil
}

// Release gives the lock up. The lock file stays: removing it would let a
// third process lock a new file while a second still waits on the old one.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	_ = l.f.Truncate(0)
	err := unlock(l.f)
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	l.f = nil
	if err != nil {
		return fmt.Errorf("storage: release lock %s: %w", l.path, err)
	}
	return nil
}

// readPID reads the holder's PID from the lock file; 0 when it has not
// written one (yet).
func readPID(f *os.File) int {
	buf := make([]byte, 32)
	n, _ := f.ReadAt(buf, 0)
	pid, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
