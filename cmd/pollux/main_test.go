package main

import (
	"os"
	"testing"
)

// childEnv makes the test binary run Pollux's main instead of the tests, so
// tests can start real Pollux processes (and kill -9 them) without a
// separate build.
const childEnv = "POLLUX_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		os.Args = append([]string{"pollux"}, childArgs()...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// childArgs are the arguments after "--" on the child's command line.
func childArgs() []string {
	for i, a := range os.Args {
		if a == "--" {
			return os.Args[i+1:]
		}
	}
	return nil
}
