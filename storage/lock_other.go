//go:build !unix

package storage

import (
	"errors"
	"os"
)

// tryLock is not implemented off Unix: Pollux builds for Linux and macOS
// (mattn/go-sqlite3 with cgo). Refusing to start is the safe answer.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("database locking is only implemented on Unix")
}

func unlock(*os.File) error { return nil }
