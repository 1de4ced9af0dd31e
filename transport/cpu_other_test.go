//go:build !unix

package transport

import (
	"testing"
	"time"
)

// processCPU is not measured here: the cpu-ns/op metric reads 0.
func processCPU(*testing.B) time.Duration { return 0 }
