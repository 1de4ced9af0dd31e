package config

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

//go:embed example.toml
var exampleTOML []byte

// examplePlaceholder is the pollux_key of the example file. Validate rejects
// it, so a copied example never runs with a published key.
const examplePlaceholder = "change-me"

// placeholderLine is the one line of example.toml that EnsureFile replaces.
const placeholderLine = `pollux_key = "` + examplePlaceholder + `"`

// generatedKeyPrefix marks keys that Pollux generated itself.
const generatedKeyPrefix = "pollux-"

// ExampleTOML returns a copy of the commented reference config file.
func ExampleTOML() []byte {
	return bytes.Clone(exampleTOML)
}

// EnsureFile writes a first-run config file at path if none exists: the
// example template with pollux_key set to a fresh key made from 32 bytes of
// random (use crypto/rand.Reader). The file is created exclusively with mode
// 0600, so two processes starting at once never overwrite each other or an
// operator's file. It returns created=true and the key, which the caller
// shows the operator once; when the file already exists it returns
// created=false and changes nothing.
func EnsureFile(path string, random io.Reader) (created bool, key Secret, err error) {
	key, content, err := firstRunFile(random)
	if err != nil {
		return false, "", err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return false, "", nil
	}
	if err != nil {
		return false, "", fmt.Errorf("create config: %w", err)
	}
	_, werr := f.Write(content)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		// A half-written file would block the next first run; remove it.
		return false, "", errors.Join(fmt.Errorf("write config %s: %w", path, werr), os.Remove(path))
	}
	return true, key, nil
}

// firstRunFile renders the example with a new key and checks that the result
// loads and validates, so a broken template fails here rather than at the
// next start.
func firstRunFile(random io.Reader) (Secret, []byte, error) {
	if n := bytes.Count(exampleTOML, []byte(placeholderLine)); n != 1 {
		return "", nil, fmt.Errorf("example config holds the pollux_key placeholder line %d times, want 1", n)
	}
	raw := make([]byte, 32)
	if _, err := io.ReadFull(random, raw); err != nil {
		return "", nil, fmt.Errorf("generate pollux_key: %w", err)
	}
	key := Secret(generatedKeyPrefix + base64.RawURLEncoding.EncodeToString(raw))
	line := `pollux_key = "` + key.Reveal() + `"`
	content := bytes.Replace(exampleTOML, []byte(placeholderLine), []byte(line), 1)

	c, _, _, err := parse(content, "generated config")
	if err == nil {
		err = c.Validate()
	}
	if err != nil {
		return "", nil, fmt.Errorf("generated config is invalid: %w", err)
	}
	return key, content, nil
}
