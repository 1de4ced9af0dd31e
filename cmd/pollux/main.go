package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	cmap "github.com/orcaman/concurrent-map"
)

func main() {
	// protoactor's process registry (one per actor system) is 1024
	// concurrent maps of cmap.SHARD_COUNT Go maps each: 32,768 maps at the
	// default of 32. Every PID, each actor's and each request's future,
	// lands in one at random, and a map that ever held an entry keeps its
	// first group (~300 bytes): with 10,000 credentials under load the
	// registry held ~10 MiB. One shard per map leaves 1,024 maps, still
	// 1,024 locks, and ~1 MiB. It must be set before any map is made, so
	// here, before anything starts; it may only ever shrink.
	cmap.SHARD_COUNT = 1
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	var usage *usageError
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "pollux:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "pollux:", err)
		os.Exit(1)
	}
}
